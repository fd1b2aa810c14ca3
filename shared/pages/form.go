package pages

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Form actions, the value of the "action" button that was pressed.
const (
	ActionConfirm      = "confirm"       // consent page
	ActionDecline      = "decline"       // consent page and group page
	ActionRevoke       = "revoke"        // consent page, once confirmed
	ActionAccept       = "accept"        // group page
	ActionConnected    = "connected"     // group page, once accepted
	ActionNotConnected = "not-connected" // group page, once accepted
)

// Form limits.
const (
	MaxFormBytes   = 16 << 10 // a form body larger than this is refused
	MaxGroups      = 10       // groups a patient may pick at once
	maxGroupIDLen  = 64
	maxCSRFLen     = 128
	formMediaType  = "application/x-www-form-urlencoded"
	consentActions = "confirm, decline or revoke"
	groupActions   = "accept, decline, connected or not-connected"
)

// ConsentForm is a posted consent page form.
type ConsentForm struct {
	Action string // ActionConfirm, ActionDecline or ActionRevoke
	// Mode and Groups are set for a confirm only: ModeIntroduce (the default) or
	// ModeSelf, and 1 to MaxGroups distinct group ids in the order posted.
	Mode   string
	Groups []string
	CSRF   string // the posted anti-CSRF token; check it with CSRF.Check
}

// GroupForm is a posted group page form.
type GroupForm struct {
	Action string // ActionAccept, ActionDecline, ActionConnected or ActionNotConnected
	Reason string // for a decline only: one of referral.DeclineReasons
	// VolunteerName and VolunteerNote, for an accept only and optional: the
	// first name of who will reach out (at most MaxVolunteerName
	// characters) and a short plain-text note to the patient (at most
	// MaxVolunteerNote, no links).
	VolunteerName string
	VolunteerNote string
	CSRF          string // the posted anti-CSRF token; check it with CSRF.Check
}

// Limits of what a group may tell the patient about its volunteer.
const (
	MaxVolunteerName = 40
	MaxVolunteerNote = 280
)

// ParseConsentForm reads a consent page POST. It reads the body itself (at most
// MaxFormBytes) and ignores the URL's query and unknown fields. For a decline or
// revoke, mode and groups are ignored. Errors are *problem.Error:
// UnsupportedMedia for a body that is not application/x-www-form-urlencoded,
// TooLarge, Malformed for a body that cannot be decoded or is not UTF-8, and
// Invalid (naming the field, never its value) for a missing or unknown action,
// an unknown mode, no group, more than MaxGroups groups, a group id that is not
// 1–64 letters, digits, '-', '_', '.' or ':', or a repeated or overlong field.
func ParseConsentForm(r *http.Request) (ConsentForm, error) {
	values, err := readForm(r)
	if err != nil {
		return ConsentForm{}, err
	}
	var f ConsentForm
	var fields []problem.FieldError
	f.Action, fields = one(values, "action", fields)
	f.CSRF, fields = csrfField(values, fields)
	switch f.Action {
	case ActionConfirm:
		f.Mode, fields = one(values, "mode", fields)
		if f.Mode == "" {
			f.Mode = ModeIntroduce
		}
		if f.Mode != ModeIntroduce && f.Mode != ModeSelf {
			fields = append(fields, problem.FieldError{Field: "mode", Detail: "Choose introduce or self."})
		}
		f.Groups, fields = groupIDs(values["groups"], fields)
	case ActionDecline, ActionRevoke:
	default:
		fields = append(fields, problem.FieldError{Field: "action", Detail: "Choose " + consentActions + "."})
	}
	if len(fields) > 0 {
		return ConsentForm{}, problem.Invalidf(fields, "The form is not complete.")
	}
	return f, nil
}

