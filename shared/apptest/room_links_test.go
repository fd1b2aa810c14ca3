package apptest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/handoff-health/handoff/shared/apigw"
	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/room"
)

// TestSignInLinks: an unknown address gets the same page and no email; a
// link works once and for 15 minutes; the rate limit per address holds; the
// staff pages' logs carry no patient name.
func TestSignInLinks(t *testing.T) {
	w := newWorld(t, "")
	invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	w.Settle()
	before := len(w.Mails())
	st, loc := askLink(t, w, "nobody@clinic.example", "")
	w.Settle()
	if st != http.StatusSeeOther || !strings.Contains(loc, "clinic-signin-sent") || len(w.Mails()) != before {
		t.Errorf("an unknown address: %d %s, %d new emails", st, loc, len(w.Mails())-before)
	}
	cookie := signInByEmail(t, w, "rivera@clinic.example")
	if !signedIn(t, w, cookie) {
		t.Fatal("the link's session does not open /clinic")
	}
	link := staffLinkRE.FindString(w.MailsTo("rivera@clinic.example")[1].Body.Text)
	if st, _, _ := w.Do(http.MethodGet, link, nil, nil); st != http.StatusGone {
		t.Errorf("a used link: %d, want 410", st)
	}
	askLink(t, w, "rivera@clinic.example", "")
	stale := staffLink(t, w, "rivera@clinic.example")
	w.Advance(16 * time.Minute)
	if st, _, _ := w.Do(http.MethodGet, stale, nil, nil); st != http.StatusGone {
		t.Errorf("a stale link: %d, want 410", st)
	}
	w.Advance(room.SignInWindow)
	for i := 0; i < room.SignInPerAddress; i++ {
		if st, _ := askLink(t, w, "rivera@clinic.example", ""); st != http.StatusSeeOther {
			t.Fatalf("link %d: %d", i+1, st)
		}
	}
	if st, _ := askLink(t, w, "rivera@clinic.example", ""); st != http.StatusTooManyRequests {
		t.Errorf("one link too many: %d, want 429", st)
	}

	// Sign out ends every copy of the cookie.
	_, _, page := w.Do(http.MethodGet, "/clinic", nil, http.Header{"Cookie": {cookie}})
	st, _, _ = w.Do(http.MethodPost, "/clinic/logout", []byte(apptest.HiddenFields(page).Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}, "Cookie": {cookie}})
	if st != http.StatusSeeOther || signedIn(t, w, cookie) {
		t.Errorf("after signing out (%d) the cookie still works", st)
	}
	// A form the old cookie posts is a 401 with the sign-in page, saying
	// nothing was sent, and makes no referral.
	stored := len(dynamotest.Scan(t, w.DB, w.DB.Tables.Referrals))
	st, _, page = w.Do(http.MethodPost, "/clinic/referrals", []byte("given_name=Ana&postal_code=94110&topic=alcohol&csrf=x"), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}, "Cookie": {cookie}})
	if st != http.StatusUnauthorized || !strings.Contains(string(page), "nothing was sent") || !strings.Contains(string(page), `action="/clinic/signin-link"`) {
		t.Errorf("a form after signing out: %d\n%s", st, page)
	}
	if after := len(dynamotest.Scan(t, w.DB, w.DB.Tables.Referrals)); after != stored {
		t.Errorf("a form after signing out wrote %d items", after-stored)
	}
}

