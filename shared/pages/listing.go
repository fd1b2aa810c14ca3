package pages

import (
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/problem"
)

// Listing page actions (the form's "action" field).
const (
	ActionListingConfirm = "confirm"
	ActionListingPause   = "pause"
	ActionListingUpdate  = "update"
	ActionListingResume  = "resume" // end the contact's own pause now
	ActionHandover       = "handover"
	ActionTakeOver       = "take-over" // on the new contact's link
)

// Listing page notices.
const (
	NoticeListingConfirmed = "listing-confirmed"
	NoticeListingPaused    = "listing-paused"
	NoticeListingUpdated   = "listing-updated"
	NoticeListingResumed   = "listing-resumed"
	NoticeHandoverSent     = "handover-sent"
	NoticeTookOver         = "took-over"
)

// listingNotices are the listing page's notices; true marks an alert.
var listingNotices = map[string]bool{
	NoticeListingConfirmed: false, NoticeListingPaused: false, NoticeListingUpdated: false, NoticeListingResumed: false,
	NoticeHandoverSent: false, NoticeTookOver: false, NoticeTryAgain: true,
}

// MaxPauseWeeks bounds a pause a contact asks for on the listing page.
const MaxPauseWeeks = 26

// ListingView is everything the listing check page shows: the group's
// listing as handoff offers it to patients, in words.
type ListingView struct {
	Lang          string // "en" or "es"
	GroupName     string
	Meetings      []string // one line per meeting, in the group's local time
	Formats       []string // format codes: in-person, online, hybrid
	Where         string   // address of the place it meets, or ""
	OnlineURLs    []string // links of its online meetings
	Languages     []string // BCP 47 codes
	Accessibility []string // accessibility codes
	Capacity      int      // referrals a week; 0 is no cap
	Accepting     bool
	// PausedUntil is set while the contact has paused the group.
	PausedUntil time.Time
	// Paused with a reason that is not the contact's own pause (a bounce,
	// its feed): the page says so.
	PausedReason string
	// PausedUnanswered: the pause is for checks nobody answered, which
	// any answer on this page lifts; the page says so.
	PausedUnanswered bool
	LastConfirmed    time.Time
	FeedOwned        bool // its meetings come from a feed, which owns them
	// Edit holds the meetings as the update form shows them (none for a
	// feed's group).
	Edit []MeetingFields
	// ContactPhone and ContactTexts are the contact's number (E.164) and
	// whether they agreed to get referral notices by text: the update form
	// shows and changes them.
	ContactPhone string
	ContactTexts bool
	// TakeOver is the new contact's page before they confirm: the listing
	// and one button; NewContact is their name.
	TakeOver   bool
	NewContact string
	CSRFToken  string
	ActionURL  string // the page's own path, /l/{token}
	Notice     string
}

type listingPage struct {
	base
	V             ListingView
	Formats       []string
	Languages     []string
	Accessibility []string
	Capacity      string
	PausedUntil   string
	LastConfirmed string
	FormURL       string
	MaxWeeks      int
	Days          []reason // the day choices of the meeting fields
	Edit          []editMeeting
	// FormatChoices are the update form's format boxes (none for a feed's
	// group, whose feed owns how and when it meets; nor its Edit rows).
	FormatChoices []formatChoice
}

// formatChoice is one format box of the update form.
type formatChoice struct {
	Value, Label string
	Checked      bool
}

// formatCodes are the formats a contact may choose, in the form's order.
var formatCodes = []string{"in-person", "online", "hybrid"}

// editMeeting is one meeting's fields on the update form, numbered from 1,
// or, New, the empty row for a meeting to add. Key tells the fields' ids
// apart (the index, or "new") and is what remove sends.
type editMeeting struct {
	MeetingFields
	N   int
	Key string
	New bool
}

