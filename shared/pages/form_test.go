package pages

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

func formRequest(contentType, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/c/tok?lang=es&action=revoke", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

const formType = "application/x-www-form-urlencoded"

func TestParseConsentForm(t *testing.T) {
	many := strings.Repeat("groups=g1&groups=g2&groups=g3&groups=g4&groups=g5&groups=g6&", 2) + "groups=g7&groups=g8&groups=g9&groups=g10&groups=g11&action=confirm"
	cases := []struct {
		name        string
		contentType string
		body        string
		want        ConsentForm
		code        problem.Code
		field       string
	}{
		{"confirm introduce", formType, "csrf=abc&groups=grp-01&groups=grp-03&mode=introduce&action=confirm",
			ConsentForm{Action: ActionConfirm, Mode: ModeIntroduce, Groups: []string{"grp-01", "grp-03"}, CSRF: "abc"}, "", ""},
		{"confirm self", formType, "csrf=abc&groups=grp-02&mode=self&action=confirm",
			ConsentForm{Action: ActionConfirm, Mode: ModeSelf, Groups: []string{"grp-02"}, CSRF: "abc"}, "", ""},
		{"mode defaults to introduce", formType, "groups=grp-02&action=confirm",
			ConsentForm{Action: ActionConfirm, Mode: ModeIntroduce, Groups: []string{"grp-02"}}, "", ""},
		{"repeated groups kept once in order", formType, "groups=b&groups=a&groups=b&action=confirm",
			ConsentForm{Action: ActionConfirm, Mode: ModeIntroduce, Groups: []string{"b", "a"}}, "", ""},
		{"charset parameter", formType + "; charset=UTF-8", "groups=a&action=confirm",
			ConsentForm{Action: ActionConfirm, Mode: ModeIntroduce, Groups: []string{"a"}}, "", ""},
		{"decline ignores groups and mode", formType, "csrf=abc&groups=grp-01&mode=nonsense&action=decline",
			ConsentForm{Action: ActionDecline, CSRF: "abc"}, "", ""},
		{"revoke", formType, "csrf=abc&action=revoke", ConsentForm{Action: ActionRevoke, CSRF: "abc"}, "", ""},
		{"unknown fields ignored", formType, "action=revoke&utm=x", ConsentForm{Action: ActionRevoke}, "", ""},

		{"json body", "application/json", `{"action":"confirm"}`, ConsentForm{}, problem.UnsupportedMedia, ""},
		{"multipart body", "multipart/form-data; boundary=x", "--x--", ConsentForm{}, problem.UnsupportedMedia, ""},
		{"no content type", "", "action=revoke", ConsentForm{}, problem.UnsupportedMedia, ""},
		{"too large", formType, "action=revoke&pad=" + strings.Repeat("a", MaxFormBytes), ConsentForm{}, problem.TooLarge, ""},
		{"bad escape", formType, "action=%zz", ConsentForm{}, problem.Malformed, ""},
		{"semicolon separator", formType, "action=revoke;csrf=x", ConsentForm{}, problem.Malformed, ""},
		{"not utf-8", formType, "action=revoke&csrf=%ff%fe", ConsentForm{}, problem.Malformed, ""},
		{"no action", formType, "groups=a", ConsentForm{}, problem.Invalid, "action"},
		{"action from the query only", formType, "", ConsentForm{}, problem.Invalid, "action"},
		{"unknown action", formType, "action=accept", ConsentForm{}, problem.Invalid, "action"},
		{"two actions", formType, "action=confirm&action=decline&groups=a", ConsentForm{}, problem.Invalid, "action"},
		{"unknown mode", formType, "action=confirm&mode=all&groups=a", ConsentForm{}, problem.Invalid, "mode"},
		{"no group", formType, "action=confirm", ConsentForm{}, problem.Invalid, "groups"},
		{"too many groups", formType, many, ConsentForm{}, problem.Invalid, "groups"},
		{"bad group id", formType, "action=confirm&groups=%3Cscript%3E", ConsentForm{}, problem.Invalid, "groups"},
		{"long group id", formType, "action=confirm&groups=" + strings.Repeat("g", 65), ConsentForm{}, problem.Invalid, "groups"},
		{"empty group id", formType, "action=confirm&groups=", ConsentForm{}, problem.Invalid, "groups"},
		{"long csrf", formType, "action=revoke&csrf=" + strings.Repeat("c", 129), ConsentForm{}, problem.Invalid, "csrf"},
		{"two csrf", formType, "action=revoke&csrf=a&csrf=b", ConsentForm{}, problem.Invalid, "csrf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConsentForm(formRequest(tc.contentType, tc.body))
			checkFormResult(t, err, tc.code, tc.field, tc.body)
			if tc.code == "" && !equalConsentForms(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func equalConsentForms(a, b ConsentForm) bool {
	return a.Action == b.Action && a.Mode == b.Mode && a.CSRF == b.CSRF && slices.Equal(a.Groups, b.Groups)
}

// checkFormResult checks an error's code and field, and that it repeats
// nothing that was sent.
func checkFormResult(t *testing.T, err error, code problem.Code, field, body string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if !problem.Is(err, code) {
		t.Fatalf("error %v, want code %s", err, code)
	}
	b := problem.BodyOf(err)
	if field != "" && (len(b.Errors) == 0 || b.Errors[0].Field != field) {
		t.Errorf("field errors %+v, want %s", b.Errors, field)
	}
	for _, part := range []string{"script", "%3C", "nonsense", "all", "zz"} {
		if strings.Contains(body, part) && strings.Contains(b.Detail+errorsText(b.Errors), part) {
			t.Errorf("error repeats the value %q", part)
		}
	}
}

func errorsText(fs []problem.FieldError) string {
	var s strings.Builder
	for _, f := range fs {
		s.WriteString(f.Detail)
	}
	return s.String()
}

// groupFormCase is a group form's body and what ParseGroupForm makes of
// it: the form, or the problem's code and the field it names.
type groupFormCase struct {
	name  string
	body  string
	want  GroupForm
	code  problem.Code
	field string
}

func testParseGroupForm(t *testing.T, cases []groupFormCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGroupForm(formRequest(formType, tc.body))
			checkFormResult(t, err, tc.code, tc.field, tc.body)
			if tc.code == "" && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseGroupForm(t *testing.T) {
	cases := []groupFormCase{
		{"accept", "csrf=abc&action=accept", GroupForm{Action: ActionAccept, CSRF: "abc"}, "", ""},
		{"accept ignores a ticked reason", "action=accept&reason=other", GroupForm{Action: ActionAccept}, "", ""},
		{"connected", "action=connected", GroupForm{Action: ActionConnected}, "", ""},
		{"not connected", "action=not-connected", GroupForm{Action: ActionNotConnected}, "", ""},
		{"no action", "csrf=abc", GroupForm{}, problem.Invalid, "action"},
		{"consent action", "action=confirm", GroupForm{}, problem.Invalid, "action"},
		{"decline without reason", "action=decline", GroupForm{}, problem.Invalid, "reason"},
		{"decline with unknown reason", "action=decline&reason=busy", GroupForm{}, problem.Invalid, "reason"},
		{"decline with two reasons", "action=decline&reason=other&reason=not-a-fit", GroupForm{}, problem.Invalid, "reason"},
	}
	for _, r := range referral.DeclineReasons {
		cases = append(cases, groupFormCase{"decline " + r, "csrf=x&action=decline&reason=" + r, GroupForm{Action: ActionDecline, Reason: r, CSRF: "x"}, "", ""})
	}
	testParseGroupForm(t, cases)
}

func TestParseFormBodyLimits(t *testing.T) {
	t.Run("declared length over the limit is refused unread", func(t *testing.T) {
		r := formRequest(formType, "action=accept")
		r.ContentLength = MaxFormBytes + 1
		if _, err := ParseGroupForm(r); !problem.Is(err, problem.TooLarge) {
			t.Errorf("error %v, want too-large", err)
		}
	})
	t.Run("unknown length over the limit stops reading", func(t *testing.T) {
		body := &countingReader{r: strings.NewReader("action=accept&pad=" + strings.Repeat("x", 1<<20))}
		r := httptest.NewRequest(http.MethodPost, "/g/tok", body)
		r.Header.Set("Content-Type", formType)
		r.ContentLength = -1
		if _, err := ParseGroupForm(r); !problem.Is(err, problem.TooLarge) {
			t.Errorf("error %v, want too-large", err)
		}
		if body.n > MaxFormBytes+4096 {
			t.Errorf("read %d bytes of a body over the limit", body.n)
		}
	})
	t.Run("exactly the limit is read", func(t *testing.T) {
		body := "action=accept&pad="
		body += strings.Repeat("x", MaxFormBytes-len(body))
		if _, err := ParseGroupForm(formRequest(formType, body)); err != nil {
			t.Errorf("error %v", err)
		}
	})
	t.Run("no body", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/g/tok", nil)
		r.Header.Set("Content-Type", formType)
		r.Body = nil
		if _, err := ParseGroupForm(r); !problem.Is(err, problem.Invalid) {
			t.Errorf("error %v, want invalid", err)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// formCodes are the only codes form parsing may answer with.
var formCodes = []problem.Code{problem.Malformed, problem.Invalid, problem.UnsupportedMedia, problem.TooLarge}

func FuzzParseConsentForm(f *testing.F) {
	f.Add(formType, "csrf=abc&groups=grp-01&groups=grp-03&mode=introduce&action=confirm")
	f.Add(formType, "action=decline")
	f.Add(formType+"; charset=utf-8", "action=revoke&csrf=x")
	f.Add(formType, "action=confirm&groups=a&groups=a&mode=self")
	f.Add(formType, "action=%zz;x")
	f.Add("text/plain", "action=confirm")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		got, err := ParseConsentForm(formRequest(contentType, body))
		if err != nil {
			if !slices.Contains(formCodes, problem.CodeOf(err)) {
				t.Fatalf("error with code %s: %v", problem.CodeOf(err), err)
			}
			return
		}
		switch got.Action {
		case ActionConfirm:
			if got.Mode != ModeIntroduce && got.Mode != ModeSelf {
				t.Fatalf("mode %q", got.Mode)
			}
			if len(got.Groups) == 0 || len(got.Groups) > MaxGroups {
				t.Fatalf("%d groups", len(got.Groups))
			}
			for i, id := range got.Groups {
				if !validGroupID(id) || slices.Contains(got.Groups[:i], id) {
					t.Fatalf("group id %q", id)
				}
			}
		case ActionDecline, ActionRevoke:
			if got.Mode != "" || got.Groups != nil {
				t.Fatalf("decline or revoke carries %+v", got)
			}
		default:
			t.Fatalf("action %q", got.Action)
		}
		if len(got.CSRF) > maxCSRFLen {
			t.Fatalf("csrf of %d bytes", len(got.CSRF))
		}
	})
}

func FuzzParseGroupForm(f *testing.F) {
	f.Add(formType, "csrf=abc&action=accept")
	f.Add(formType, "action=decline&reason=no-capacity")
	f.Add(formType, "action=decline&reason=other&reason=other")
	f.Add(formType, "action=not-connected")
	f.Add("application/json", "{}")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		got, err := ParseGroupForm(formRequest(contentType, body))
		if err != nil {
			if !slices.Contains(formCodes, problem.CodeOf(err)) {
				t.Fatalf("error with code %s: %v", problem.CodeOf(err), err)
			}
			return
		}
		switch got.Action {
		case ActionDecline:
			if !slices.Contains(referral.DeclineReasons, got.Reason) {
				t.Fatalf("reason %q", got.Reason)
			}
		case ActionAccept, ActionConnected, ActionNotConnected:
			if got.Reason != "" {
				t.Fatalf("reason %q without a decline", got.Reason)
			}
		default:
			t.Fatalf("action %q", got.Action)
		}
	})
}
