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
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

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
	// ActionAttended and ActionMissed answer whether the patient went to
	// the first meeting: on the patient's page after the check-in, and on
	// the group's page once the meeting has begun.
	ActionAttended = "attended"
	ActionMissed   = "missed"
)

// Form limits.
const (
	MaxFormBytes   = 16 << 10 // a form body larger than this is refused
	MaxGroups      = 10       // groups a patient may pick at once
	maxGroupIDLen  = 64
	maxCSRFLen     = 128
	formMediaType  = "application/x-www-form-urlencoded"
	consentActions = "confirm, decline, revoke, attended or missed"
	groupActions   = "accept, decline, connected, not-connected, attended or missed"
	// maxFirstMeetingLen bounds the posted first_meeting: a local start,
	// "2026-03-10T19:00" (see shared/occurrence).
	maxFirstMeetingLen = 16
)

// ConsentForm is a posted consent page form.
type ConsentForm struct {
	// Action is ActionConfirm, ActionDecline or ActionRevoke, or, after a
	// first meeting's check-in, ActionAttended or ActionMissed.
	Action string
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
	// FirstMeeting, for an accept only and optional: the chosen occurrence's
	// form value, its local start "YYYY-MM-DDTHH:MM". The caller checks it
	// is one the page offered (occurrence.Pick); a value of another shape is
	// refused here.
	FirstMeeting string
	CSRF         string // the posted anti-CSRF token; check it with CSRF.Check
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
	case ActionDecline, ActionRevoke, ActionAttended, ActionMissed:
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
// An accept's volunteer_name and volunteer_note are normalized (NFKC); a
// note that holds a format character (zero-width, bidi controls) or, read
// as a phone would read it, a link, is refused; first_meeting must read as
// a local start (whether the page offered it is the caller's check).
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
		f.FirstMeeting, fields = one(values, "first_meeting", fields)
		// Compatibility forms (fullwidth letters, "．") become their plain
		// letters first, so that the checks below see what a reader's mail
		// or phone will see.
		f.VolunteerName = strings.TrimSpace(norm.NFKC.String(f.VolunteerName))
		f.VolunteerNote = strings.TrimSpace(norm.NFKC.String(f.VolunteerNote))
		if !firstName(f.VolunteerName) {
			fields = append(fields, problem.FieldError{Field: "volunteer_name",
				Detail: fmt.Sprintf("Give a first name only: letters, at most %d characters.", MaxVolunteerName)})
		}
		switch {
		case utf8.RuneCountInString(f.VolunteerNote) > MaxVolunteerNote ||
			strings.ContainsFunc(f.VolunteerNote, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' }):
			fields = append(fields, problem.FieldError{Field: "volunteer_note",
				Detail: fmt.Sprintf("Write plain text, at most %d characters, with no links.", MaxVolunteerNote)})
		case strings.ContainsFunc(f.VolunteerNote, hiddenFormat):
			fields = append(fields, problem.FieldError{Field: "volunteer_note",
				Detail: "Write the note as plain text: it holds an invisible formatting character (a zero-width space, or a mark that turns the text's direction), which can hide what it says."})
		default:
			if kind := noteLink(linkView(f.VolunteerNote)); kind != "" {
				fields = append(fields, problem.FieldError{Field: "volunteer_note",
					Detail: "Write the note without links: it holds " + kind + ", which mail and phones would make a link (a full stop needs a space after it)."})
			}
		}
		if f.VolunteerName == "" && f.VolunteerNote != "" {
			fields = append(fields, problem.FieldError{Field: "volunteer_name", Detail: "A note needs the name of who will reach out."})
		}
		if f.FirstMeeting != "" && (len(f.FirstMeeting) != maxFirstMeetingLen || !validLocalStart(f.FirstMeeting)) {
			fields = append(fields, problem.FieldError{Field: "first_meeting", Detail: "Choose one of the meetings the page lists."})
		}
	case ActionConnected, ActionNotConnected, ActionAttended, ActionMissed:
	default:
		fields = append(fields, problem.FieldError{Field: "action", Detail: "Choose " + groupActions + "."})
	}
	if len(fields) > 0 {
		return GroupForm{}, problem.Invalidf(fields, "The form is not complete.")
	}
	return f, nil
}

// hiddenFormat reports whether r is a format character (Unicode Cf: zero-
// width spaces, soft hyphens, bidi embeddings, overrides and isolates, the
// byte-order mark…) a note must not carry. The zero-width joiner and
// non-joiner, which some scripts and emoji need, are let through; the link
// check does not see them (see linkView).
func hiddenFormat(r rune) bool {
	return unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d'
}

// linkView is a note as the link check reads it: without the joiners
// hiddenFormat lets through, and with the full stops that separate the
// labels of a domain name the way a dot does (IDNA, UTS #46: "。", and
// NFKC's forms of "．", "｡") written as dots, so "evil。com" is a web
// address to it as it is to a phone.
func linkView(note string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\u200c', '\u200d':
			return -1
		case '\u3002', '\uff61', '\ufe12':
			return '.'
		}
		return r
	}, note)
}

// validLocalStart reports whether s reads as "YYYY-MM-DDTHH:MM".
func validLocalStart(s string) bool {
	_, err := time.Parse("2006-01-02T15:04", s)
	return err == nil
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
