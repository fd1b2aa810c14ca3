package pages

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/referral"
)

// ConsentState is what the patient's consent page shows.
type ConsentState string

// Consent page states.
const (
	ConsentOpen      ConsentState = "open"      // the offer, with confirm and decline
	ConsentConfirmed ConsentState = "confirmed" // what was agreed, with revoke
	ConsentDeclined  ConsentState = "declined"
	ConsentRevoked   ConsentState = "revoked"
	ConsentUnmatched ConsentState = "unmatched" // no group fits: nothing to confirm
)

// ConsentStateFor maps a referral's status to the consent page state that shows
// it. It reports false for expired and cancelled referrals, whose link answers
// with the plain 410 page instead.
func ConsentStateFor(s referral.Status) (ConsentState, bool) {
	switch s {
	case referral.AwaitingConsent:
		return ConsentOpen, true
	case referral.Consented, referral.Routed, referral.SharedWithPatient,
		referral.Accepted, referral.Connected, referral.NotConnected, referral.Attended:
		return ConsentConfirmed, true
	case referral.Declined:
		return ConsentDeclined, true
	case referral.Revoked:
		return ConsentRevoked, true
	case referral.Unmatched:
		return ConsentUnmatched, true
	}
	return "", false
}

// How the patient chose to connect with groups.
const (
	ModeIntroduce = "introduce" // groups get the given name and chosen contact
	ModeSelf      = "self"      // the patient gets the groups' details; groups get nothing
)

// Group formats, as in a group listing.
const (
	FormatInPerson = "in-person"
	FormatOnline   = "online"
	FormatHybrid   = "hybrid"
)

// Notice keys a page can show after a form was sent (see ConsentView.Notice and
// GroupView.Notice).
const (
	NoticeConfirmed     = "confirmed"
	NoticeDeclined      = "declined"
	NoticeRevoked       = "revoked"
	NoticeNothingToStop = "nothing-to-stop" // revoke before the patient agreed to anything
	NoticeSharingOver   = "sharing-over"    // revoke once the referral closed after sharing
	NoticeChooseGroup   = "choose-group"    // confirm was pressed with no group picked
	NoticeTryAgain      = "try-again"       // the form's anti-CSRF token did not match
	NoticeAccepted      = "accepted"        // group page
	NoticeConnected     = "connected"       // group page
	NoticeNotConnected  = "not-connected"   // group page
	NoticeChooseReason  = "choose-reason"   // group page: decline with no reason
	// NoticeAnswered: the group page's notice to an accept or decline that
	// came after the first answer (by the notice's other link, or the
	// service office's): the first answer stands.
	NoticeAnswered = "answered"
)

// consentNotices are the consent page's notices; true marks an alert.
var consentNotices = map[string]bool{
	NoticeConfirmed: false, NoticeDeclined: false, NoticeRevoked: false, NoticeNothingToStop: true, NoticeSharingOver: true,
	NoticeChooseGroup: true, NoticeTryAgain: true, NoticeAttended: false, NoticeMissed: false,
}

// GroupOffer is one group offered on the consent page.
type GroupOffer struct {
	ID         string  // the value posted back in "groups"
	Name       string  //
	Format     string  // FormatInPerson, FormatOnline or FormatHybrid
	When       string  // when it meets, in words: "Mondays 7:30 pm"
	DistanceKm float64 // 0 when online
	Where      string  // town or area, optional
	OnlineHow  string  // how to join online, optional
}

// ConsentView is everything the consent page shows. Contact details arrive
// already masked: the page never needs the full address.
type ConsentView struct {
	Lang       string // "en" or "es" (any tag is normalised with Lang)
	ClinicName string
	GivenName  string
	// Channel is the chosen contact channel in words, already masked, in the
	// page's language: "your email address a***@example.org" (see ContactChannel).
	Channel string
	Groups  []GroupOffer // in ranking order; the patient's choices keep this order
	// Purpose of the disclosure in words; empty for the standard wording.
	Purpose string
	// ExpiresAt is when the patient's agreement ends (the §2.31 expiry). Times
	// are shown in their own location.
	ExpiresAt time.Time
	State     ConsentState
	// Mode is the mode chosen (confirmed) or to preselect (open); "" means introduce.
	Mode string
	// NoContact: the patient gave no way to be reached (a referral made in
	// the room, opened by its QR code), so the groups cannot contact them:
	// the page offers only ModeSelf and shares nothing.
	NoContact bool
	// Chosen are the chosen group ids: ticked on the open page, listed when
	// confirmed. Ids not among Groups are left out.
	Chosen      []string
	ConfirmedAt time.Time // when the patient confirmed; optional
	// Plan is the first meeting a group chose (confirmed state): the page
	// shows it and links CalendarURL, its .ics (/c/{token}/meeting.ics).
	Plan        *MeetingPlan
	CalendarURL string
	// CheckIn: the first meeting is over and the patient has not said
	// whether they went: the page offers attended and missed.
	CheckIn bool
	// Attendance is the patient's answer, ActionAttended or ActionMissed
	// ("": none). After missed, the page offers NextMeetings (the plan
	// group's next meetings) and OtherGroups (the other groups matched).
	Attendance   string
	NextMeetings []occurrence.Occurrence
	OtherGroups  []GroupOffer
	CSRFToken    string // value of the hidden "csrf" field (see CSRF.Token)
	ActionURL    string // the page's own path, /c/{token}
	Notice       string // a Notice… key after a POST, or ""
}

