package pages

import (
	"encoding/json"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/referral"
)

// clinicalWords must never appear in what a patient's mailbox shows, nor on a
// page built from neutral data: the text handoff itself writes carries none.
// Short codes are matched as whole words, the rest as parts of words, in any
// case, in English and Spanish.
var clinicalWords = []string{
	"alcohol", "drug", "droga", "addict", "adicc", "recovery", "recuperaci",
	"diagnos", "grief", "duelo", "cancer", "cáncer", "diabet", "depress", "depres",
	"substance", "sustancia", "sobriety", "sobri", "rehab", "narcotic", "narcótic",
	"gambling", "juego", "bipolar", "anxiety", "ansiedad", "trauma", "eating disorder",
	"chronic", "crónic", "caregiver", "therapy", "terapia", "treatment", "tratamiento",
	"psychiatr", "psiquiatr", "mental", "twelve-step", "12-step", "al-anon",
}

var clinicalCodes = []string{"AA", "NA", "F10", "F11", "ICD", "ICD-10", "SNOMED", "SUD"}

// extraForPatientMail are words allowed on pages but not in a patient's mailbox.
var extraForPatientMail = []string{"42 CFR", "SAMHSA", "crisis", "988", "suicid"}

// clinicalHits returns every clinical word or code found in s.
func clinicalHits(s string, extra ...string) []string {
	var hits []string
	lower := strings.ToLower(s)
	for _, w := range slices.Concat(clinicalWords, extra) {
		if strings.Contains(lower, strings.ToLower(w)) {
			hits = append(hits, w)
		}
	}
	for _, code := range clinicalCodes {
		if regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(code) + `\b`).MatchString(s) {
			hits = append(hits, code)
		}
	}
	return hits
}

func assertNoClinicalWords(t *testing.T, what, s string, extra ...string) {
	t.Helper()
	if hits := clinicalHits(s, extra...); len(hits) > 0 {
		t.Errorf("%s carries clinical words %q", what, hits)
	}
}

func assertContains(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func assertLacks(t *testing.T, what, s string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if u != "" && strings.Contains(s, u) {
			t.Errorf("%s contains %q", what, u)
		}
	}
}

// messageIDs are the catalogue's ids that contain a dot: none may show in
// output, which would mean a message was not translated.
func messageIDs(t *testing.T) []string {
	t.Helper()
	b, err := localeFS.ReadFile("locales/en.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range m {
		if strings.Contains(id, ".") {
			ids = append(ids, id)
		}
	}
	return ids
}

// assertTranslated checks that no message id and no missing template value
// shows in s.
func assertTranslated(t *testing.T, what, s string) {
	t.Helper()
	assertLacks(t, what, s, messageIDs(t)...)
	assertLacks(t, what, s, "<no value>", "&lt;no value&gt;", "%!")
}

var (
	tagRE   = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:[^>"']|"[^"]*"|'[^']*')*)>`)
	attrRE  = regexp.MustCompile(`([a-zA-Z-]+)(?:="([^"]*)")?`)
	spaceRE = regexp.MustCompile(`\s+`)
)

type tag struct {
	name  string
	close bool
	attrs map[string]string
}

// tags lists the tags of generated HTML. Our templates quote every attribute
// and escape every value, so a regular expression is enough here.
func tags(s string) []tag {
	var out []tag
	for _, m := range tagRE.FindAllStringSubmatch(s, -1) {
		tg := tag{name: strings.ToLower(m[2]), close: m[1] == "/", attrs: map[string]string{}}
		for _, a := range attrRE.FindAllStringSubmatch(m[3], -1) {
			tg.attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		out = append(out, tg)
	}
	return out
}

// visibleText is the page's text with tags removed, entities decoded and
// white space collapsed.
func visibleText(s string) string {
	s = regexp.MustCompile(`(?s)<head>.*?</head>`).ReplaceAllString(s, " ")
	s = tagRE.ReplaceAllString(s, " ")
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(s), " "))
}

