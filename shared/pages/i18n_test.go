package pages

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLang(t *testing.T) {
	cases := []struct{ tag, want string }{
		{"es", Spanish}, {"es-MX", Spanish}, {"es_419", Spanish}, {"ES-us", Spanish}, {" es ", Spanish},
		{"en", English}, {"en-US", English}, {"fr", English}, {"", English}, {"esperanto", English}, {"e", English},
	}
	for _, tc := range cases {
		t.Run(tc.tag, func(t *testing.T) {
			if got := Lang(tc.tag); got != tc.want {
				t.Errorf("Lang(%q) = %q, want %q", tc.tag, got, tc.want)
			}
		})
	}
}

func TestRequestLang(t *testing.T) {
	cases := []struct {
		name, query, accept, preferred, want string
	}{
		{"switch link wins", "lang=es", "en-US", "en", Spanish},
		{"switch link back", "lang=en", "es-MX", "es", English},
		{"unknown switch value ignored", "lang=fr", "", "es", Spanish},
		{"preferred language", "", "en-US,en;q=0.9", "es-MX", Spanish},
		{"browser language", "", "es-419,es;q=0.9,en;q=0.5", "", Spanish},
		{"browser language english", "", "en-GB", "", English},
		{"bad header", "", ";;;", "", English},
		{"nothing", "", "", "", English},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/c/tok?"+tc.query, nil)
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			if got := RequestLang(r, tc.preferred); got != tc.want {
				t.Errorf("RequestLang = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCatalogueComplete checks that both languages have exactly the same
// messages, with the same template fields and plural forms.
func TestCatalogueComplete(t *testing.T) {
	load := func(lang string) map[string]any {
		b, err := localeFS.ReadFile("locales/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		return m
	}
	en, es := load(English), load(Spanish)
	if a, b := slices.Sorted(maps.Keys(en)), slices.Sorted(maps.Keys(es)); !slices.Equal(a, b) {
		for _, k := range a {
			if _, ok := es[k]; !ok {
				t.Errorf("es lacks %s", k)
			}
		}
		for _, k := range b {
			if _, ok := en[k]; !ok {
				t.Errorf("en lacks %s", k)
			}
		}
	}
	fieldsOf := func(v any) []string {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				s += v[k].(string)
			}
		}
		var out []string
		for _, part := range strings.Split(s, "{{.")[1:] {
			name, _, _ := strings.Cut(part, "}}")
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	for id, v := range en {
		w, ok := es[id]
		if !ok {
			continue
		}
		if a, b := fieldsOf(v), fieldsOf(w); !slices.Equal(a, b) {
			t.Errorf("%s: en uses %v, es uses %v", id, a, b)
		}
		if m, ok := v.(map[string]any); ok {
			n, ok := w.(map[string]any)
			if !ok || !slices.Equal(slices.Sorted(maps.Keys(m)), slices.Sorted(maps.Keys(n))) {
				t.Errorf("%s: plural forms differ", id)
			}
		}
	}
	for _, lang := range Languages() {
		tr, err := newTr(lang)
		if err != nil {
			t.Fatal(err)
		}
		for id, v := range en {
			if _, plural := v.(map[string]any); plural {
				for _, n := range []int{1, 2} {
					if _, err := tr.N(id, n); err != nil {
						t.Errorf("%s %s(%d): %v", lang, id, n, err)
					}
				}
				continue
			}
			if _, err := tr.T(id); err != nil {
				t.Errorf("%s %s: %v", lang, id, err)
			}
		}
	}
}

func TestTranslatorRefusesMistakes(t *testing.T) {
	tr, err := newTr(Spanish)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.T("no.such.message"); err == nil {
		t.Error("a missing message gave no error")
	}
	if _, err := tr.T("consent.title", "Clinic"); err == nil {
		t.Error("an odd argument list gave no error")
	}
	if _, err := tr.T("consent.title", 1, "x"); err == nil {
		t.Error("a non-string key gave no error")
	}
}

func TestDate(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	cases := []struct {
		lang string
		at   time.Time
		want string
	}{
		{English, testExpiry, "Saturday, March 14, 2026, 5:30 pm UTC"},
		{Spanish, testExpiry, "sábado 14 de marzo de 2026, 17:30 UTC"},
		{English, time.Date(2026, 1, 1, 0, 5, 0, 0, ny), "Thursday, January 1, 2026, 12:05 am EST"},
		{Spanish, time.Date(2026, 7, 4, 9, 0, 0, 0, ny), "sábado 4 de julio de 2026, 09:00 EDT"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			tr, err := newTr(tc.lang)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Date(tc.at)
			if err != nil || got != tc.want {
				t.Errorf("Date = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	cases := []struct {
		lang string
		km   float64
		want string
	}{
		{English, 0.3, "Less than 1 mile away"},
		{English, 1.6, "About 1 mile away (1.6 km)"},
		{English, 5.1, "About 3 miles away (5.1 km)"},
		{English, 20, "About 12 miles away (20 km)"},
		{Spanish, 0.5, "A menos de 1 milla"},
		{Spanish, 1.7, "A cerca de 1 milla (1,7 km)"},
		{Spanish, 12.34, "A unas 8 millas (12,3 km)"},
	}
	for _, tc := range cases {
		t.Run(tc.lang+"/"+tc.want, func(t *testing.T) {
			tr, err := newTr(tc.lang)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Distance(tc.km)
			if err != nil || got != tc.want {
				t.Errorf("Distance(%v) = %q, %v; want %q", tc.km, got, err, tc.want)
			}
		})
	}
}

func TestLanguageName(t *testing.T) {
	cases := []struct{ lang, code, want string }{
		{English, "es", "Spanish"}, {English, "es-MX", "Spanish"}, {Spanish, "en", "inglés"},
		{English, "vi", "Vietnamese"}, {Spanish, "zh-Hant", "chino"},
		{English, "xx", "xx"}, {English, "Spanish, please", "Spanish, please"},
	}
	for _, tc := range cases {
		t.Run(tc.lang+"/"+tc.code, func(t *testing.T) {
			tr, err := newTr(tc.lang)
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.LanguageName(tc.code); got != tc.want {
				t.Errorf("LanguageName(%q) = %q, want %q", tc.code, got, tc.want)
			}
		})
	}
}

func TestContactChannel(t *testing.T) {
	cases := []struct {
		lang, kind, masked, want string
		fails                    bool
	}{
		{English, "email", "a***@example.org", "your email address a***@example.org", false},
		{Spanish, "email", "a***@example.org", "su correo electrónico a***@example.org", false},
		{English, "phone", "•••• 00", "your phone number •••• 00", false},
		{Spanish, "phone", "•••• 00", "su número de teléfono •••• 00", false},
		{English, "fax", "x", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.lang+"/"+tc.kind, func(t *testing.T) {
			got, err := ContactChannel(tc.lang, tc.kind, tc.masked)
			if (err != nil) != tc.fails || got != tc.want {
				t.Errorf("ContactChannel = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestMasks(t *testing.T) {
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"email", MaskEmail("ana.diaz@example.org"), "a***@example.org"},
		{"email with accents", MaskEmail("élodie@example.org"), "é***@example.org"},
		{"email without at", MaskEmail("ana.example.org"), "***"},
		{"email without local part", MaskEmail("@example.org"), "***"},
		{"phone", MaskPhone("+1 (415) 555-0100"), "•••• 00"},
		{"short phone", MaskPhone("123"), "••••"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestPreferredTimesText(t *testing.T) {
	cases := []struct {
		lang        string
		days, times []string
		want        string
		fails       bool
	}{
		{English, []string{"mon", "wed"}, []string{"evening"}, "Mondays, Wednesdays; evenings", false},
		{Spanish, []string{"sat"}, []string{"morning", "afternoon"}, "los sábados; por la mañana, por la tarde", false},
		{English, nil, []string{"evening"}, "evenings", false},
		{English, []string{"sun"}, nil, "Sundays", false},
		{English, nil, nil, "", false},
		{English, []string{"someday"}, nil, "", true},
		{English, nil, []string{"night"}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.lang+"/"+tc.want, func(t *testing.T) {
			got, err := PreferredTimesText(tc.lang, tc.days, tc.times)
			if (err != nil) != tc.fails || got != tc.want {
				t.Errorf("PreferredTimesText = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Ana", "Ana"},
		{" Ana\r\nBcc: x ", "Ana  Bcc: x"},
		{"a\tb\x00c\u0085d", "a b c d"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := oneLine(tc.in); got != tc.want {
				t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