// TestQRLinkAndClinics: a QR link opens once and for 15 minutes; another
// clinic's staff cannot see a referral or its QR code (404).
func TestQRLinkAndClinics(t *testing.T) {
	w := newWorld(t, "")
	invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	w.NewClinic("hillside", "")
	invite(t, w, "hillside", "Kim Lee", "lee@hill.example")
	w.Settle()
	st, err := w.Room.Session(t.Context(), strings.TrimPrefix(signInByEmail(t, w, "rivera@clinic.example"), "handoff_clinic="))
	if err != nil {
		t.Fatal(err)
	}
	w.DB.Counter.Reset()
	id, err := w.Room.Refer(t.Context(), st, intake.Form{GivenName: "Ana", PostalCode: "94110", Topic: "alcohol"}, strings.Repeat("k", 43))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DynamoDB calls of a form submission: %s", w.DB.Counter.String())
	w.Settle()
	v, err := w.Room.Referral(t.Context(), st, id, "en")
	if err != nil || v.QRLink == "" {
		t.Fatalf("referral page: %v, QR %q", err, v.QRLink)
	}
	path := strings.TrimPrefix(v.QRLink, w.Server.URL)
	if code, hd, _ := w.Do(http.MethodGet, path, nil, nil); code != http.StatusSeeOther || !strings.HasPrefix(hd.Get("Location"), "/c/") {
		t.Fatalf("the QR link: %d", code)
	}
	if code, _, _ := w.Do(http.MethodGet, path, nil, nil); code != http.StatusGone {
		t.Errorf("opened twice: %d, want 410", code)
	}
	if err := w.Room.NewQR(t.Context(), st, id); err != nil {
		t.Fatal(err)
	}
	v, _ = w.Room.Referral(t.Context(), st, id, "en")
	w.Advance(16 * time.Minute)
	if code, _, _ := w.Do(http.MethodGet, strings.TrimPrefix(v.QRLink, w.Server.URL), nil, nil); code != http.StatusGone {
		t.Errorf("after 15 minutes: %d, want 410", code)
	}
	mine := signInByEmail(t, w, "rivera@clinic.example")
	if err := w.Room.NewQR(t.Context(), st, id); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/clinic", "/clinic/new", "/clinic/referrals/" + id, "/assets/passkey.js"} {
		_, _, b := w.Do(http.MethodGet, p, nil, http.Header{"Cookie": {mine}})
		t.Logf("page weight %s: %d bytes", p, len(b))
	}
	_, _, signin := w.Do(http.MethodGet, "/clinic", nil, nil)
	t.Logf("page weight /clinic (sign-in): %d bytes", len(signin))
	other := signInByEmail(t, w, "lee@hill.example")
	if code, _, _ := w.Do(http.MethodGet, "/clinic/referrals/"+id, nil, http.Header{"Cookie": {other}}); code != http.StatusNotFound {
		t.Errorf("another clinic's referral: %d, want 404", code)
	}
	_, _, page := w.Do(http.MethodGet, "/clinic", nil, http.Header{"Cookie": {other}})
	code, _, _ := w.Do(http.MethodPost, "/clinic/referrals/"+id+"/qr", []byte(apptest.HiddenFields(page).Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}, "Cookie": {other}})
	if code != http.StatusNotFound {
		t.Errorf("another clinic's QR code: %d, want 404", code)
	}
	if strings.Contains(w.Logs.String(), "Ana") {
		t.Error("a log line names the patient")
	}
}

// TestAdminSessionEnds: an operator's cookie copied before signing out is
// refused after it, and a new admin token ends every session.
func TestAdminSessionEnds(t *testing.T) {
	w := newWorld(t, "")
	signIn := func() string {
		_, _, page := w.Do(http.MethodGet, "/admin", nil, nil)
		f := apptest.HiddenFields(page)
		f.Set("token", w.App.Config.AdminToken)
		_, hd, _ := w.Do(http.MethodPost, "/admin/login", []byte(f.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}})
		return sessionCookie(hd, "handoff_admin")
	}
	in := func(c string) bool {
		_, _, page := w.Do(http.MethodGet, "/admin", nil, http.Header{"Cookie": {c}})
		return strings.Contains(string(page), `action="/admin/logout"`)
	}
	c := signIn()
	if !in(c) {
		t.Fatal("the operator's cookie does not open /admin")
	}
	_, _, page := w.Do(http.MethodGet, "/admin", nil, http.Header{"Cookie": {c}})
	w.Do(http.MethodPost, "/admin/logout", []byte(apptest.HiddenFields(page).Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}, "Cookie": {c}})
	if in(c) {
		t.Error("an operator cookie copied before signing out still works")
	}
	c = signIn()
	w.App.Config.AdminToken = "a-new-admin-token" // rotated
	if in(c) {
		t.Error("a session of the old admin token still works")
	}
}