// assertAccessiblePage checks what a page's markup can show on its own (axe
// covers the rest in a browser): a lang attribute, one main, one h1, headings
// in order, a label for every visible control, unique ids, a skip link that
// lands on main, no inline style or script (the CSP forbids both).
func assertAccessiblePage(t *testing.T, what, page string) {
	t.Helper()
	ts := tags(page)
	count := map[string]int{}
	ids := map[string]bool{}
	labels := map[string]bool{}
	var inputs []string
	last := 0
	for _, tg := range ts {
		if tg.close {
			continue
		}
		count[tg.name]++
		if id, ok := tg.attrs["id"]; ok {
			if ids[id] {
				t.Errorf("%s: duplicate id %q", what, id)
			}
			ids[id] = true
		}
		if _, ok := tg.attrs["style"]; ok {
			t.Errorf("%s: inline style on <%s>", what, tg.name)
		}
		if len(tg.name) == 2 && tg.name[0] == 'h' && tg.name[1] >= '1' && tg.name[1] <= '6' {
			level, _ := strconv.Atoi(tg.name[1:])
			if level > last+1 {
				t.Errorf("%s: <%s> follows h%d", what, tg.name, last)
			}
			last = level
		}
		switch tg.name {
		case "label":
			labels[tg.attrs["for"]] = true
		case "input", "select", "textarea":
			if tg.attrs["type"] != "hidden" {
				inputs = append(inputs, tg.attrs["id"])
			}
		case "html":
			if l := tg.attrs["lang"]; l != "en" && l != "es" {
				t.Errorf("%s: <html lang=%q>", what, l)
			}
		}
	}
	for _, id := range inputs {
		if id == "" || !labels[id] {
			t.Errorf("%s: control %q has no label", what, id)
		}
	}
	if count["main"] != 1 || count["h1"] != 1 || count["html"] != 1 || count["title"] != 1 {
		t.Errorf("%s: want one each of html, title, main, h1; got %v", what, count)
	}
	if count["script"] > 0 || count["style"] > 0 {
		t.Errorf("%s: has <script> or <style>", what)
	}
	if count["fieldset"] != count["legend"] {
		t.Errorf("%s: %d fieldsets but %d legends", what, count["fieldset"], count["legend"])
	}
	if !strings.Contains(page, `<a class="skip" href="#main">`) || !strings.Contains(page, `<main id="main"`) {
		t.Errorf("%s: no skip link to main", what)
	}
}

// hostileNames are values a patient, clinic or group might type that must
// come out escaped.
var hostileNames = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
}

// assertEscaped checks that no hostile value made it into the markup: no
// script, img or svg element, no event handler attribute, and none of the
// values verbatim.
func assertEscaped(t *testing.T, what, out string) {
	t.Helper()
	for _, tg := range tags(out) {
		if tg.name == "script" || tg.name == "img" || tg.name == "svg" {
			t.Errorf("%s: raw <%s> element", what, tg.name)
		}
		for a := range tg.attrs {
			if strings.HasPrefix(a, "on") {
				t.Errorf("%s: event handler attribute %q on <%s>", what, a, tg.name)
			}
		}
	}
	for _, bad := range hostileNames {
		if strings.Contains(out, bad) {
			t.Errorf("%s: %q shown unescaped", what, bad)
		}
	}
}

var (
	testExpiry = time.Date(2026, time.March, 14, 17, 30, 0, 0, time.UTC)
	testSigned = time.Date(2026, time.March, 7, 9, 5, 0, 0, time.UTC)
)

// testGroups are three neutral offers: in person, online and hybrid.
func testGroups() []GroupOffer {
	return []GroupOffer{
		{ID: "grp-01", Name: "Mission Tuesday Circle", Format: FormatInPerson, When: "Tuesdays 7:30 pm", DistanceKm: 2.4, Where: "Mission District, San Francisco"},
		{ID: "grp-02", Name: "Evening Online Group", Format: FormatOnline, When: "Mondays and Thursdays 8 pm", OnlineHow: "Video call; the link comes by email"},
		{ID: "grp-03", Name: "Bernal Heights Saturday Group", Format: FormatHybrid, When: "Saturdays 10 am", DistanceKm: 5.1, Where: "Bernal Heights"},
	}
}

func testConsentView(lang string, state ConsentState) ConsentView {
	channel := "your email address a***@example.org"
	if lang == Spanish {
		channel = "su correo electrónico a***@example.org"
	}
	return ConsentView{
		Lang:       lang,
		ClinicName: "Lakeside Health Center",
		GivenName:  "Ana",
		Channel:    channel,
		Groups:     testGroups(),
		ExpiresAt:  testExpiry,
		State:      state,
		CSRFToken:  "tok-csrf-123",
		ActionURL:  "/c/AbCdEf0123456789",
	}
}

func testGroupView(lang string, state referral.RouteStatus) GroupView {
	return GroupView{
		Lang:              lang,
		GroupName:         "Mission Tuesday Circle",
		ClinicName:        "Lakeside Health Center",
		GivenName:         "Ana",
		Contact:           "ana.diaz@example.org",
		PreferredLanguage: "es",
		PreferredTimes:    "weekday evenings",
		CSRFToken:         "tok-csrf-456",
		ActionURL:         "/g/ZyXwVu9876543210",
		AnswerBy:          testExpiry,
		State:             state,
	}
}
