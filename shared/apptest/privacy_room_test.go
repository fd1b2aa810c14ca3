package apptest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// roomLinkRE finds the tokens of the staff's and the QR code's links.
var roomLinkRE = regexp.MustCompile(`/(s|q|c)/([A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{22}\b)`)

// TestNoPHILeaksInTheRoom runs the clinic's own pages with patients seeded
// with unique markers — a referral with no contact opened by its QR code
// and agreed to, one with email and phone sent the link by email and by
// text instead, a form refused for its errors, a QR code opened twice,
// passkey answers refused, another clinic's staff looking, a staff member
// removed — and scans what the system wrote: every log line and metric,
// every error page and problem body, the staff emails (invitation, sign-in
// links), the patient's email subjects and texts, another clinic's pages,
// and the tables as stored. No patient name, contact, topic or token is in
// a log line, a metric or an error; the staff emails hold no patient data;
// the tables keep names and contact sealed and every token hashed.
func TestNoPHILeaksInTheRoom(t *testing.T) {
	w := twoClinics(t)
	cookie := signInByEmail(t, w, "rivera@clinic.example")
	other := signInByEmail(t, w, "lee@hill.example")
	staff := http.Header{"Cookie": {cookie}}

	alone := &planted{life: "qr only", given: "Zqroomalone", needs: []string{"alcohol"}}
	reached := &planted{life: "reached", given: "Zqroomreached", email: "xqroomreached@patient.example", phone: "+14155550166", needs: []string{"alcohol"}}
	refused := &planted{life: "refused form", given: "Zqroomrefused", email: "xqroomrefused@patient.example", phone: "+14155550167", needs: []string{"alcohol"}}
	pts := []*planted{alone, reached, refused}

	var answers []artefact
	keep := func(code int, hd http.Header, body []byte) (int, http.Header, []byte) {
		if code >= 400 {
			kind := "problem body"
			if strings.HasPrefix(hd.Get("Content-Type"), "text/html") {
				kind = "error page"
			}
			answers = append(answers, artefact{kind: kind, text: string(body)})
		}
		return code, hd, body
	}
	post := func(path string, f url.Values, hd http.Header) (int, http.Header, []byte) {
		t.Helper()
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}}
		for k, v := range hd {
			h[k] = v
		}
		return keep(w.Do(http.MethodPost, path, []byte(f.Encode()), h))
	}
	refer := func(p *planted, fix func(url.Values)) (int, string) {
		t.Helper()
		_, _, form := w.Do(http.MethodGet, "/clinic/new", nil, staff)
		f := apptest.HiddenFields(form)
		f.Set("given_name", p.given)
		f.Set("email", p.email)
		f.Set("phone", p.phone)
		f.Set("postal_code", "94110")
		f.Set("topic", p.needs[0])
		if fix != nil {
			fix(f)
		}
		// Not kept as an error: a refused form is the staff member's own
		// page, showing what they typed beside each error.
		code, hd, _ := w.Do(http.MethodPost, "/clinic/referrals", []byte(f.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}, "Cookie": {cookie}})
		p.referralID = strings.TrimPrefix(hd.Get("Location"), "/clinic/referrals/")
		return code, p.referralID
	}
	var sessions []string // the secret halves of every session cookie
	for _, c := range []string{cookie, other} {
		_, secret, _ := strings.Cut(strings.TrimPrefix(c, "handoff_clinic="), ".")
		sessions = append(sessions, secret)
	}

	// A form refused for its errors: the page shows the staff member what
	// they typed; nothing else keeps it.
	if code, _ := refer(refused, func(f url.Values) { f.Set("postal_code", "9411"); f.Set("email", "not-an-email-"+refused.given) }); code != http.StatusUnprocessableEntity {
		t.Fatalf("a form with errors: %d, want 422", code)
	}

	// A patient with no contact: the QR code, opened twice, and agreed to.
	if code, id := refer(alone, nil); code != http.StatusSeeOther || len(id) != 26 {
		t.Fatalf("refer with no contact: %d", code)
	}
	w.settleAll()
	_, _, page := w.Do(http.MethodGet, "/clinic/referrals/"+alone.referralID, nil, staff)
	q := regexp.MustCompile(`/q/[A-Za-z0-9_-]{43}`).FindString(string(page))
	if q == "" {
		t.Fatal("no QR link on the referral's page")
	}
	_, hd, _ := w.Do(http.MethodGet, q, nil, nil)
	consent := hd.Get("Location")
	keep(w.Do(http.MethodGet, q, nil, nil)) // 410
	alone.tokens = append(alone.tokens, q[3:], strings.TrimPrefix(consent, "/c/"))
	_, _, cp := w.Do(http.MethodGet, consent, nil, nil)
	f := apptest.HiddenFields(cp)
	f.Set("action", "confirm")
	f.Set("mode", "self")
	f.Set("groups", "mission-a")
	if code, _, _ := post(consent, f, nil); code != http.StatusSeeOther {
		t.Fatalf("agree: %d", code)
	}

	// A patient with email and phone, sent the link both ways instead.
	if code, _ := refer(reached, nil); code != http.StatusSeeOther {
		t.Fatalf("refer with contact: %d", code)
	}
	w.settleAll()
	for _, ch := range []string{"email", "sms"} {
		_, _, page := w.Do(http.MethodGet, "/clinic/referrals/"+reached.referralID, nil, staff)
		f := apptest.HiddenFields(page)
		f.Set("channel", ch)
		if code, _, _ := post("/clinic/referrals/"+reached.referralID+"/send", f, staff); code != http.StatusSeeOther {
			t.Fatalf("send by %s: %d", ch, code)
		}
	}
	w.settleAll()
	for range 15 { // the text waits for its slot
		w.Advance(2 * 3600e9)
		w.settleAll()
	}
	_, _, page = w.Do(http.MethodGet, "/clinic/referrals/"+reached.referralID, nil, staff)
	if q := regexp.MustCompile(`/q/[A-Za-z0-9_-]{43}`).FindString(string(page)); q != "" {
		reached.tokens = append(reached.tokens, q[3:])
	}

	// Refusals: passkey answers, another clinic, unknown links, a removed
	// member — with new sessions, the first ones having run out meanwhile.
	cookie = signInByEmail(t, w, "rivera@clinic.example")
	other = signInByEmail(t, w, "lee@hill.example")
	staff = http.Header{"Cookie": {cookie}}
	for _, c := range []string{cookie, other} {
		_, secret, _ := strings.Cut(strings.TrimPrefix(c, "handoff_clinic="), ".")
		sessions = append(sessions, secret)
	}
	_, _, signin := w.Do(http.MethodGet, "/clinic", nil, nil)
	csrf := apptest.HiddenFields(signin).Get("csrf")
	jsonHdr := http.Header{"Content-Type": {"application/json"}, "X-CSRF-Token": {csrf}, "Origin": {w.Server.URL}}
	_, _, opts := w.Do(http.MethodPost, "/clinic/passkey/options", []byte(`{}`), jsonHdr)
	var ceremony struct{ Ceremony string }
	if err := json.Unmarshal(opts, &ceremony); err != nil || ceremony.Ceremony == "" {
		t.Fatalf("passkey options: %s", opts)
	}
	for _, body := range []string{
		`{"ceremony":"` + ceremony.Ceremony + `","credential":{"id":"x","type":"public-key","response":{}}}`,
		`{"ceremony":"` + ceremony.Ceremony + `","credential":{}}`, // replayed
		`not json ` + alone.given,
	} {
		keep(w.Do(http.MethodPost, "/clinic/passkey", []byte(body), jsonHdr))
	}
	for _, p := range []string{"/clinic/referrals/" + alone.referralID, "/clinic/referrals/" + reached.referralID} {
		keep(w.Do(http.MethodGet, p, nil, http.Header{"Cookie": {other}}))
	}
	_, _, otherList := w.Do(http.MethodGet, "/clinic", nil, http.Header{"Cookie": {other}})
	keep(w.Do(http.MethodGet, "/q/"+strings.Repeat("Q", 43), nil, nil))
	keep(w.Do(http.MethodGet, "/s/"+strings.Repeat("Q", 43), nil, nil))
	keep(w.Do(http.MethodGet, "/clinic/referrals/"+strings.Repeat("Z", 26), nil, staff))
	staffID := w.Room.Staff
	members, err := staffID.List(t.Context(), "hillside")
	if err != nil || len(members) != 1 {
		t.Fatalf("hillside's staff: %v %v", members, err)
	}
	if code, _, _ := w.Do(http.MethodDelete, "/v1/admin/clinics/hillside/staff/"+members[0].ID, nil, http.Header{"Authorization": {"Bearer " + apptest.AdminToken}}); code != http.StatusNoContent {
		t.Fatalf("remove staff: %d", code)
	}
	// A form with no live session is the sign-in page again, a 401.
	if code, _, _ := post("/clinic/referrals", url.Values{"given_name": {alone.given}}, http.Header{"Cookie": {other}}); code != http.StatusUnauthorized {
		t.Errorf("a removed member's form: %d, want the sign-in page's 401", code)
	}

	// Gather.
	arts := append(lineArtefacts("log line", w.Logs.String()), lineArtefacts("metric line", w.Metrics.String())...)
	arts = append(arts, answers...)
	arts = append(arts, artefact{kind: "another clinic's page", text: string(otherList)})
	var staffTokens []marker
	for _, m := range w.Mails() {
		body := "Subject: " + m.Subject + "\n" + m.Body.Text + "\n" + m.Body.HTML
		to := m.Destination.To[0]
		for _, l := range roomLinkRE.FindAllStringSubmatch(m.Body.Text+m.Body.HTML, -1) {
			if l[1] == "s" {
				staffTokens = append(staffTokens, secret("staff link token", l[2]))
			}
			for _, p := range pts {
				if to == p.email && l[1] == "c" {
					p.tokens = append(p.tokens, l[2])
				}
			}
		}
		switch {
		case strings.HasSuffix(to, "@patient.example"):
			arts = append(arts, artefact{kind: "patient email subject", text: m.Subject, to: to})
		case strings.HasSuffix(to, "@clinic.example") || strings.HasSuffix(to, "@hill.example"):
			arts = append(arts, artefact{kind: "staff email", text: body, to: to})
		case strings.HasSuffix(to, "@groups.example"):
			arts = append(arts, artefact{kind: "group email", text: body, to: to})
		default:
			t.Fatalf("an email to %s", to)
		}
	}
	texts := w.TextsTo(reached.phone)
	if len(texts) != 1 {
		t.Fatalf("%d texts to the reached patient, want the consent link sent instead (intake emailed it)", len(texts))
	}
	for _, m := range texts {
		for _, l := range roomLinkRE.FindAllStringSubmatch(m.Body, -1) {
			reached.tokens = append(reached.tokens, l[2])
		}
		arts = append(arts, artefact{kind: "text", text: m.Body, to: m.To})
	}
	tables := dynamotest.Dump(t, w.DB, w.DB.Tables.Referrals) + dynamotest.Dump(t, w.DB, w.DB.Tables.Directory)
	arts = append(arts, artefact{kind: "tables as stored", text: tables})

	secrets := append([]marker{secret("ceremony id", ceremony.Ceremony)}, staffTokens...)
	for _, s := range sessions {
		secrets = append(secrets, secret("session secret", s))
	}
	if len(staffTokens) < 4 {
		t.Fatalf("%d staff link tokens seen, want the invitations and sign-in links", len(staffTokens))
	}
	everyTopic := topicMarkers([]string{"alcohol"})
	var words []marker
	for _, wd := range clinicalWords {
		words = append(words, literal("clinical word", wd))
	}
	scan := &leakScan{t: t}
	kinds := map[string]int{}
	for _, a := range arts {
		kinds[a.kind]++
		for _, p := range pts {
			var contact []marker
			if p.email != "" {
				contact = p.contact()
			}
			switch a.kind {
			case "log line", "metric line", "error page", "problem body", "another clinic's page":
				scan.none(a, "never", p.names()[0])
				scan.none(a, "never", contact...)
				scan.none(a, "never", p.tokenMarkers()...)
			case "staff email":
				scan.none(a, "no patient data", p.names()[0])
				scan.none(a, "no patient data", contact...)
				scan.none(a, "no patient links", p.tokenMarkers()...)
			case "tables as stored":
				scan.none(a, "sealed", p.names()[0])
				scan.none(a, "sealed", contact...)
				scan.none(a, "only hashes kept", p.tokenMarkers()...)
			case "text":
				scan.none(a, "a lock screen shows it", p.names()[0])
				if a.to != p.phone {
					scan.none(a, "another patient's", p.tokenMarkers()...)
				}
			}
		}
		switch a.kind {
		case "log line", "metric line", "error page", "problem body":
			scan.none(a, "never", everyTopic...)
			scan.none(a, "never", secrets...)
		case "another clinic's page", "staff email":
			scan.none(a, "not theirs", everyTopic...)
		case "tables as stored":
			scan.none(a, "only hashes kept", secrets...)
		case "text", "patient email subject":
			scan.none(a, "a lock screen shows it", everyTopic...)
			scan.none(a, "a lock screen shows it", words...)
		}
	}
	if len(alone.tokens) < 2 || len(reached.tokens) < 2 || len(answers) < 10 {
		t.Fatalf("too little seen: %d and %d tokens, %d refusals", len(alone.tokens), len(reached.tokens), len(answers))
	}
	t.Logf("PHI scan of the room: %d artefacts (%s), %d checks, %d leaks", len(arts), kindsText(kinds), scan.checks, scan.found)
}
