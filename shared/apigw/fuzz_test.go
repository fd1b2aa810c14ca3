package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// FuzzAPIGatewayRequest feeds Handle arbitrary HTTP API events. It never
// returns an error or panics; it answers 400 exactly when Request cannot build
// a request; and a request it builds reaches the handler with the event's
// method and body, byte for byte, which come back intact in the response
// (base64-encoded when they are not UTF-8).
func FuzzAPIGatewayRequest(f *testing.F) {
	f.Add("POST", "/c/abc", "lang=es", "Content-Type", "application/x-www-form-urlencoded", "a=1", []byte("action=confirm"), false)
	f.Add("GET", "/v1/clinics/x/referrals/01ARZ3NDEKTSV4RRFFQ69G5FAV", "", "Authorization", "Bearer k", "", []byte{}, false)
	f.Add("POST", "/v1/clinics/x/referrals", "", "webhook-signature", "v1,AAAA v1,BBBB", "", []byte{0xff, 0xfe, 0x00}, false)
	f.Add("PUT", "//evil.example/%2e%2e", "a=%zz", "X-Bad", "a\r\nb", "c=1; d=2", []byte("QUJD"), true)
	f.Add("", "", "", "", "", "", []byte("!!"), true)
	f.Add("G E T", "/x?y", "#frag", "", "", "", []byte(nil), false)
	f.Fuzz(func(t *testing.T, method, path, query, hname, hvalue, cookie string, body []byte, b64 bool) {
		ev := events.APIGatewayV2HTTPRequest{
			RawPath: path, RawQueryString: query, Body: string(body), IsBase64Encoded: b64,
			Headers:        map[string]string{hname: hvalue},
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, SourceIP: "192.0.2.1"}},
		}
		if cookie != "" {
			ev.Cookies = []string{cookie}
		}
		var seen struct {
			called bool
			method string
			body   []byte
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			seen.called, seen.method = true, r.Method
			seen.body, _ = io.ReadAll(r.Body)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(seen.body)
		})
		built, buildErr := Request(context.Background(), ev)
		res, err := Handler{HTTP: mux}.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		if res.StatusCode < 100 || res.StatusCode > 599 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if buildErr != nil {
			if res.StatusCode != http.StatusBadRequest || seen.called {
				t.Fatalf("an event that is no request (%v) got %d (handler called: %v)", buildErr, res.StatusCode, seen.called)
			}
			return
		}
		want := body
		if b64 {
			d, err := base64.StdEncoding.DecodeString(string(body))
			if err != nil {
				t.Fatalf("a bad base64 body built a request")
			}
			want = d
		}
		if built.ContentLength != int64(len(want)) {
			t.Fatalf("Content-Length %d, body %d bytes", built.ContentLength, len(want))
		}
		if !seen.called {
			// The mux may redirect an unclean path; nothing else stops it.
			if res.StatusCode/100 != 3 {
				t.Fatalf("the handler was not called: %d", res.StatusCode)
			}
			return
		}
		wantMethod := method
		if wantMethod == "" {
			wantMethod = http.MethodGet
		}
		if seen.method != wantMethod || !bytes.Equal(seen.body, want) {
			t.Fatalf("the handler saw %q %q, want %q %q", seen.method, seen.body, wantMethod, want)
		}
		got := []byte(res.Body)
		if res.IsBase64Encoded {
			if got, err = base64.StdEncoding.DecodeString(res.Body); err != nil {
				t.Fatalf("a base64 response that does not decode: %v", err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the response body %q, want %q", got, want)
		}
	})
}