// offer is a group as the consent page lists it.
type offer struct {
	Index   int
	ID      string
	Name    string
	Details []string
	Checked bool
}

// consentPage is the data of the consent page and of the consent text.
type consentPage struct {
	base
	V         ConsentView
	State     ConsentState
	Offers    []offer
	Chosen    []offer
	Channel   string // capitalised, for the list of what is shared
	Purpose   string
	Expires   string
	Confirmed string
	FormURL   string
	Self      bool
	// The first meeting (see ConsentView.Plan).
	Plan []field
	attendance
	Next   []string // after missed: the group's next meetings
	Others []offer  // after missed: the other groups matched
}

var errNoGroups = errors.New("an open consent page needs at least one group")

// consentData checks a view and prepares what the page and the text show.
func consentData(v ConsentView) (consentPage, error) {
	t, err := newTr(v.Lang)
	if err != nil {
		return consentPage{}, err
	}
	p := consentPage{V: v, State: v.State, Self: v.Mode == ModeSelf || v.NoContact}
	switch v.Mode {
	case "", ModeIntroduce, ModeSelf:
	default:
		return p, fmt.Errorf("consent page: unknown mode %q", v.Mode)
	}
	titles := map[ConsentState]string{
		ConsentOpen: "consent.title", ConsentConfirmed: "consent.confirmed.title",
		ConsentDeclined: "consent.declined.title", ConsentRevoked: "consent.revoked.title",
		ConsentUnmatched: "consent.unmatched.title",
	}
	titleID, ok := titles[v.State]
	if !ok {
		return p, fmt.Errorf("consent page: unknown state %q", v.State)
	}
	if p.base, err = newBase(t, v.ActionURL); err != nil {
		return p, err
	}
	if p.Title, err = t.T(titleID, "Clinic", v.ClinicName); err != nil {
		return p, err
	}
	if p.Notice, err = newNotice(t, v.Notice, consentNotices); err != nil {
		return p, fmt.Errorf("consent page: %w", err)
	}
	if v.State == ConsentOpen && len(v.Groups) == 0 {
		return p, errNoGroups
	}
	if (v.State == ConsentOpen || v.State == ConsentConfirmed) && v.ExpiresAt.IsZero() {
		return p, fmt.Errorf("consent page: state %s needs an expiry", v.State)
	}
	for i, g := range v.Groups {
		details, err := offerDetails(t, g)
		if err != nil {
			return p, fmt.Errorf("consent page group %d: %w", i+1, err)
		}
		o := offer{Index: i + 1, ID: g.ID, Name: g.Name, Details: details, Checked: slices.Contains(v.Chosen, g.ID)}
		p.Offers = append(p.Offers, o)
	}
	for _, id := range v.Chosen {
		if i := slices.IndexFunc(p.Offers, func(o offer) bool { return o.ID == id }); i >= 0 {
			p.Chosen = append(p.Chosen, p.Offers[i])
		}
	}
	p.Channel = capitalize(v.Channel)
	p.Purpose = v.Purpose
	if strings.TrimSpace(p.Purpose) == "" {
		if p.Purpose, err = t.T("consent.purpose.default"); err != nil {
			return p, err
		}
	}
	if !v.ExpiresAt.IsZero() {
		if p.Expires, err = t.Date(v.ExpiresAt); err != nil {
			return p, err
		}
	}
	if !v.ConfirmedAt.IsZero() {
		if p.Confirmed, err = t.Date(v.ConfirmedAt); err != nil {
			return p, err
		}
	}
	if v.ActionURL != "" {
		p.FormURL = withLang(v.ActionURL, t.Lang)
	}
	if v.State == ConsentConfirmed && v.Plan != nil {
		if err := planData(t, v, &p); err != nil {
			return p, err
		}
	}
	return p, nil
}