// ParseGroupForm reads a group page POST, with the same limits and errors as
// ParseConsentForm. reason is required for a decline and ignored otherwise.
func ParseGroupForm(r *http.Request) (GroupForm, error) {
	values, err := readForm(r)
	if err != nil {
		return GroupForm{}, err
	}
	var f GroupForm
	var fields []problem.FieldError
	f.Action, fields = one(values, "action", fields)
	f.CSRF, fields = csrfField(values, fields)
	switch f.Action {
	case ActionDecline:
		f.Reason, fields = one(values, "reason", fields)
		if !slices.Contains(referral.DeclineReasons, f.Reason) {
			fields = append(fields, problem.FieldError{Field: "reason", Detail: "Choose no-capacity, not-a-fit, out-of-area or other."})
		}
	case ActionAccept:
		f.VolunteerName, fields = one(values, "volunteer_name", fields)
		f.VolunteerNote, fields = one(values, "volunteer_note", fields)
		f.VolunteerName, f.VolunteerNote = strings.TrimSpace(f.VolunteerName), strings.TrimSpace(f.VolunteerNote)
		if !firstName(f.VolunteerName) {
			fields = append(fields, problem.FieldError{Field: "volunteer_name",
				Detail: fmt.Sprintf("Give a first name only: letters, at most %d characters.", MaxVolunteerName)})
		}
		if utf8.RuneCountInString(f.VolunteerNote) > MaxVolunteerNote ||
			strings.ContainsFunc(f.VolunteerNote, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' }) {
			fields = append(fields, problem.FieldError{Field: "volunteer_note",
				Detail: fmt.Sprintf("Write plain text, at most %d characters, with no links.", MaxVolunteerNote)})
		} else if kind := noteLink(f.VolunteerNote); kind != "" {
			fields = append(fields, problem.FieldError{Field: "volunteer_note",
				Detail: "Write the note without links: it holds " + kind + ", which mail and phones would make a link (a full stop needs a space after it)."})
		}
		if f.VolunteerName == "" && f.VolunteerNote != "" {
			fields = append(fields, problem.FieldError{Field: "volunteer_name", Detail: "A note needs the name of who will reach out."})
		}
	case ActionConnected, ActionNotConnected:
	default:
		fields = append(fields, problem.FieldError{Field: "action", Detail: "Choose " + groupActions + "."})
	}
	if len(fields) > 0 {
		return GroupForm{}, problem.Invalidf(fields, "The form is not complete.")
	}
	return f, nil
}

// firstName reports whether s is empty or a first name: letters, with
// spaces, hyphens, apostrophes or dots between them, at most
// MaxVolunteerName characters.
func firstName(s string) bool {
	if utf8.RuneCountInString(s) > MaxVolunteerName {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsMark(r) && !strings.ContainsRune(" -'’.", r) {
			return false
		}
	}
	return true
}

// readForm checks the media type and decodes a bounded form body.
func readForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != formMediaType {
		return nil, problem.Errorf(problem.UnsupportedMedia, "Send the form as %s.", formMediaType)
	}
	if r.ContentLength > MaxFormBytes {
		return nil, problem.Errorf(problem.TooLarge, "The form is larger than %d bytes.", MaxFormBytes)
	}
	if r.Body == nil {
		return url.Values{}, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxFormBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, problem.Errorf(problem.TooLarge, "The form is larger than %d bytes.", MaxFormBytes)
		}
		return nil, problem.Errorf(problem.Malformed, "The form could not be read.")
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, problem.Errorf(problem.Malformed, "The form could not be decoded.")
	}
	for k, vs := range values {
		if !utf8.ValidString(k) {
			return nil, problem.Errorf(problem.Malformed, "The form is not valid UTF-8.")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, problem.Errorf(problem.Malformed, "The form is not valid UTF-8.")
			}
		}
	}
	return values, nil
}

// one returns the single value of a field ("" when absent), adding a field
// error when it is repeated.
func one(values url.Values, name string, fields []problem.FieldError) (string, []problem.FieldError) {
	vs := values[name]
	switch len(vs) {
	case 0:
		return "", fields
	case 1:
		return vs[0], fields
	}
	return "", append(fields, problem.FieldError{Field: name, Detail: "Send this field once."})
}

// csrfField returns the posted anti-CSRF token, which may be empty (CSRF.Check
// refuses it) but not repeated or overlong.
func csrfField(values url.Values, fields []problem.FieldError) (string, []problem.FieldError) {
	v, fields := one(values, CSRFFieldName, fields)
	if len(v) > maxCSRFLen {
		return "", append(fields, problem.FieldError{Field: CSRFFieldName, Detail: "The form token is too long."})
	}
	return v, fields
}

// groupIDs checks the picked group ids and drops repeats, keeping the order.
func groupIDs(ids []string, fields []problem.FieldError) ([]string, []problem.FieldError) {
	var out []string
	for _, id := range ids {
		if !validGroupID(id) {
			return nil, append(fields, problem.FieldError{Field: "groups", Detail: "A group id is not valid."})
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
		if len(out) > MaxGroups {
			return nil, append(fields, problem.FieldError{Field: "groups", Detail: fmt.Sprintf("Pick at most %d groups.", MaxGroups)})
		}
	}
	if len(out) == 0 {
		return nil, append(fields, problem.FieldError{Field: "groups", Detail: "Pick at least one group."})
	}
	return out, fields
}

// validGroupID reports whether id is 1–64 letters, digits, '-', '_', '.' or ':'.
func validGroupID(id string) bool {
	if id == "" || len(id) > maxGroupIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
