package apptest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/phone"
	"github.com/handoff-health/handoff/shared/topics"
)

// groupPhone is the number of the contact of the group that takes texts.
const groupPhone = "+14155550342"

// marker is one piece of personal or clinical data planted in a referral,
// and how to find it in text.
type marker struct {
	kind  string // "given name", "email", "code", ...
	value string
	re    *regexp.Regexp
	// lower is value in lower case when it is ASCII: in an ASCII text, re
	// can match only where lower is (a quick test that skips re).
	lower string
	// secret marks a random secret (a link token, a session secret): it is
	// looked for in the text as written. Every other marker is looked for
	// with the tokens of page links hidden (apptest.Redact, and the room's
	// links) and webhook signatures, since random material may spell a
	// short one ("pain", "xqab") by chance.
	secret bool
}

// literal finds v anywhere, ignoring case.
func literal(kind, v string) marker {
	return marker{kind: kind, value: v, re: compiled(`(?i)` + regexp.QuoteMeta(v)), lower: asciiLower(v)}
}

// secret finds a random secret v anywhere, ignoring case, page links'
// tokens included.
func secret(kind, v string) marker {
	m := literal(kind, v)
	m.secret = true
	return m
}

// word finds v as a whole word (so a code's digits inside a longer number
// do not count), ignoring case.
func word(kind, v string) marker {
	return marker{kind: kind, value: v, re: compiled(`(?i)(^|[^\pL\pN])` + regexp.QuoteMeta(v) + `($|[^\pL\pN])`), lower: asciiLower(v)}
}

// asciiLower is s in lower case when s is ASCII, else "".
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return ""
		}
	}
	return strings.ToLower(s)
}

// patterns holds each marker's expression, compiled once: the scans ask for
// the same markers for every artefact, and compiling the Unicode classes of
// a whole-word pattern costs more than matching it.
var patterns sync.Map // expression → *regexp.Regexp

func compiled(expr string) *regexp.Regexp {
	if re, ok := patterns.Load(expr); ok {
		return re.(*regexp.Regexp)
	}
	re, _ := patterns.LoadOrStore(expr, regexp.MustCompile(expr))
	return re.(*regexp.Regexp)
}

// planted is what one patient's referral carries.
type planted struct {
	life                        string
	given, family, email, phone string
	note                        string // FHIR free text, never to be kept
	codes                       [][2]string
	needs                       []string
	tokens                      []string // link tokens sent to this patient or about them
	referralID                  string
}

func (p *planted) names() []marker {
	return []marker{literal("given name", p.given), literal("family name", p.family)}
}

func (p *planted) contact() []marker {
	national := strings.TrimPrefix(p.phone, "+1")
	// Every patient's address starts "xq": its first four letters at the
	// start of a word are a piece of it (say, in a cut-off message).
	piece := marker{kind: "piece of an email", value: p.email[:4], re: regexp.MustCompile(`(^|[^A-Za-z0-9])` + p.email[:4]), lower: asciiLower(p.email[:4])}
	return []marker{literal("email", p.email), piece, word("phone", p.phone), word("phone", national),
		word("phone", national[:3]+"-"+national[3:6]+"-"+national[6:]), word("phone", "("+national[:3]+") "+national[3:6]+"-"+national[6:])}
}

func (p *planted) clinical() []marker {
	var ms []marker
	for _, c := range p.codes {
		ms = append(ms, word("code", c[1]), word("code", strings.ReplaceAll(c[1], ".", "")))
	}
	ms = append(ms, topicMarkers(p.topics())...)
	if p.note != "" {
		ms = append(ms, literal("clinical note", p.note))
	}
	return ms
}

// topics are the topics the referral maps to.
func (p *planted) topics() []string {
	out := append([]string(nil), p.needs...)
	for _, c := range p.codes {
		ts, _ := topics.FromCode(c[0], c[1])
		out = append(out, ts...)
	}
	return out
}

func (p *planted) tokenMarkers() []marker {
	var ms []marker
	for _, t := range p.tokens {
		ms = append(ms, secret("link token", t))
	}
	return ms
}

