package ehr

import "testing"

func TestFrameOrigin(t *testing.T) {
	for raw, want := range map[string]string{
		"https://EHR.example.org":      "https://ehr.example.org",
		"https://ehr.example.org:8443": "https://ehr.example.org:8443",
		"https://ehr.example.org/":     "https://ehr.example.org",
		"http://127.0.0.1:9000":        "http://127.0.0.1:9000",
		"http://ehr.example.org":       "",
		"https://ehr.example.org/app":  "",
		"https://ehr.example.org?x":    "",
		"https://ehr.example.org#x":    "",
		"https://u:p@ehr.example.org":  "",
		"https://*.example.org":        "",
		"https://ehr.example.org;x":    "",
		"https://a.org https://b.org":  "",
		"'self'":                       "",
		"":                             "",
	} {
		got, ok := frameOrigin(raw, true)
		if got != want || ok != (want != "") {
			t.Errorf("frameOrigin(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}