// TestSignInLinkPerSource: behind API Gateway (the adapter the Lambdas
// run), "email me a sign-in link" is limited per source — the address API
// Gateway saw connect — whatever addresses are asked for and whatever
// X-Forwarded-For the client sends; another source is not held back.
func TestSignInLinkPerSource(t *testing.T) {
	w := newWorld(t, "")
	gw := apigw.Handler{HTTP: w.Server.Config.Handler}
	call := func(method, body, sourceIP, xff string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		ev := events.APIGatewayV2HTTPRequest{
			RawPath: "/clinic", Body: body,
			Headers: map[string]string{"content-type": "application/x-www-form-urlencoded"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: "handoff.example", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, SourceIP: sourceIP,
			}},
		}
		if method == http.MethodPost {
			ev.RawPath = "/clinic/signin-link"
		}
		if xff != "" {
			ev.Headers["x-forwarded-for"] = xff
		}
		res, err := gw.Handle(t.Context(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	page := call(http.MethodGet, "", "198.51.100.7", "")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page through the adapter: %d", page.StatusCode)
	}
	form := apptest.HiddenFields([]byte(page.Body))
	ask := func(addr, sourceIP, xff string) int {
		form.Set("email", addr)
		return call(http.MethodPost, form.Encode(), sourceIP, xff).StatusCode
	}
	for i := range room.SignInPerSource {
		// Each asks for another address and claims another client.
		if st := ask(fmt.Sprintf("person%d@clinic.example", i), "198.51.100.7", fmt.Sprintf("203.0.113.%d", i)); st != http.StatusSeeOther {
			t.Fatalf("link %d from one source: %d", i+1, st)
		}
	}
	tests := []struct {
		name     string
		sourceIP string
		xff      string
		want     int
	}{
		{name: "one more from the same source", sourceIP: "198.51.100.7", want: http.StatusTooManyRequests},
		{name: "the same source claiming to be another", sourceIP: "198.51.100.7", xff: "198.51.100.99", want: http.StatusTooManyRequests},
		{name: "another source", sourceIP: "198.51.100.8", want: http.StatusSeeOther},
		{name: "another source claiming to be the held one", sourceIP: "2001:db8::8", xff: "198.51.100.7", want: http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if st := ask("someone@clinic.example", tc.sourceIP, tc.xff); st != tc.want {
				t.Errorf("%d, want %d", st, tc.want)
			}
		})
	}
	w.Advance(room.SignInWindow)
	if st := ask("someone@clinic.example", "198.51.100.7", ""); st != http.StatusSeeOther {
		t.Errorf("an hour later: %d, want 303", st)
	}
	if strings.Contains(w.Logs.String(), "198.51.100") || strings.Contains(w.Logs.String(), "person1@") {
		t.Error("a log line holds a client's address or an asked address")
	}
}

// twoClinics is a world with a staff member at lakeside (Jan Rivera) and
// one at hillside (Kim Lee).
func twoClinics(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, "")
	invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	w.NewClinic("hillside", "")
	invite(t, w, "hillside", "Kim Lee", "lee@hill.example")
	return w
}

