package pages

import (
	"fmt"
	"html/template"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/referral"
)

// groupNotices are the group page's notices; true marks an alert.
var groupNotices = map[string]bool{
	NoticeAccepted: false, NoticeDeclined: false, NoticeConnected: false,
	NoticeNotConnected: false, NoticeChooseReason: true, NoticeTryAgain: true,
	NoticeAttended: false, NoticeMissed: false, NoticeAnswered: false,
}

// GroupView is everything the group contact's page shows. It carries only what
// the patient agreed to share.
type GroupView struct {
	Lang       string // "en" or "es"
	GroupName  string
	ClinicName string
	GivenName  string
	// Contact is the channel the patient chose to share, in full: the group
	// needs it to reach them.
	Contact string
	// PreferredLanguage is a BCP 47 code ("es") or words; codes are named in
	// the page's language.
	PreferredLanguage string
	PreferredTimes    string // in words: "weekday evenings"
	// State is the route's status: notified, accepted, declined, connected,
	// not-connected, timed-out or withdrawn.
	State    referral.RouteStatus
	AnswerBy time.Time // the response deadline while notified; optional
	// Meetings are the group's next meetings (occurrence.List): while
	// notified, the accept form offers them as first_meeting, by day.
	Meetings []occurrence.Occurrence
	// FirstMeeting is the first meeting the group chose, shown once it
	// accepted (accepted or connected).
	FirstMeeting *occurrence.Occurrence
	// AskAttendance: the first meeting has begun and nobody has said yet
	// whether the patient came: the page offers attended and missed.
	AskAttendance bool
	// Attendance is the answer given, ActionAttended or ActionMissed ("":
	// none yet), shown instead of the question.
	Attendance string
	CSRFToken  string // value of the hidden "csrf" field (see CSRF.Token)
	ActionURL  string // the page's own path, /g/{token}
	Notice     string // a Notice… key after a POST, or ""
}

// reason is one decline reason as the form offers it.
type reason struct {
	Value string
	Label string
}

// groupPage is the data of the group page.
type groupPage struct {
	base
	V        GroupView
	State    referral.RouteStatus
	Shared   bool // show what the patient shared
	Form     bool // the page carries a form
	Language string
	// ContactURL is a mailto: or tel: link for the contact, or "" when the
	// contact is neither a plain email address nor a phone number.
	ContactURL template.URL
	AnswerBy   string
	Reasons    []reason
	FormURL    string
	Body       string // the one paragraph of a closed state
	// Days are the first-meeting choices while notified; Plan is the chosen
	// meeting's lines once accepted; then the attendance question.
	Days []dayChoices
	Plan []field
	attendance
}

// groupTitles maps each state to its title; closed states have a body too.
var groupTitles = map[referral.RouteStatus][2]string{
	referral.RouteNotified:     {"group.title", ""},
	referral.RouteAccepted:     {"group.accepted.title", ""},
	referral.RouteDeclined:     {"group.declined.title", "group.declined.body"},
	referral.RouteConnected:    {"group.connected.title", "group.connected.body"},
	referral.RouteNotConnected: {"group.not-connected.title", "group.not-connected.body"},
	referral.RouteTimedOut:     {"group.closed.title", "group.closed.body"},
	referral.RouteWithdrawn:    {"group.closed.title", "group.closed.body"},
}