// topicMarkers finds topic codes and their English and Spanish labels.
func topicMarkers(codes []string) []marker {
	var ms []marker
	for _, c := range codes {
		tp, ok := topics.Lookup(c)
		if !ok {
			continue
		}
		ms = append(ms, word("topic", tp.Code), word("topic", tp.LabelEN), word("topic", tp.LabelES))
	}
	return ms
}

// clinicalWords must never be in a patient email's subject (a lock screen
// shows it).
var clinicalWords = []string{"alcohol", "drink", "drug", "addict", "recover", "sober", "gambl", "grief",
	"cancer", "diabet", "depress", "anxi", "bipolar", "eating", "trauma", "pain", "diagnos", "disorder",
	"anonymous", "12-step", "twelve", "therapy", "mental", "substance", "rehab"}

// artefact is one thing the system wrote that leaves it or that operators
// read.
type artefact struct {
	kind string // "log line", "problem body", "status webhook", "group email", ...
	text string
	to   string // an email's recipient
}

// lineArtefacts are text's non-empty lines (the logs, the metric lines),
// each an artefact of kind.
func lineArtefacts(kind, text string) []artefact {
	var arts []artefact
	for _, line := range strings.Split(text, "\n") {
		if line != "" {
			arts = append(arts, artefact{kind: kind, text: line})
		}
	}
	return arts
}

// leakScan counts the checks it made.
type leakScan struct {
	t      *testing.T
	checks int
	found  int
}

// none fails if any marker is in the artefact.
func (l *leakScan) none(a artefact, why string, ms ...marker) {
	l.t.Helper()
	// In an ASCII text (most are), case folding is ASCII's: a marker whose
	// lower-case value is not in the lower-case text cannot match.
	written, shown := a.text, signatures.ReplaceAllString(roomLinkRE.ReplaceAllString(apptest.Redact(a.text), "/$1/…"), "$1…")
	writtenLower, shownLower := asciiLower(written), asciiLower(shown)
	for _, m := range ms {
		l.checks++
		text, lower := shown, shownLower
		if m.secret {
			text, lower = written, writtenLower
		}
		if lower != "" && m.lower != "" && !strings.Contains(lower, m.lower) {
			continue
		}
		if loc := m.re.FindStringIndex(text); loc != nil {
			l.found++
			from, to := max(0, loc[0]-60), min(len(text), loc[1]+60)
			l.t.Errorf("%s (%s) holds a %s (%s): …%s…", a.kind, why, m.kind, apptest.Redact(m.value), apptest.Redact(text[from:to]))
		}
	}
}

// signatures matches a signature header's value (base64 of an HMAC): it
// may spell a short marker ("/xqab") by chance.
var signatures = regexp.MustCompile(`(?im)^(webhook-signature: ).*$`)