// RenderListing writes the listing check page. It returns an error for an
// unknown notice, or when the action URL or the CSRF token is missing.
func RenderListing(w io.Writer, v ListingView) error {
	t, err := newTr(v.Lang)
	if err != nil {
		return err
	}
	if v.ActionURL == "" || v.CSRFToken == "" {
		return fmt.Errorf("listing page: needs an action URL and a CSRF token")
	}
	p := listingPage{V: v, MaxWeeks: MaxPauseWeeks}
	if p.base, err = newBase(t, v.ActionURL); err != nil {
		return err
	}
	title := "listing.title"
	if v.TakeOver {
		title = "listing.takeover.title"
	}
	if p.Title, err = t.T(title, "Group", v.GroupName); err != nil {
		return err
	}
	if p.Notice, err = newNotice(t, v.Notice, listingNotices); err != nil {
		return fmt.Errorf("listing page: %w", err)
	}
	for _, f := range v.Formats {
		s, err := t.T("format." + f)
		if err != nil {
			return err
		}
		p.Formats = append(p.Formats, s)
	}
	for _, l := range v.Languages {
		p.Languages = append(p.Languages, t.LanguageName(l))
	}
	for _, a := range v.Accessibility {
		s, err := t.T("access." + a)
		if err != nil {
			return err
		}
		p.Accessibility = append(p.Accessibility, s)
	}
	if v.Capacity > 0 {
		p.Capacity = strconv.Itoa(v.Capacity)
	} else if p.Capacity, err = t.T("listing.no-cap"); err != nil {
		return err
	}
	if !v.PausedUntil.IsZero() {
		if p.PausedUntil, err = t.Date(v.PausedUntil); err != nil {
			return err
		}
	}
	if !v.LastConfirmed.IsZero() {
		if p.LastConfirmed, err = t.Date(v.LastConfirmed); err != nil {
			return err
		}
	}
	for i, d := range dayCodes {
		label, err := t.T("weekday." + strconv.Itoa((i+1)%7))
		if err != nil {
			return err
		}
		p.Days = append(p.Days, reason{Value: d, Label: label})
	}
	for i, m := range v.Edit {
		p.Edit = append(p.Edit, editMeeting{MeetingFields: m, N: i + 1, Key: strconv.Itoa(i)})
	}
	if !v.FeedOwned {
		p.Edit = append(p.Edit, editMeeting{Key: "new", New: true})
		for _, f := range formatCodes {
			label, err := t.T("format." + f)
			if err != nil {
				return err
			}
			p.FormatChoices = append(p.FormatChoices, formatChoice{Value: f, Label: label, Checked: slices.Contains(v.Formats, f)})
		}
	}
	p.FormURL = withLang(v.ActionURL, t.Lang)
	return renderPage(w, "listing", p)
}

// MeetingFields is one meeting as the update form carries it, in the
// group's local time.
type MeetingFields struct {
	Day       string // mon … sun
	Time      string // HH:MM
	EndTime   string // HH:MM
	OnlineURL string // optional
}

// ContactFields are how the update form reaches the contact: a number, as
// they typed it (the listing writes it in E.164 or refuses it), and whether
// they agree to get referral notices by text at it.
type ContactFields struct {
	Phone string
	Texts bool
}

// maxFormPhone bounds the typed number.
const maxFormPhone = 40

// maxFormMeetings bounds the meetings one update may carry (its form has
// one row more, for a new meeting).
const maxFormMeetings = 60

// ListingForm is a posted listing page form.
type ListingForm struct {
	Action string
	CSRF   string
	Weeks  int // pause: how many weeks
	// Update: what the contact may change.
	Accepting bool
	Capacity  *int            // nil when the form carries no weekly_capacity: it stays
	Meetings  []MeetingFields // nil when the form carries no meeting
	Formats   []string        // nil when the form carries no format
	// Contact is the contact's number and agreement to texts; nil when the
	// form carries no contact_phone (they stay).
	Contact *ContactFields
	// Handover: the new contact.
	ContactName  string
	ContactEmail string
}

// ParseListingForm reads and checks a listing page form. It returns a
// problem.Invalid error naming each bad field.
func ParseListingForm(r *http.Request) (ListingForm, error) {
	values, err := readForm(r)
	if err != nil {
		return ListingForm{}, err
	}
	var f ListingForm
	var fields []problem.FieldError
	f.Action, fields = one(values, "action", fields)
	f.CSRF, fields = csrfField(values, fields)
	switch f.Action {
	case ActionListingConfirm, ActionListingResume:
	case ActionListingPause:
		var w string
		w, fields = one(values, "weeks", fields)
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n > MaxPauseWeeks {
			fields = append(fields, problem.FieldError{Field: "weeks", Detail: fmt.Sprintf("Give a whole number of weeks from 1 to %d.", MaxPauseWeeks)})
		}
		f.Weeks = n
	case ActionListingUpdate:
		fields = parseUpdate(values, &f, fields)
	case ActionHandover:
		f.ContactName, fields = one(values, "contact_name", fields)
		f.ContactName = oneLine(f.ContactName)
		if f.ContactName == "" || len(f.ContactName) > 100 {
			fields = append(fields, problem.FieldError{Field: "contact_name", Detail: "Give the new contact's name (at most 100 characters)."})
		}
		f.ContactEmail, fields = one(values, "contact_email", fields)
		f.ContactEmail = strings.TrimSpace(f.ContactEmail)
		if a, err := mail.ParseAddress(f.ContactEmail); err != nil || a.Address != f.ContactEmail || a.Name != "" || len(f.ContactEmail) > 254 {
			fields = append(fields, problem.FieldError{Field: "contact_email", Detail: "Give the new contact's email address."})
		}
	case ActionTakeOver:
	default:
		fields = append(fields, problem.FieldError{Field: "action", Detail: "Choose confirm, pause, resume, update or handover."})
	}
	if len(fields) > 0 {
		return ListingForm{}, problem.Invalidf(fields, "The form is not complete.")
	}
	return f, nil
}

