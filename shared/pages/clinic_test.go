package pages

import (
	"regexp"
	"strings"
	"testing"
)

// The referral form's choice fieldsets (language, format, spirituality,
// accessibility) come from the layout's one "choices" template: each input
// named after its field, with an id its label names, the typed values
// kept, and the field's error inside its fieldset — in both languages.
func TestRenderClinicFormChoices(t *testing.T) {
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			v := ClinicFormView{
				ClinicPage: ClinicPage{Lang: lang, ClinicName: "Lakeside", StaffName: "Jan Rivera", CSRFToken: "tok", Path: "/clinic/new"},
				FormKey:    strings.Repeat("k", 43),
				Values:     ClinicForm{Language: "es", Formats: []string{"online"}, Spirituality: "secular", Accessibility: []string{"wheelchair"}},
				Errors:     map[string]bool{"format": true, "spirituality": true, "accessibility": true},
			}
			var b strings.Builder
			if err := RenderClinicForm(&b, v); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			tr, err := newTr(lang)
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name, field, typ, checked, errID string
			}{
				{name: "language", field: "language", typ: "radio", checked: "es"},
				{name: "format", field: "format", typ: "checkbox", checked: "online", errID: "clinic.error.format"},
				{name: "spirituality", field: "spirituality", typ: "radio", checked: "secular", errID: "clinic.error.spirituality"},
				{name: "accessibility", field: "accessibility", typ: "checkbox", checked: "wheelchair", errID: "clinic.error.accessibility"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					set := regexp.MustCompile(`(?s)<fieldset>\s*<legend>[^<]*</legend>(?:<p class="error">[^<]*</p>)?\s*(?:<div class="choice">\s*<input type="` + tc.typ + `" id="` + tc.field + `-[^"]+" name="` + tc.field + `"[^>]*>.*?</div>\s*)+</fieldset>`).FindString(page)
					if set == "" {
						t.Fatalf("no fieldset of %s inputs named %s", tc.typ, tc.field)
					}
					if !strings.Contains(set, `value="`+tc.checked+`" checked>`) {
						t.Errorf("the typed %q is not kept", tc.checked)
					}
					for _, id := range regexp.MustCompile(`id="([^"]+)"`).FindAllStringSubmatch(set, -1) {
						if !strings.Contains(set, `<label for="`+id[1]+`">`) {
							t.Errorf("input %s has no label", id[1])
						}
					}
					if tc.errID != "" {
						msg, _ := tr.T(tc.errID)
						if !strings.Contains(set, `<p class="error">`+htmlEscape(msg)+`</p>`) {
							t.Errorf("the field's error %q is not in its fieldset", msg)
						}
					}
				})
			}
		})
	}
}