// TestNoPHILeaks runs every life a referral can have — introduce to
// connected, self mode, decline, revoke, cancel, expiry, a FHIR referral
// moved on to a second group, status webhooks to the clinic (one refused
// first), SES refusing an unverified recipient, and requests refused for bad
// data, first meetings planned by email and by text (the plan, its
// calendar file, the reminder, the check-in), a group that texts and one
// that did not answer in time (its reminder, its office's notice) — with
// each patient seeded with unique markers: names, email, phone, clinical
// codes, topics, a FHIR note, and every link token sent. It then scans
// everything the system wrote that leaves it or that operators read: every
// log line, problem body, error page, status webhook, email, text and
// calendar file, and the tables as stored.
func TestNoPHILeaks(t *testing.T) {
	t.Parallel()
	var (
		hookMu   sync.Mutex
		hooks    []string
		refused1 bool
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		defer hookMu.Unlock()
		var hdr strings.Builder
		_ = r.Header.Write(&hdr)
		hooks = append(hooks, hdr.String()+"\n"+string(b))
		if !refused1 {
			refused1 = true
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer hook.Close()
	h := apptest.New(t, func(c *config.Config) { c.ConsentTTL = 2 * time.Hour })
	h.SetNow(monday) // the first meetings below fall on known days
	s := newStack(h)
	c := h.NewClinic("lakeside", hook.URL, map[string]any{"clinician_emails": true})
	var groupIDs []string
	for i := range 3 {
		id := fmt.Sprintf("neutral-%d", i)
		g := apptest.SampleGroup(id, 37.7599+float64(i)*0.001, -122.4148)
		g.Topics = []string{"alcohol", "gambling", "grief"}
		if i == 0 {
			// Its contact takes notices by text; its feed names an office.
			g.Contact.Phone, g.Contact.Texts = groupPhone, true
			g.Office = directory.Office{Name: "Neutral Intergroup", Email: "office@intergroup.example"}
		}
		h.PutGroup(g, id)
		groupIDs = append(groupIDs, id)
	}
	sesFaults := h.NewSESFaults(201, 0)
	h.App.Mailer = sesFaults.Sender(h.App.Config.MailFrom)

	rng := rand.New(rand.NewPCG(202, 203))
	letters := func(n int) string {
		const abc = "abcdefghijklmnopqrstuvwxyz"
		b := make([]byte, n)
		for i := range b {
			b[i] = abc[rng.IntN(len(abc))]
		}
		return string(b)
	}
	// Numbers ending 0198 and 0199 are the phone sink's opted-out and
	// undeliverable ones: only the text-failed life has one.
	phones := rng.Perm(98)
	volunteer := "Vq" + letters(9)
	lives := []string{"connected", "self", "declined", "revoked", "cancelled", "expired", "fhir-moved-on", "unverified",
		"texted", "text-failed", "met-email", "met-text", "office"}
	var pts []*planted
	for i, life := range lives {
		p := &planted{life: life, given: "Zq" + letters(10), family: "Fam" + letters(10),
			email: "xq" + letters(11) + "@patient.example", phone: fmt.Sprintf("+1415555%04d", 100+phones[i])}
		if life == "text-failed" {
			p.phone = "+14155550199"
		}
		if !phone.ValidE164(p.phone) {
			t.Fatalf("test phone %s is not valid", p.phone)
		}
		switch i % 3 {
		case 0:
			p.codes = [][2]string{{icd10, "F10.29"}, {snomed, "66590003"}}
		case 1:
			p.needs = []string{"gambling"}
			p.codes = [][2]string{{icd10, "F63.0"}}
		case 2:
			p.needs = []string{"grief"}
		}
		pts = append(pts, p)
	}

	// Everything the clinic and pages answered with an error.
	var answers []artefact
	keep := func(r reply, err error) reply {
		if err != nil {
			t.Fatal(err)
		}
		if r.status >= 400 {
			kind := "problem body"
			if strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				kind = "error page"
			}
			answers = append(answers, artefact{kind: kind, text: string(r.body)})
		}
		return r
	}

	// Refer everyone.
	for i, p := range pts {
		var r reply
		if p.life == "fhir-moved-on" {
			p.note = "Note" + letters(12)
			r = keep(s.referTyped(c, "msg_privacy_fhir", "application/fhir+json", fhirReferral(p)))
		} else {
			pb := patient{Given: p.given, Family: p.family, Email: p.email, Phone: p.phone, Needs: p.needs, Codes: p.codes, External: fmt.Sprintf("EHR-%d", i)}
			if strings.HasPrefix(p.life, "text") || p.life == "met-text" {
				pb.Preferred = "sms"
			}
			r = keep(s.refer(c, fmt.Sprintf("msg_privacy_%d", i), pb.body()))
		}
		if r.status != http.StatusAccepted {
			t.Fatalf("refer %s: %d %s", p.life, r.status, r.body)
		}
		p.referralID = receiptID(r.body)
		if p.life == "unverified" {
			sesFaults.RejectUnverified(1)
			sweepUntilQuiet(t, h, time.Minute, 50)
		}
	}
	sweepUntilQuiet(t, h, time.Minute, 50)

	// Requests refused for bad data, each carrying a patient's markers.
	bad := pts[0]
	for i, body := range []string{
		strings.Replace(string(patient{Given: bad.given, Family: bad.family, Email: bad.email, Needs: []string{"alcohol"}, External: "B1"}.body()), `"needs"`, `"notes": "`+bad.family+` drinks daily, `+bad.email+`", "needs"`, 1),
		string(patient{Given: bad.given, Family: bad.family, Email: "not-an-email-" + bad.given, Needs: []string{"alcohol"}, External: "B2"}.body()),
		string(patient{Given: bad.given, Family: bad.family, Phone: bad.phone + "999", Needs: []string{"alcohol"}, External: "B3"}.body()),
		string(patient{Given: bad.given, Family: bad.family, Email: bad.email, Codes: [][2]string{{icd10, "Z99.89"}}, External: "B4"}.body()),
		string(patient{Given: bad.given + strings.Repeat("x", 120), Family: bad.family, Email: bad.email, Needs: []string{bad.given}, External: "B5"}.body()),
	} {
		r := keep(s.refer(c, fmt.Sprintf("msg_privacy_bad_%d", i), []byte(body)))
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("bad referral %d: %d %s", i, r.status, r.body)
		}
	}

	// Each patient's life.
	find := func(p *planted) string {
		for _, m := range h.MailsTo(p.email) {
			if l := apptest.LinkPattern.FindString(m.Body.Text); strings.HasPrefix(l, "/c/") {
				return l
			}
		}
		for _, m := range h.TextsTo(p.phone) {
			if l := apptest.LinkPattern.FindString(m.Body); strings.HasPrefix(l, "/c/") {
				return l
			}
		}
		t.Fatalf("%s: no consent link", p.life)
		return ""
	}
	act := func(link string, fields url.Values) {
		t.Helper()
		pg := keep(s.send(http.MethodGet, link, nil, nil))
		if r := keep(s.post(link, apptest.HiddenFields(pg.body), fields)); r.status != http.StatusSeeOther {
			t.Fatalf("post %v: %d", fields, r.status)
		}
		sweepUntilQuiet(t, h, time.Minute, 50)
	}
	groupLink := func(p *planted, g string) string {
		for _, m := range h.MailsTo("contact+" + g + "@groups.example") {
			if l := apptest.LinkPattern.FindString(m.Body.Text); strings.HasPrefix(l, "/g/") && strings.Contains(m.Body.Text, p.given) {
				return l
			}
		}
		t.Fatalf("%s: no notice to %s", p.life, g)
		return ""
	}
	for _, p := range pts {
		switch p.life {
		case "connected", "unverified", "texted":
			act(find(p), url.Values{"action": {"confirm"}, "mode": {"introduce"}, "groups": groupIDs[:1]})
			g := groupLink(p, groupIDs[0])
			// The group names its volunteer: a name only the patient may see.
			// A note with a link is refused without being echoed back.
			pg := keep(s.send(http.MethodGet, g, nil, nil))
			if r := keep(s.post(g, apptest.HiddenFields(pg.body), url.Values{"action": {"accept"}, "volunteer_name": {volunteer},
				"volunteer_note": {"Note " + volunteer + " at " + volunteer + ".example.de/j/1"}})); r.status != http.StatusBadRequest {
				t.Fatalf("a note with a link: %d, want 400", r.status)
			}
			act(g, url.Values{"action": {"accept"}, "volunteer_name": {volunteer}, "volunteer_note": {"Note " + volunteer}})
			if p.life != "texted" { // (the texted life's volunteer text waits for tomorrow: see below)
				act(g, url.Values{"action": {"connected"}})
			}
		case "self":
			act(find(p), url.Values{"action": {"confirm"}, "mode": {"self"}, "groups": groupIDs[1:2]})
		case "declined", "text-failed":
			act(find(p), url.Values{"action": {"decline"}})
		case "revoked":
			link := find(p)
			act(link, url.Values{"action": {"confirm"}, "groups": groupIDs[:2]})
			act(link, url.Values{"action": {"revoke"}})
		case "cancelled":
			act(find(p), url.Values{"action": {"confirm"}, "groups": groupIDs[:1]})
			r := keep(s.send(http.MethodDelete, "/v1/clinics/lakeside/referrals/"+p.referralID, nil, http.Header{"Authorization": {"Bearer " + c.APIKey}}))
			if r.status != http.StatusOK {
				t.Fatalf("cancel: %d", r.status)
			}
			sweepUntilQuiet(t, h, time.Minute, 50)
		case "met-email", "met-text":
			// The group chooses a first meeting: Thursday's, or the one a
			// week later (so the texts keep to the limits).
			act(find(p), url.Values{"action": {"confirm"}, "groups": groupIDs[:1]})
			meet := map[string]string{"met-email": "2026-06-04T19:00", "met-text": "2026-06-11T19:00"}[p.life]
			act(groupLink(p, groupIDs[0]), url.Values{"action": {"accept"}, "first_meeting": {meet},
				"volunteer_name": {volunteer}, "volunteer_note": {"Note " + volunteer}})
		case "office":
			act(find(p), url.Values{"action": {"confirm"}, "groups": groupIDs[:1]})
		case "fhir-moved-on":
			act(find(p), url.Values{"action": {"confirm"}, "groups": groupIDs[1:3]})
			act(groupLink(p, groupIDs[1]), url.Values{"action": {"decline"}, "reason": {"not-a-fit"}})
			g := groupLink(p, groupIDs[2])
			act(g, url.Values{"action": {"accept"}})
			act(g, url.Values{"action": {"not-connected"}})
		}
	}
	// A listing check, answered: its /l/ token is scanned for like the others.
	if st, _ := h.Admin(http.MethodPost, "/v1/admin/groups/"+groupIDs[0]+"/check", nil); st != http.StatusAccepted {
		t.Fatalf("listing check: %d", st)
	}
	sweepUntilQuiet(t, h, time.Minute, 50)
	listed := false
	for _, m := range h.Mails() {
		if l := apptest.LinkPattern.FindString(m.Body.Text); strings.HasPrefix(l, "/l/") && !listed {
			act(l, url.Values{"action": {"confirm"}})
			act(l, url.Values{"action": {"pause"}, "weeks": {"1"}})
			listed = true
		}
	}
	if !listed {
		t.Fatal("no listing check email")
	}
	// Error pages on bad links, and the expiry.
	keep(s.send(http.MethodGet, "/c/"+strings.Repeat("Q", 43), nil, nil))
	h.Advance(3 * time.Hour)
	sweepUntilQuiet(t, h, time.Minute, 50)
	for _, p := range pts {
		if p.life == "expired" {
			keep(s.send(http.MethodGet, find(p), nil, nil))
		}
	}
	// The office's notice came with the window: it answers for the group.
	offices := h.MailsTo("office@intergroup.example")
	if len(offices) != 1 {
		t.Fatalf("%d office notices, want 1", len(offices))
	}
	act(apptest.LinkPattern.FindString(offices[0].Body.Text), url.Values{"action": {"accept"}})
	// The first meetings' plans, reminders and check-ins; the patients
	// answer the check-in's link, and fetch the calendar file.
	var calendars []artefact
	for _, at := range []string{"2026-06-02 08:01", "2026-06-03 19:01", "2026-06-05 08:01", "2026-06-10 19:01", "2026-06-12 08:01", "2026-06-20 12:00"} {
		if d := pdt(at).Sub(h.Now()); d > 0 {
			h.Advance(d)
		}
		sweepUntilQuiet(t, h, time.Minute, 50)
		for _, p := range pts {
			if p.life == "texted" && at == "2026-06-02 08:01" {
				// Its volunteer's name came by text this morning, the first
				// text the day after its consent link's.
				act(groupLink(p, groupIDs[0]), url.Values{"action": {"connected"}})
			}
			if (p.life == "met-email" && at == "2026-06-05 08:01") || (p.life == "met-text" && at == "2026-06-12 08:01") {
				link := find(p)
				r := keep(s.send(http.MethodGet, link+"/meeting.ics", nil, nil))
				if r.status != http.StatusOK {
					t.Fatalf("%s: meeting.ics %d", p.life, r.status)
				}
				calendars = append(calendars, artefact{kind: "calendar file", text: string(r.body), to: p.email})
				act(link, url.Values{"action": {"attended"}})
			}
		}
	}
	for range 20 { // the refused status webhook's retry
		h.Advance(time.Minute)
		sweepUntilQuiet(t, h, time.Minute, 50)
	}
	want := map[string]string{"connected": "connected", "unverified": "connected", "self": "shared-with-patient",
		"declined": "declined", "revoked": "revoked", "cancelled": "cancelled", "expired": "expired", "fhir-moved-on": "not-connected",
		"texted": "connected", "text-failed": "declined", "met-email": "attended", "met-text": "attended", "office": "accepted"}
	for _, p := range pts {
		if st := h.Status(c, p.referralID).Status; string(st) != want[p.life] {
			t.Fatalf("%s ended %s", p.life, st)
		}
	}

	if !strings.Contains(h.Logs.String(), "MessageRejected") {
		t.Error("SES's refusal of an unverified recipient was not exercised")
	}

	// Gather the artefacts, and every link token sent.
	arts := lineArtefacts("log line", h.Logs.String())
	arts = append(arts, answers...)
	metricLines := lineArtefacts("metric line", h.Metrics.String())
	if len(metricLines) == 0 {
		t.Fatal("no CloudWatch metric line was written")
	}
	arts = append(arts, metricLines...)
	hookMu.Lock()
	for _, b := range hooks {
		arts = append(arts, artefact{kind: "status webhook", text: b})
	}
	hookMu.Unlock()
	if len(hooks) == 0 {
		t.Fatal("no status webhook was sent")
	}
	mails := h.Mails()
	var allTokens []marker
	for _, m := range mails {
		for _, l := range apptest.LinkPattern.FindAllString(m.Body.Text+m.Body.HTML, -1) {
			tok := l[3:]
			allTokens = append(allTokens, secret("link token", tok))
			for _, p := range pts {
				if m.Destination.To[0] == p.email || strings.Contains(m.Body.Text, p.given) {
					p.tokens = append(p.tokens, tok)
				}
			}
		}
		body := "Subject: " + m.Subject + "\n" + m.Body.Text + "\n" + m.Body.HTML
		switch to := m.Destination.To[0]; {
		case strings.HasSuffix(to, "@patient.example"):
			arts = append(arts, artefact{kind: "patient email subject", text: m.Subject, to: to})
			for _, a := range m.Attachments {
				b, err := a.Data()
				if err != nil {
					t.Fatal(err)
				}
				arts = append(arts, artefact{kind: "calendar file", text: string(b), to: to})
			}
		case to == "office@intergroup.example":
			arts = append(arts, artefact{kind: "office email", text: body, to: to})
		case strings.HasSuffix(to, "@groups.example"):
			arts = append(arts, artefact{kind: "group email", text: body, to: to})
		case to == "rivera@clinic.example":
			arts = append(arts, artefact{kind: "clinician email", text: body, to: to})
		default:
			t.Fatalf("an email to %s", to)
		}
	}
	arts = append(arts, calendars...)
	texts := h.Texts()
	groupTexts := len(h.TextsTo(groupPhone))
	if len(texts)-groupTexts != 7 {
		t.Fatalf("%d texts to patients, want 7 (the texted life's consent link and, as it prefers texts, who will reach out; the text-failed life's before the carrier refused it; the met-text life's link, plan, reminder and check-in)", len(texts)-groupTexts)
	}
	// 8 notices and the office life's reminder are due to the group's
	// contact within hours: its text limits (three a day) let the first
	// three go; the rest went by email only.
	if over := strings.Count(h.Metrics.String(), `"GroupTextsOverLimit":1`); groupTexts != 3 || over != 6 {
		t.Fatalf("%d texts to the group's contact and %d held back, want 3 and 6 (8 notices and the office life's reminder due)", groupTexts, over)
	}
	for _, m := range texts {
		for _, l := range apptest.LinkPattern.FindAllString(m.Body, -1) {
			tok := l[3:]
			allTokens = append(allTokens, secret("link token", tok))
			for _, p := range pts {
				if m.To == p.phone {
					p.tokens = append(p.tokens, tok)
				}
			}
		}
		kind := "text"
		if m.To == groupPhone {
			kind = "group text"
		}
		arts = append(arts, artefact{kind: kind, text: m.Body, to: m.To})
	}
	// The outcomes, as the operator and the clinic read them, JSON and CSV.
	for _, q := range []struct{ path, key, accept string }{
		{"/v1/admin/outcomes", apptest.AdminToken, ""}, {"/v1/admin/outcomes", apptest.AdminToken, "text/csv"},
		{"/v1/clinics/lakeside/outcomes", c.APIKey, ""}, {"/v1/clinics/lakeside/outcomes", c.APIKey, "text/csv"},
	} {
		hd := http.Header{"Authorization": {"Bearer " + q.key}}
		if q.accept != "" {
			hd.Set("Accept", q.accept)
		}
		st, _, b := h.Do(http.MethodGet, q.path, nil, hd)
		if st != http.StatusOK || !strings.Contains(string(b), "received") {
			t.Fatalf("GET %s: %d %s", q.path, st, b)
		}
		arts = append(arts, artefact{kind: "outcomes", text: string(b)})
	}
	// The operator's page, signed in.
	_, _, signIn := h.Do(http.MethodGet, "/admin", nil, nil)
	form := apptest.HiddenFields(signIn)
	form.Set("token", apptest.AdminToken)
	st, hd, _ := h.Do(http.MethodPost, "/admin/login", []byte(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {h.Server.URL}})
	if st != http.StatusSeeOther {
		t.Fatalf("operator sign-in: %d", st)
	}
	st, _, adminPage := h.Do(http.MethodGet, "/admin", nil, http.Header{"Cookie": {strings.Split(hd.Get("Set-Cookie"), ";")[0]}})
	if st != http.StatusOK || !strings.Contains(string(adminPage), "Outcomes") {
		t.Fatalf("the operator's page: %d", st)
	}
	arts = append(arts, artefact{kind: "outcomes", text: string(adminPage)})
	tables := dynamotest.Dump(t, h.DB, h.DB.Tables.Referrals) + dynamotest.Dump(t, h.DB, h.DB.Tables.Directory)
	arts = append(arts, artefact{kind: "tables as stored", text: tables})

	// Scan.
	scan := &leakScan{t: t}
	var words []marker
	for _, w := range clinicalWords {
		words = append(words, literal("clinical word", w))
	}
	everyTopic := topicMarkers([]string{"alcohol", "gambling", "grief"})
	markers := 0
	for _, p := range pts {
		markers += len(p.names()) + len(p.contact()) + len(p.clinical()) + len(p.tokens)
	}
	kinds := map[string]int{}
	for _, a := range arts {
		kinds[a.kind]++
		for _, p := range pts {
			switch a.kind {
			case "log line", "error page", "status webhook", "metric line":
				scan.none(a, "never", p.names()...)
				scan.none(a, "never", p.contact()...)
				scan.none(a, "never", p.clinical()...)
				scan.none(a, "never", p.tokenMarkers()...)
			case "problem body":
				// (Topic codes may appear: a refusal names the vocabulary.)
				scan.none(a, "never", p.names()...)
				scan.none(a, "never", p.contact()...)
				scan.none(a, "never", p.clinical()[:len(p.codes)*2]...)
				if p.note != "" {
					scan.none(a, "never", literal("clinical note", p.note))
				}
			case "tables as stored":
				scan.none(a, "sealed or never kept", p.names()...)
				scan.none(a, "sealed or never kept", p.contact()...)
				scan.none(a, "never kept", p.clinical()[:len(p.codes)*2]...)
				if p.note != "" {
					scan.none(a, "never kept", literal("clinical note", p.note))
				}
				scan.none(a, "only hashes kept", p.tokenMarkers()...)
			case "clinician email":
				scan.none(a, "no patient data", p.names()...)
				scan.none(a, "no patient data", p.contact()...)
				scan.none(a, "no patient data", p.clinical()...)
				scan.none(a, "no links", p.tokenMarkers()...)
			case "group email":
				scan.none(a, "family name", p.names()[1])
				scan.none(a, "clinical", p.clinical()...)
				// The phone is never chosen (these patients all have an email).
				scan.none(a, "a channel the patient did not choose", p.contact()[2:]...)
				if !strings.Contains(a.text, p.given) {
					// Another patient's notice: nothing of this one.
					scan.none(a, "another patient's", p.names()[0], p.contact()[0], p.contact()[1])
				}
				for _, tok := range p.tokens {
					if !strings.Contains(a.text, "/g/"+tok) {
						scan.none(a, "another link's token", secret("link token", tok))
					}
				}
			case "outcomes":
				// Counts per topic are the report's purpose; nothing else.
				scan.none(a, "counts only", p.names()...)
				scan.none(a, "counts only", p.contact()...)
				scan.none(a, "counts only", p.clinical()[:len(p.codes)*2]...)
				scan.none(a, "counts only", p.tokenMarkers()...)
			case "text":
				scan.none(a, "a lock screen shows it", p.names()...)
				scan.none(a, "a lock screen shows it", p.clinical()...)
				scan.none(a, "a lock screen shows it", everyTopic...)
				scan.none(a, "a lock screen shows it", words...)
				scan.none(a, "a lock screen shows it", literal("group name", "neutral-"))
				if a.to != p.phone {
					scan.none(a, "another patient's", p.tokenMarkers()...)
				}
			case "group text":
				scan.none(a, "a lock screen shows it", p.names()...)
				scan.none(a, "a lock screen shows it", p.contact()...)
				scan.none(a, "a lock screen shows it", p.clinical()...)
				scan.none(a, "a lock screen shows it", everyTopic...)
				scan.none(a, "a lock screen shows it", words...)
				scan.none(a, "a group's text holds its own link only", p.tokenMarkers()...)
			case "office email":
				scan.none(a, "the office learns nothing of the patient", p.names()...)
				scan.none(a, "the office learns nothing of the patient", p.contact()...)
				scan.none(a, "the office learns nothing of the patient", p.clinical()...)
				scan.none(a, "the office's own link only", p.tokenMarkers()...)
			case "calendar file":
				// Kept and synced far longer than a link lives; the group's
				// name and the volunteer's are the patient's own plan, but
				// nothing of the patient is in it.
				scan.none(a, "a calendar keeps it", p.names()...)
				scan.none(a, "a calendar keeps it", p.contact()...)
				scan.none(a, "a calendar keeps it", p.clinical()...)
				scan.none(a, "a calendar keeps it", everyTopic...)
				scan.none(a, "a calendar keeps it", words...)
				scan.none(a, "no link in a calendar", p.tokenMarkers()...)
				scan.none(a, "no link in a calendar", allTokens...)
			case "patient email subject":
				scan.none(a, "a lock screen shows it", everyTopic...)
				scan.none(a, "a lock screen shows it", words...)
				scan.none(a, "a lock screen shows it", p.clinical()...)
			}
		}
		if a.kind != "text" && a.kind != "calendar file" || !strings.Contains(a.text, volunteer) {
			// Only the patient's own message names the volunteer (and no
			// artefact here is one, but for a text to the texted patient).
			scan.none(a, "the volunteer's name", literal("volunteer name", volunteer))
		}
		if a.kind == "log line" || a.kind == "status webhook" || a.kind == "clinician email" || a.kind == "metric line" {
			scan.none(a, "never", allTokens...)
			scan.none(a, "never", everyTopic...)
		}
	}
	t.Logf("PHI scan: %d markers planted in %d referrals (+%d link tokens seen), %d artefacts (%s), %d checks, %d leaks",
		markers, len(pts), len(allTokens), len(arts), kindsText(kinds), scan.checks, scan.found)
}