// planData prepares the confirmed page's first meeting: its lines, the
// check-in, and after "missed" what else there is.
func planData(t tr, v ConsentView, p *consentPage) error {
	var err error
	if p.Plan, err = planFields(t, *v.Plan, true); err != nil {
		return err
	}
	if v.CalendarURL == "" {
		return fmt.Errorf("consent page: a plan needs its calendar link")
	}
	p.Ask = v.CheckIn && v.Attendance == ""
	if p.Ask {
		if p.Words, err = askWords(t, "plan.checkin.heading", "plan.attended", "plan.missed"); err != nil {
			return err
		}
	}
	switch v.Attendance {
	case "":
		return nil
	case ActionAttended, ActionMissed:
	default:
		return fmt.Errorf("consent page: unknown attendance %q", v.Attendance)
	}
	if p.Answered, err = t.T("plan.answered." + v.Attendance); err != nil {
		return err
	}
	if v.Attendance != ActionMissed {
		return nil
	}
	if p.Next, err = meetingLines(t, v.NextMeetings); err != nil {
		return err
	}
	for i, g := range v.OtherGroups {
		details, err := offerDetails(t, g)
		if err != nil {
			return fmt.Errorf("consent page other group %d: %w", i+1, err)
		}
		p.Others = append(p.Others, offer{Index: i + 1, ID: g.ID, Name: g.Name, Details: details})
	}
	return nil
}

// offerDetails are the lines under a group's name: format, when, how far, where,
// how to join online.
func offerDetails(t tr, g GroupOffer) ([]string, error) {
	switch g.Format {
	case FormatInPerson, FormatOnline, FormatHybrid:
	default:
		return nil, fmt.Errorf("unknown format %q", g.Format)
	}
	format, err := t.T("format." + g.Format)
	if err != nil {
		return nil, err
	}
	details := []string{format}
	if s := strings.TrimSpace(g.When); s != "" {
		details = append(details, s)
	}
	if g.DistanceKm > 0 && g.Format != FormatOnline {
		d, err := t.Distance(g.DistanceKm)
		if err != nil {
			return nil, err
		}
		details = append(details, d)
	}
	for _, s := range []string{g.Where, g.OnlineHow} {
		if s = strings.TrimSpace(s); s != "" {
			details = append(details, s)
		}
	}
	return details, nil
}

// RenderConsent writes the patient's consent page for v.State. Confirmed
// with a Plan, it shows the first meeting and its calendar link, the
// check-in (attended, missed) once CheckIn is set, and, after missed, the
// group's next meetings and the other groups matched. It writes
// nothing and returns an error when the view is inconsistent: an unknown state,
// mode, format, notice or attendance; an open page with no group; an open or
// confirmed page without ActionURL or CSRFToken; a plan without its
// calendar link.
func RenderConsent(w io.Writer, v ConsentView) error {
	if (v.State == ConsentOpen || v.State == ConsentConfirmed) && (v.ActionURL == "" || v.CSRFToken == "") {
		return fmt.Errorf("consent page: state %s needs an action URL and a CSRF token", v.State)
	}
	p, err := consentData(v)
	if err != nil {
		return err
	}
	return renderPage(w, "consent", p)
}

// ConsentText returns the plain text of what the patient is shown for the
// consent decision: the open page's wording (clinic, what is shared, the groups
// offered, both modes, purpose, expiry, the right to revoke and how, the
// redisclosure notice, the buttons), whatever v.State is. It is deterministic,
// so a caller can hash it into the consent record (42 CFR Part 2 §2.31); it
// changes when anything shown changes, and ignores the form's state (chosen
// groups, notice, CSRF token). It returns the same errors as RenderConsent for
// an open page.
func ConsentText(v ConsentView) (string, error) {
	v.State, v.Chosen, v.Mode, v.Notice, v.ConfirmedAt = ConsentOpen, nil, "", "", time.Time{}
	v.Plan, v.CalendarURL, v.CheckIn, v.Attendance, v.NextMeetings, v.OtherGroups = nil, "", false, "", nil, nil
	p, err := consentData(v)
	if err != nil {
		return "", err
	}
	t, err := lookup(textTemplates, "decision")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "decision", p); err != nil {
		return "", fmt.Errorf("render consent text: %w", err)
	}
	return b.String(), nil
}