// staffSession signs a staff member in by email and returns their session.
func staffSession(t *testing.T, w *world, addr string) room.Staff {
	t.Helper()
	st, err := w.Room.Session(t.Context(), strings.TrimPrefix(signInByEmail(t, w, addr), "handoff_clinic="))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestQROpeningCountsContacted: a referral made in the room with no contact
// reaches its patient only by the QR code, and the funnel counts them
// contacted when they first open it — once, however many QR codes they
// open; a patient who also got the link by email is counted once too.
func TestQROpeningCountsContacted(t *testing.T) {
	w := newWorld(t, "")
	invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	st := staffSession(t, w, "rivera@clinic.example")
	day := w.Now().UTC().Format("2006-01-02")
	contacted := func() int64 {
		t.Helper()
		w.Settle()
		return readReport(t, w.Harness, "/v1/admin/outcomes?from="+day+"&to="+day, apptest.AdminToken).Funnel["contacted"]
	}
	openQR := func(id string) {
		t.Helper()
		v, err := w.Room.Referral(t.Context(), st, id, "en")
		if err != nil || v.QRLink == "" {
			t.Fatalf("the referral's QR code: %v %q", err, v.QRLink)
		}
		if code, _, _ := w.Do(http.MethodGet, strings.TrimPrefix(v.QRLink, w.Server.URL), nil, nil); code != http.StatusSeeOther {
			t.Fatalf("open the QR code: %d", code)
		}
	}
	alone, err := w.Room.Refer(t.Context(), st, intake.Form{GivenName: "Ana", PostalCode: "94110", Topic: "alcohol"}, strings.Repeat("a", 43))
	if err != nil {
		t.Fatal(err)
	}
	w.Settle()
	if n := contacted(); n != 0 {
		t.Fatalf("contacted %d before the QR code was opened, want 0", n)
	}
	openQR(alone)
	if n := contacted(); n != 1 {
		t.Errorf("contacted %d after the QR code was opened, want 1", n)
	}
	if err := w.Room.NewQR(t.Context(), st, alone); err != nil {
		t.Fatal(err)
	}
	openQR(alone)
	if n := contacted(); n != 1 {
		t.Errorf("contacted %d after a second QR code was opened, want still 1", n)
	}
	mailed, err := w.Room.Refer(t.Context(), st, intake.Form{GivenName: "Bea", Email: "bea@patient.example", PostalCode: "94110", Topic: "alcohol"}, strings.Repeat("b", 43))
	if err != nil {
		t.Fatal(err)
	}
	if n := contacted(); n != 2 {
		t.Errorf("contacted %d after the second patient's email, want 2", n)
	}
	openQR(mailed)
	if n := contacted(); n != 2 {
		t.Errorf("contacted %d after the emailed patient opened the QR code too, want still 2", n)
	}
}

// TestClinicListsEveryReferral: the clinic's list shows its referrals
// however they came — a signed webhook and its pages — newest first, with
// the given name, the topic in plain words, the status and the last change;
// another clinic's are not there.
func TestClinicListsEveryReferral(t *testing.T) {
	w := twoClinics(t)
	st := staffSession(t, w, "rivera@clinic.example")
	hooked, _ := w.refer(t, "dee@patient.example")
	w.Advance(time.Minute)
	paged, err := w.Room.Refer(t.Context(), st, intake.Form{GivenName: "Ana", PostalCode: "94110", Topic: "alcohol"}, strings.Repeat("c", 43))
	if err != nil {
		t.Fatal(err)
	}
	w.Settle()
	w.DB.Counter.Reset()
	v, err := w.Room.List(t.Context(), st, "", "es")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DynamoDB calls of a list page of %d: %s", len(v.Rows), w.DB.Counter)
	if len(v.Rows) != 2 || v.Rows[0].ID != paged || v.Rows[1].ID != hooked {
		t.Fatalf("the list %+v, want the pages referral then the webhook one", v.Rows)
	}
	if r := v.Rows[1]; r.GivenName == "" || len(r.Topics) == 0 || r.Topics[0] == "alcohol" || r.Status == "" || r.Changed.IsZero() {
		t.Errorf("the webhook referral's row %+v lacks a given name, a topic in words, a status or a change", r)
	}
	mine := signInByEmail(t, w, "rivera@clinic.example")
	_, _, page := w.Do(http.MethodGet, "/clinic", nil, http.Header{"Cookie": {mine}})
	for _, id := range []string{hooked, paged} {
		if !strings.Contains(string(page), "/clinic/referrals/"+id) {
			t.Errorf("the list page does not link referral %s", id)
		}
	}
	other := signInByEmail(t, w, "lee@hill.example")
	_, _, page = w.Do(http.MethodGet, "/clinic", nil, http.Header{"Cookie": {other}})
	if strings.Contains(string(page), hooked) || strings.Contains(string(page), paged) {
		t.Error("another clinic's list shows these referrals")
	}
	if code, _, _ := w.Do(http.MethodGet, "/clinic/referrals/"+hooked, nil, http.Header{"Cookie": {mine}}); code != http.StatusOK {
		t.Errorf("the webhook referral's page: %d, want 200", code)
	}
}

// TestSendLinkInstead: on the referral's page the staff send the patient
// the consent link by email (the SES emulator gets it, and it opens the
// consent page) or by text (the phone sink gets it) instead of the QR
// code. A text keeps the limits every text to a patient keeps — at most
// one a day in the patient's time zone, between 8:00 and 21:00 — so a
// second press the same day waits for the next free moment; both go in
// the end. A channel the patient did not give is refused with a 400 page,
// and no log line holds the patient's name or contact.
func TestSendLinkInstead(t *testing.T) {
	w := newWorld(t, "")
	invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	cookie := signInByEmail(t, w, "rivera@clinic.example")
	st, err := w.Room.Session(t.Context(), strings.TrimPrefix(cookie, "handoff_clinic="))
	if err != nil {
		t.Fatal(err)
	}
	const email, phone = "oona@patient.example", "+14155550177"
	id, err := w.Room.Refer(t.Context(), st, intake.Form{GivenName: "Oona", Email: email, Phone: phone, PostalCode: "94110", Topic: "alcohol"}, strings.Repeat("s", 43))
	if err != nil {
		t.Fatal(err)
	}
	noContact, err := w.Room.Refer(t.Context(), st, intake.Form{GivenName: "Ana", PostalCode: "94110", Topic: "alcohol"}, strings.Repeat("t", 43))
	if err != nil {
		t.Fatal(err)
	}
	w.settleAll()
	send := func(ref, channel string) (int, string) {
		t.Helper()
		_, _, page := w.Do(http.MethodGet, "/clinic/referrals/"+ref, nil, http.Header{"Cookie": {cookie}})
		f := apptest.HiddenFields(page)
		f.Set("channel", channel)
		code, hd, _ := w.Do(http.MethodPost, "/clinic/referrals/"+ref+"/send", []byte(f.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}, "Cookie": {cookie}})
		return code, hd.Get("Location")
	}
	_, _, page := w.Do(http.MethodGet, "/clinic/referrals/"+id, nil, http.Header{"Cookie": {cookie}})
	if !strings.Contains(string(page), `value="sms"`) || !strings.Contains(string(page), `value="email"`) {
		t.Fatal("the referral's page offers no text or email instead of the QR code")
	}

	refusals := []struct {
		name, ref, channel string
	}{
		{name: "text to a patient with no phone", ref: noContact, channel: "sms"},
		{name: "email to a patient with no email", ref: noContact, channel: "email"},
		{name: "a channel that is none", ref: id, channel: "fax"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := send(tc.ref, tc.channel); code != http.StatusBadRequest {
				t.Errorf("%d, want 400", code)
			}
		})
	}

	// By email: one more consent email, whose link opens the consent page.
	mails := len(w.MailsTo(email))
	if code, loc := send(id, "email"); code != http.StatusSeeOther || !strings.Contains(loc, "clinic-link-sent") {
		t.Fatalf("send by email: %d %s", code, loc)
	}
	w.settleAll()
	got := w.MailsTo(email)
	if len(got) != mails+1 {
		t.Fatalf("%d consent emails after sending by email, want %d", len(got), mails+1)
	}
	if code, _, _ := w.Do(http.MethodGet, w.Link(got[len(got)-1], "c"), nil, nil); code != http.StatusOK {
		t.Errorf("the emailed link: %d, want the consent page", code)
	}

	// By text, twice the same day: within the text limits.
	zone, err := time.LoadLocation("America/Los_Angeles") // the groups offered meet there
	if err != nil {
		t.Fatal(err)
	}
	sentAt := map[string]time.Time{} // the room's texts, by event, when the sink got them
	observe := func() {
		t.Helper()
		rec, err := w.App.Referrals.Load(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		ours := map[string]bool{}
		for _, e := range rec.Events {
			if e.Type == referral.ConsentRequested && e.Data["staff"] != "" && e.Data["channel"] == "sms" {
				ours[e.ID] = true
			}
		}
		for _, m := range w.TextsTo(phone) {
			if ev := m.Context["event"]; ours[ev] {
				if _, seen := sentAt[ev]; !seen {
					sentAt[ev] = w.Now()
				}
			}
		}
	}
	for i := range 2 {
		if code, _ := send(id, "sms"); code != http.StatusSeeOther {
			t.Fatalf("send by text %d: %d", i+1, code)
		}
		w.settleAll()
		observe()
	}
	if len(sentAt) > 1 {
		t.Errorf("two texts the same day: %v", sentAt)
	}
	for range 30 { // 60 hours, settled every 2
		w.Advance(2 * time.Hour)
		w.settleAll()
		observe()
	}
	if len(sentAt) != 2 {
		t.Fatalf("%d of the 2 texts asked for went in 60 hours", len(sentAt))
	}
	days := map[string]bool{}
	for _, at := range sentAt {
		local := at.In(zone)
		days[local.Format("2006-01-02")] = true
		if local.Hour() < 8 || local.Hour() >= 21 {
			t.Errorf("a text went at %s local time", local.Format("15:04"))
		}
	}
	if len(days) != 2 {
		t.Errorf("the two texts went on %d local days, want 2", len(days))
	}
	for _, m := range w.TextsTo(phone) {
		if !strings.Contains(m.Body, "/c/") {
			t.Errorf("a text holds no consent link: %q", apptest.Redact(m.Body))
		}
	}
	logs := w.Logs.String()
	for _, secret := range []string{"Oona", email, phone, "4155550177"} {
		if strings.Contains(logs, secret) {
			t.Errorf("a log line holds %q", secret)
		}
	}
}