// parseUpdate reads the update form: accepting_referrals (yes or no),
// weekly_capacity (0–1000, 0 or empty is no cap; without the field the
// capacity stays), contact_phone (at most 40 characters; empty removes the
// number) with contact_texts (yes when ticked; it needs a number; without
// contact_phone both stay), format (repeated: in-person,
// online, hybrid; the form sends an empty one too, so that unticking every
// box is an answer, and an error) and, repeated once per meeting in
// the listing's order and then once for a new meeting (left empty when
// none), day, time, end_time and online_url; remove (repeated) names the
// meetings, by their index from 0, that the contact takes off. Values the
// listing itself checks (times, days, links) are checked when it is stored.
func parseUpdate(values url.Values, f *ListingForm, fields []problem.FieldError) []problem.FieldError {
	var acc, capacity string
	acc, fields = one(values, "accepting_referrals", fields)
	switch acc {
	case "yes", "true":
		f.Accepting = true
	case "no", "false":
	default:
		fields = append(fields, problem.FieldError{Field: "accepting_referrals", Detail: "Choose yes or no."})
	}
	if _, ok := values["weekly_capacity"]; ok {
		capacity, fields = one(values, "weekly_capacity", fields)
		if capacity = strings.TrimSpace(capacity); capacity == "" {
			capacity = "0" // the form's field left empty: no cap, as its label says
		}
		n, err := strconv.Atoi(capacity)
		if err != nil || n < 0 || n > 1000 {
			fields = append(fields, problem.FieldError{Field: "weekly_capacity", Detail: "Give a whole number from 0 (no limit) to 1000."})
		}
		f.Capacity = &n
	}
	if _, ok := values["contact_phone"]; ok {
		var p, texts string
		p, fields = one(values, "contact_phone", fields)
		texts, fields = one(values, "contact_texts", fields)
		c := &ContactFields{Phone: oneLine(p)}
		switch texts {
		case "":
		case "yes", "on", "true":
			c.Texts = true
		default:
			fields = append(fields, problem.FieldError{Field: "contact_texts", Detail: "Tick the box, or leave it."})
		}
		switch {
		case len(c.Phone) > maxFormPhone:
			fields = append(fields, problem.FieldError{Field: "contact_phone", Detail: fmt.Sprintf("Give a phone number of at most %d characters.", maxFormPhone)})
		case c.Texts && c.Phone == "":
			fields = append(fields, problem.FieldError{Field: "contact_texts", Detail: "Give the mobile number the texts should go to."})
		}
		f.Contact = c
	}
	if formats, ok := values["format"]; ok {
		f.Formats = []string{}
		for _, v := range formats {
			switch {
			case v == "" || slices.Contains(f.Formats, v):
			case slices.Contains(formatCodes, v):
				f.Formats = append(f.Formats, v)
			default:
				return append(fields, problem.FieldError{Field: "format", Detail: "Choose in-person, online or hybrid."})
			}
		}
		if len(f.Formats) == 0 {
			fields = append(fields, problem.FieldError{Field: "format", Detail: "Choose at least one way the group meets."})
		}
	}
	days, times, ends, urls := values["day"], values["time"], values["end_time"], values["online_url"]
	if len(days) == 0 && len(times) == 0 && len(ends) == 0 && len(urls) == 0 {
		return fields
	}
	if len(days) != len(times) || len(days) != len(ends) || len(days) != len(urls) || len(days) > maxFormMeetings+1 {
		return append(fields, problem.FieldError{Field: "day", Detail: "Send day, time, end_time and online_url once for each meeting."})
	}
	removed := values["remove"]
	f.Meetings = []MeetingFields{}
	for i := range days {
		m := MeetingFields{Day: days[i], Time: times[i], EndTime: ends[i], OnlineURL: strings.TrimSpace(urls[i])}
		if slices.Contains(removed, strconv.Itoa(i)) || m == (MeetingFields{}) {
			continue // removed, or the new meeting's row left empty
		}
		f.Meetings = append(f.Meetings, m)
	}
	return fields
}

// ListingCheckEmail asks a group's contact whether the group's listing is
// still right, with the listing page's link. It returns an Invalid error
// for a bad link.
func ListingCheckEmail(lang, groupName, link string) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	group := oneLine(groupName)
	d, err := newMail(lang, "handoff", "email.listing.subject", "Group", group)
	if err != nil {
		return Email{}, err
	}
	d.Group, d.Link = group, link
	return d.render("listing")
}

// HandoverEmail asks the new contact of a group to confirm, by their own
// link, that they take the group over.
func HandoverEmail(lang, groupName, newName, link string) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	group := oneLine(groupName)
	d, err := newMail(lang, "handoff", "email.handover.subject", "Group", group)
	if err != nil {
		return Email{}, err
	}
	d.Group, d.Name, d.Link = group, oneLine(newName), link
	return d.render("handover")
}

// HandoverNoticeEmail tells a group's contact that the group is being
// handed over to someone else, with their own listing link.
func HandoverNoticeEmail(lang, groupName, newName, link string) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	group := oneLine(groupName)
	d, err := newMail(lang, "handoff", "email.handed.subject", "Group", group)
	if err != nil {
		return Email{}, err
	}
	d.Group, d.Name, d.Link = group, oneLine(newName), link
	return d.render("handed")
}
