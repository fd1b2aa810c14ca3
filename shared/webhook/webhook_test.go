package webhook

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// vectors is the shape of testdata/vectors.json (see ATTRIBUTION.md).
type vectors struct {
	SigningScheme struct {
		TimestampToleranceSeconds int `json:"timestamp_tolerance_seconds"`
	} `json:"signing_scheme"`
	Sign []struct {
		Name              string `json:"name"`
		Secret            string `json:"secret"`
		MsgID             string `json:"msg_id"`
		Timestamp         int64  `json:"timestamp"`
		Payload           string `json:"payload"`
		ExpectedSignature string `json:"expected_signature"`
	} `json:"sign"`
	Verify []struct {
		Name        string            `json:"name"`
		Secret      string            `json:"secret"`
		Headers     map[string]string `json:"headers"`
		Payload     string            `json:"payload"`
		ExpectValid bool              `json:"expect_valid"`
	} `json:"verify"`
	MissingHeadersFail []string `json:"missing_headers_fail"`
	TimestampRules     struct {
		ToleranceSeconds int `json:"tolerance_seconds"`
	} `json:"timestamp_rules"`
	InvalidSecrets []string `json:"invalid_secrets"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Sign) == 0 || len(v.Verify) == 0 {
		t.Fatal("vectors file has no cases")
	}
	return v
}

// vectorKey decodes a vector's secret, which comes with or without the
// whsec_ prefix.
func vectorKey(t testing.TB, s string) []byte {
	t.Helper()
	if strings.HasPrefix(s, SecretPrefix) {
		k, err := ParseSecret(s)
		if err != nil {
			t.Fatalf("ParseSecret: %v", err)
		}
		return k
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func clockAt(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

func TestVectorsSign(t *testing.T) {
	for _, c := range loadVectors(t).Sign {
		t.Run(c.Name, func(t *testing.T) {
			got := Sign(vectorKey(t, c.Secret), c.MsgID, time.Unix(c.Timestamp, 0), []byte(c.Payload))
			if got != c.ExpectedSignature {
				t.Errorf("Sign = %q, want %q", got, c.ExpectedSignature)
			}
			h := SignHeaders(vectorKey(t, c.Secret), c.MsgID, time.Unix(c.Timestamp, 0), []byte(c.Payload))
			if h.Get(HeaderID) != c.MsgID || h.Get(HeaderTimestamp) != strconv.FormatInt(c.Timestamp, 10) || h.Get(HeaderSignature) != c.ExpectedSignature {
				t.Errorf("SignHeaders = %v", h)
			}
		})
	}
}

func TestVectorsVerify(t *testing.T) {
	for _, c := range loadVectors(t).Verify {
		t.Run(c.Name, func(t *testing.T) {
			h := http.Header{}
			var ts int64
			for k, v := range c.Headers {
				h.Set(k, v)
				if k == HeaderTimestamp {
					ts, _ = strconv.ParseInt(v, 10, 64)
				}
			}
			v := Verifier{Now: clockAt(ts)}
			err := v.Verify([]byte(c.Payload), h, vectorKey(t, c.Secret))
			if c.ExpectValid && err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
			if !c.ExpectValid && !errors.Is(err, ErrNoValidSignature) {
				t.Errorf("Verify = %v, want ErrNoValidSignature", err)
			}
		})
	}
}

func TestVectorsMissingHeaders(t *testing.T) {
	vs := loadVectors(t)
	base := vs.Verify[0]
	for _, missing := range vs.MissingHeadersFail {
		t.Run(missing, func(t *testing.T) {
			h := http.Header{}
			for k, v := range base.Headers {
				if k != missing {
					h.Set(k, v)
				}
			}
			err := Verifier{Now: clockAt(1614265330)}.Verify([]byte(base.Payload), h, vectorKey(t, base.Secret))
			if !errors.Is(err, ErrMissingHeaders) {
				t.Errorf("Verify = %v, want ErrMissingHeaders", err)
			}
		})
	}
}

func TestVectorsTimestampRules(t *testing.T) {
	vs := loadVectors(t)
	tol := time.Duration(vs.TimestampRules.ToleranceSeconds) * time.Second
	if tol != DefaultTolerance {
		t.Errorf("vectors' tolerance %v differs from DefaultTolerance %v", tol, DefaultTolerance)
	}
	key := vectorKey(t, vs.Sign[0].Secret)
	payload := []byte(vs.Sign[0].Payload)
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		ts      time.Time
		resign  bool // false: the timestamp header is changed after signing
		wantErr error
	}{
		{"now - tolerance fails", now.Add(-tol), true, ErrTooOld},
		{"now + tolerance + 1s fails", now.Add(tol + time.Second), true, ErrTooNew},
		{"now + tolerance fails", now.Add(tol), true, ErrTooNew},
		{"now - tolerance + 1s passes", now.Add(-tol + time.Second), true, nil},
		{"now + tolerance - 1s passes", now.Add(tol - time.Second), true, nil},
		{"now passes", now, true, nil},
		{"2000-01-01, not re-signed, fails", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), false, ErrTooOld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := SignHeaders(key, "msg_1", now, payload)
			if tt.resign {
				h = SignHeaders(key, "msg_1", tt.ts, payload)
			} else {
				h.Set(HeaderTimestamp, strconv.FormatInt(tt.ts.Unix(), 10))
			}
			err := Verifier{Now: func() time.Time { return now }}.Verify(payload, h, key)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("a timestamp changed after signing fails the signature", func(t *testing.T) {
		h := SignHeaders(key, "msg_1", now, payload)
		h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
		err := Verifier{Now: func() time.Time { return now }}.Verify(payload, h, key)
		if !errors.Is(err, ErrNoValidSignature) {
			t.Errorf("Verify = %v, want ErrNoValidSignature", err)
		}
	})
}

func TestVectorsInvalidSecrets(t *testing.T) {
	for _, s := range loadVectors(t).InvalidSecrets {
		t.Run(strconv.Quote(s), func(t *testing.T) {
			if _, err := ParseSecret(s); err == nil {
				t.Errorf("ParseSecret(%q) succeeded", s)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	old := []byte("fedcba9876543210fedcba9876543210")
	payload := []byte(`{"external_id":"x"}`)
	now := time.Unix(1_700_000_000, 0)
	good := Sign(key, "msg_1", now, payload)
	sigOld := Sign(old, "msg_1", now, payload)
	headers := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name    string
		h       http.Header
		payload []byte
		secrets [][]byte
		want    error
	}{
		{"valid", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, good), payload, [][]byte{key}, nil},
		{"svix aliases", headers("svix-id", "msg_1", "svix-timestamp", ts, "svix-signature", good), payload, [][]byte{key}, nil},
		{"header names in any case", headers("WEBHOOK-ID", "msg_1", "Webhook-Timestamp", ts, "webhook-SIGNATURE", good), payload, [][]byte{key}, nil},
		{"rotation: old secret signed, both given", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, sigOld), payload, [][]byte{key, old}, nil},
		{"rotation: two signatures, new secret only", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, sigOld+" "+good), payload, [][]byte{key}, nil},
		{"unknown version first is ignored", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, "v1a,"+strings.TrimPrefix(good, "v1,")+" "+good), payload, [][]byte{key}, nil},
		{"only an unknown version", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, "v1a,"+strings.TrimPrefix(good, "v1,")), payload, [][]byte{key}, ErrNoValidSignature},
		{"v2 is not v1", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, "v2,"+strings.TrimPrefix(good, "v1,")), payload, [][]byte{key}, ErrNoValidSignature},
		{"no version", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, strings.TrimPrefix(good, "v1,")), payload, [][]byte{key}, ErrNoValidSignature},
		{"wrong secret", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, good), payload, [][]byte{old}, ErrNoValidSignature},
		{"body changed", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, good), []byte(`{"external_id":"y"}`), [][]byte{key}, ErrNoValidSignature},
		{"id changed", headers(HeaderID, "msg_2", HeaderTimestamp, ts, HeaderSignature, good), payload, [][]byte{key}, ErrNoValidSignature},
		{"unpadded 44-character base64", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, "v1,"+strings.Repeat("A", 44)), payload, [][]byte{key}, ErrNoValidSignature},
		{"non-canonical base64 of the right MAC", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, flipLastBits(good)), payload, [][]byte{key}, ErrNoValidSignature},
		{"signature too long", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, good+"AAAA"), payload, [][]byte{key}, ErrNoValidSignature},
		{"no secrets", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, good), payload, nil, ErrNoSecret},
		{"only empty secrets", headers(HeaderID, "msg_1", HeaderTimestamp, ts, HeaderSignature, good), payload, [][]byte{{}, nil}, ErrNoSecret},
		{"empty id", headers(HeaderID, "", HeaderTimestamp, ts, HeaderSignature, good), payload, [][]byte{key}, ErrMissingHeaders},
		{"no headers", http.Header{}, payload, [][]byte{key}, ErrMissingHeaders},
		{"mixed sets are not combined", headers(HeaderID, "msg_1", "svix-timestamp", ts, "svix-signature", good), payload, [][]byte{key}, ErrMissingHeaders},
		{"timestamp with sign", headers(HeaderID, "msg_1", HeaderTimestamp, "+"+ts, HeaderSignature, good), payload, [][]byte{key}, ErrBadTimestamp},
		{"negative timestamp", headers(HeaderID, "msg_1", HeaderTimestamp, "-5", HeaderSignature, good), payload, [][]byte{key}, ErrBadTimestamp},
		{"timestamp in milliseconds is too new", headers(HeaderID, "msg_1", HeaderTimestamp, ts+"000", HeaderSignature, good), payload, [][]byte{key}, ErrTooNew},
		{"timestamp as RFC 3339", headers(HeaderID, "msg_1", HeaderTimestamp, now.Format(time.RFC3339), HeaderSignature, good), payload, [][]byte{key}, ErrBadTimestamp},
		{"timestamp with decimals", headers(HeaderID, "msg_1", HeaderTimestamp, ts+".5", HeaderSignature, good), payload, [][]byte{key}, ErrBadTimestamp},
		{"huge timestamp", headers(HeaderID, "msg_1", HeaderTimestamp, strings.Repeat("9", 40), HeaderSignature, good), payload, [][]byte{key}, ErrBadTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verifier{Now: func() time.Time { return now }}.Verify(tt.payload, tt.h, tt.secrets...)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// flipLastBits changes the unused low bits of the last base64 character
// before the padding, which a lax decoder ignores.
func flipLastBits(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := len(sig) - 2 // the character before "="
	c := strings.IndexByte(alphabet, sig[i])
	return sig[:i] + string(alphabet[c^1]) + sig[i+1:]
}

func TestVerifierTolerance(t *testing.T) {
	key := []byte("0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	h := SignHeaders(key, "msg_1", now.Add(-90*time.Second), nil)
	tests := []struct {
		tol  time.Duration
		want error
	}{
		{0, nil},                 // default 5 minutes
		{-time.Second, nil},      // default too
		{time.Minute, ErrTooOld}, // 90 s is beyond a minute
		{2 * time.Minute, nil},   // within two
		{90 * time.Second, ErrTooOld},
	}
	for _, tt := range tests {
		t.Run(tt.tol.String(), func(t *testing.T) {
			err := Verifier{Tolerance: tt.tol, Now: func() time.Time { return now }}.Verify(nil, h, key)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestZeroVerifierUsesSystemClock(t *testing.T) {
	key := []byte("0123456789abcdef")
	h := SignHeaders(key, "msg_1", time.Now(), []byte("x"))
	if err := (Verifier{}).Verify([]byte("x"), h, key); err != nil {
		t.Errorf("Verify = %v", err)
	}
	h = SignHeaders(key, "msg_1", time.Now().Add(-time.Hour), []byte("x"))
	if err := (Verifier{}).Verify([]byte("x"), h, key); !errors.Is(err, ErrTooOld) {
		t.Errorf("Verify of an hour-old webhook = %v, want ErrTooOld", err)
	}
}

func TestErrorsCarryNoValues(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))
	_, err := ParseSecret(secret)
	if err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("ParseSecret(short) = %v", err)
	}
	_, err = ParseSecret("whsec_!!not-base64!!")
	if err == nil || strings.Contains(err.Error(), "not-base64!!") {
		t.Errorf("ParseSecret(bad) = %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantLen int // 0: an error
	}{
		{"vector secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 24},
		{"32 bytes", "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), 32},
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0},
		{"other prefix", "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0},
		{"empty", "", 0},
		{"prefix only", "whsec_", 0},
		{"not base64", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", 0},
		{"url alphabet", "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 24)), 0},
		{"too short", "whsec_" + base64.StdEncoding.EncodeToString([]byte("15 bytes long!!")), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseSecret(tt.in)
			if tt.wantLen == 0 {
				if err == nil {
					t.Errorf("ParseSecret accepted %q", tt.in)
				}
				return
			}
			if err != nil || len(k) != tt.wantLen {
				t.Errorf("ParseSecret = %d bytes, %v; want %d bytes", len(k), err, tt.wantLen)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two new secrets are equal")
	}
	for _, s := range []string{a, b} {
		k, err := ParseSecret(s)
		if err != nil || len(k) != 32 {
			t.Errorf("ParseSecret(NewSecret()) = %d bytes, %v", len(k), err)
		}
	}
}

// The specification's own Go library and this package agree both ways.
func TestCrossCheckReferenceLibrary(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ParseSecret(secret)
	ref, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, payload := range [][]byte{nil, []byte("{}"), []byte(`{"a":"ü 🙂"}`), bytes.Repeat([]byte("x"), 64<<10)} {
		id := "msg_" + strconv.Itoa(i)
		theirs, err := ref.Sign(id, now, payload)
		if err != nil {
			t.Fatal(err)
		}
		if ours := Sign(key, id, now, payload); ours != theirs {
			t.Errorf("payload %d: Sign = %q, reference %q", i, ours, theirs)
		}
		h := SignHeaders(key, id, now, payload)
		if err := ref.Verify(payload, h); err != nil {
			t.Errorf("payload %d: reference rejects our signature: %v", i, err)
		}
		h.Set(HeaderSignature, theirs)
		if err := (Verifier{Now: func() time.Time { return now }}).Verify(payload, h, key); err != nil {
			t.Errorf("payload %d: we reject the reference signature: %v", i, err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			key := bytes.Repeat([]byte{1}, 32)
			payload := bytes.Repeat([]byte("a"), size)
			now := time.Unix(1_700_000_000, 0)
			h := SignHeaders(key, "msg_1", now, payload)
			v := Verifier{Now: func() time.Time { return now }}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(payload, h, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	vs := loadVectors(f)
	for _, c := range vs.Verify {
		f.Add(c.Headers[HeaderID], c.Headers[HeaderTimestamp], c.Headers[HeaderSignature], []byte(c.Payload))
	}
	f.Add("msg_1", "1614265330", "v1a,abc v1,", []byte{})
	f.Add("", "", "", []byte(nil))
	key := vectorKey(f, vs.Sign[0].Secret)
	now := time.Unix(vs.Sign[0].Timestamp, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, payload []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		err := Verifier{Now: func() time.Time { return now }}.Verify(payload, h, key)
		switch {
		case err == nil:
			// Accepted: the header must hold the true signature.
			unix, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil {
				t.Fatalf("accepted a timestamp that does not parse: %q", ts)
			}
			want := Sign(key, id, time.Unix(unix, 0), payload)
			if !containsField(sig, want) {
				t.Fatalf("accepted a header without the valid signature")
			}
		case errors.Is(err, ErrMissingHeaders), errors.Is(err, ErrBadTimestamp),
			errors.Is(err, ErrTooOld), errors.Is(err, ErrTooNew), errors.Is(err, ErrNoValidSignature):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func containsField(list, want string) bool {
	for f := range strings.FieldsSeq(list) {
		if f == want {
			return true
		}
	}
	return false
}