// TestClinicPageCosts measures, over HTTP as the browser sends them, the
// DynamoDB calls and items read of a referral form's submission and of a
// full page (50) of the clinic's list: a page is the session's read, one
// Query of clinic-index and one BatchGetItem of the 50 referrals, whatever
// the clinic holds.
func TestClinicPageCosts(t *testing.T) {
	w := newWorld(t, "")
	invite(t, w, "lakeside", "Jan Rivera", "rivera@clinic.example")
	cookie := signInByEmail(t, w, "rivera@clinic.example")
	hd := http.Header{"Cookie": {cookie}}
	submit := func(i int) int {
		t.Helper()
		_, _, form := w.Do(http.MethodGet, "/clinic/new", nil, hd)
		f := apptest.HiddenFields(form)
		f.Set("given_name", fmt.Sprintf("Ana%d", i))
		f.Set("postal_code", "94110")
		f.Set("topic", "alcohol")
		w.DB.Counter.Reset()
		code, _, _ := w.Do(http.MethodPost, "/clinic/referrals", []byte(f.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {w.Server.URL}, "Cookie": {cookie}})
		if code != http.StatusSeeOther {
			t.Fatalf("submission %d: %d", i, code)
		}
		calls, _ := w.DB.Counter.Totals()
		if i == 0 {
			t.Logf("DynamoDB of a form submission over HTTP: %s", w.DB.Counter)
		}
		return calls
	}
	for i := range 60 {
		if calls := submit(i); calls > 4 {
			t.Errorf("submission %d made %d DynamoDB calls (%s), want at most 4", i, calls, w.DB.Counter)
		}
	}
	w.DB.Counter.Reset()
	code, _, page := w.Do(http.MethodGet, "/clinic", nil, hd)
	calls, items := w.DB.Counter.Totals()
	t.Logf("DynamoDB of a list page of 50 over HTTP: %s (%d calls, %d items read), %d bytes", w.DB.Counter, calls, items, len(page))
	if rows := strings.Count(string(page), `href="/clinic/referrals/`); code != http.StatusOK || rows != 50 {
		t.Fatalf("the list: %d with %d rows, want 50", code, rows)
	}
	if w.DB.Counter.Calls("Query") != 1 || w.DB.Counter.Calls("BatchGetItem") != 2 || calls > 4 || items > 2+50+50 {
		t.Errorf("a list page costs %s, want the session's BatchGetItem, one Query and one BatchGetItem", w.DB.Counter)
	}
}