// RenderGroup writes the group contact's page for v.State. While notified it
// shows what the patient agreed to share and offers accept (with the
// group's next meetings as first_meeting choices, by day), or decline with
// a reason; once accepted, it offers connected and not-connected. Every
// other state is a short notice with nothing about the patient. Accepted or
// connected with a first meeting, it shows the meeting and, once it has
// begun (AskAttendance), offers attended and missed. It writes nothing and
// returns an error for an unknown state or notice, or for a page with a form but
// no ActionURL or CSRFToken.
func RenderGroup(w io.Writer, v GroupView) error {
	t, err := newTr(v.Lang)
	if err != nil {
		return err
	}
	ids, ok := groupTitles[v.State]
	if !ok {
		return fmt.Errorf("group page: unknown state %q", v.State)
	}
	p := groupPage{V: v, State: v.State}
	planned := v.FirstMeeting != nil && (v.State == referral.RouteAccepted || v.State == referral.RouteConnected)
	p.Ask = planned && v.AskAttendance && v.Attendance == ""
	p.Form = v.State == referral.RouteNotified || v.State == referral.RouteAccepted || p.Ask
	p.Shared = v.State == referral.RouteNotified || v.State == referral.RouteAccepted
	if !p.Shared {
		// Nothing about the patient reaches the template of a closed page.
		p.V.GivenName, p.V.Contact, p.V.PreferredLanguage, p.V.PreferredTimes = "", "", "", ""
	}
	if p.Form && (v.ActionURL == "" || v.CSRFToken == "") {
		return fmt.Errorf("group page: state %s needs an action URL and a CSRF token", v.State)
	}
	if p.base, err = newBase(t, v.ActionURL); err != nil {
		return err
	}
	if p.Title, err = t.T(ids[0], "Group", v.GroupName); err != nil {
		return err
	}
	if ids[1] != "" {
		if p.Body, err = t.T(ids[1], "Clinic", v.ClinicName); err != nil {
			return err
		}
	}
	if p.Notice, err = newNotice(t, v.Notice, groupNotices); err != nil {
		return fmt.Errorf("group page: %w", err)
	}
	if p.Shared {
		p.ContactURL = contactURL(v.Contact)
	}
	if p.Shared && strings.TrimSpace(v.PreferredLanguage) != "" {
		p.Language = t.LanguageName(v.PreferredLanguage)
	}
	if v.State == referral.RouteNotified && !v.AnswerBy.IsZero() {
		if p.AnswerBy, err = t.Date(v.AnswerBy); err != nil {
			return err
		}
	}
	if v.State == referral.RouteNotified {
		if p.Days, err = meetingDays(t, v.Meetings); err != nil {
			return err
		}
	}
	if planned {
		if p.Plan, err = planFields(t, MeetingPlan{Meeting: *v.FirstMeeting}, false); err != nil {
			return err
		}
		if p.Ask {
			if p.Words, err = askWords(t, "group.attendance.heading", "group.attended", "group.missed"); err != nil {
				return err
			}
		}
		switch v.Attendance {
		case "":
		case ActionAttended, ActionMissed:
			if p.Answered, err = t.T("group.attendance." + v.Attendance); err != nil {
				return err
			}
		default:
			return fmt.Errorf("group page: unknown attendance %q", v.Attendance)
		}
	}
	if v.State == referral.RouteNotified {
		for _, r := range referral.DeclineReasons {
			label, err := t.T("reason." + r)
			if err != nil {
				return err
			}
			p.Reasons = append(p.Reasons, reason{Value: r, Label: label})
		}
	}
	if v.ActionURL != "" {
		p.FormURL = withLang(v.ActionURL, t.Lang)
	}
	return renderPage(w, "group", p)
}

// contactURL links a contact: mailto: for a plain email address, tel: for a
// phone number (digits, with an optional leading +), "" otherwise. The result
// is built only from a parsed address or from digits, so it is safe to mark as
// a URL for html/template (which would otherwise refuse tel:).
func contactURL(contact string) template.URL {
	c := strings.TrimSpace(contact)
	if a, err := mail.ParseAddress(c); err == nil && a.Name == "" && a.Address == c && !strings.ContainsAny(c, "?#&%/\\\"<> ") {
		return template.URL("mailto:" + c)
	}
	var digits strings.Builder
	for i, r := range c {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
			digits.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return ""
		}
	}
	if n := strings.TrimPrefix(digits.String(), "+"); len(n) >= 7 && len(n) <= 15 {
		return template.URL("tel:" + digits.String())
	}
	return ""
}
