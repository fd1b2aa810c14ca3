package pages

import (
	"fmt"
	"html/template"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/referral"
)

// groupNotices are the group page's notices; true marks an alert.
var groupNotices = map[string]bool{
	NoticeAccepted: false, NoticeDeclined: false, NoticeConnected: false,
	NoticeNotConnected: false, NoticeChooseReason: true, NoticeTryAgain: true,
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
	State     referral.RouteStatus
	AnswerBy  time.Time // the response deadline while notified; optional
	CSRFToken string    // value of the hidden "csrf" field (see CSRF.Token)
	ActionURL string    // the page's own path, /g/{token}
	Notice    string    // a Notice… key after a POST, or ""
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
// shows what the patient agreed to share and offers accept, or decline with a
// reason; once accepted, it offers connected and not-connected. Every other
// state is a short notice with nothing about the patient. It writes nothing and
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
	p.Form = v.State == referral.RouteNotified || v.State == referral.RouteAccepted
	p.Shared = p.Form
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