func kindsText(m map[string]int) string {
	var parts []string
	for _, kv := range sortedCounts(m) {
		parts = append(parts, fmt.Sprintf("%s %d", kv.k, kv.v))
	}
	return strings.Join(parts, ", ")
}

// fhirReferral is a FHIR R4 ServiceRequest with its Patient contained, a
// clinical note and supporting free text (which handoff must ignore).
func fhirReferral(p *planted) []byte {
	var reasons []map[string]any
	for _, c := range p.codes {
		reasons = append(reasons, map[string]any{"coding": []map[string]string{{"system": c[0], "code": c[1]}}})
	}
	sr := map[string]any{
		"resourceType": "ServiceRequest",
		"status":       "active", "intent": "order",
		"contained": []map[string]any{
			{
				"resourceType": "Patient", "id": "pat",
				"name":    []map[string]any{{"given": []string{p.given}, "family": p.family}},
				"telecom": []map[string]string{{"system": "email", "value": p.email}, {"system": "phone", "value": p.phone}},
				"address": []map[string]string{{"postalCode": "94110", "country": "US"}},
			},
			{
				"resourceType": "Practitioner", "id": "dr",
				"name":    []map[string]any{{"given": []string{"Jan"}, "family": "Rivera"}},
				"telecom": []map[string]string{{"system": "email", "value": "rivera@clinic.example"}},
			},
		},
		"reasonCode": reasons,
		"subject":    map[string]string{"reference": "#pat"},
		"requester":  map[string]string{"reference": "#dr"},
		"note":       []map[string]string{{"text": p.note + " " + p.family + " history of " + p.codes[0][1]}},
	}
	if len(p.needs) > 0 {
		sr["code"] = map[string]any{"text": p.needs[0] + " " + p.note}
	}
	b, _ := json.Marshal(sr)
	return b
}
