package pages

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
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
	// Entered, when set, is a form the listing refused, shown again as the
	// contact filled it in, with Errors (see ListingFieldErrors) marked.
	Entered *ListingEntry
	Errors  []problem.FieldError
}

// ListingEntry is a listing page form as the contact filled it in, kept as
// typed so that a refused answer gives it all back.
type ListingEntry struct {
	Accepting string       // "yes", "no", or as sent
	Capacity  string       // as typed
	Formats   []string     // the boxes ticked
	Rows      []MeetingRow // every meeting row, in the form's order: the listing's, then the new one
	Weeks     string       // the pause's weeks, as typed
	// The hand-over's new contact, as typed.
	ContactName, ContactEmail string
}

// MeetingRow is one meeting row of the update form as sent.
type MeetingRow struct {
	MeetingFields
	Removed bool
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
	// The fields as the page shows them: the listing's, or those of a
	// refused form as the contact filled it in.
	Accepting    bool
	CapacityIn   string
	Weeks        string
	ContactName  string
	ContactEmail string
	// Errors lists what a refused form got wrong, each linking to its
	// field; FieldError holds each field's message by the field's id.
	Errors     []formError
	FieldError map[string]string
}

// formError is one refused field: its message and the id of its input.
type formError struct {
	ID, Text string
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
	N       int
	Key     string
	New     bool
	Removed bool
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
	p.Accepting, p.CapacityIn, p.Weeks = v.Accepting, strconv.Itoa(v.Capacity), "4"
	formats := v.Formats
	for i, m := range v.Edit {
		p.Edit = append(p.Edit, editMeeting{MeetingFields: m, N: i + 1, Key: strconv.Itoa(i)})
	}
	if !v.FeedOwned {
		p.Edit = append(p.Edit, editMeeting{Key: "new", New: true})
	}
	if e := v.Entered; e != nil {
		p.Accepting, p.CapacityIn, formats = e.Accepting == "yes" || e.Accepting == "true", e.Capacity, e.Formats
		p.ContactName, p.ContactEmail = e.ContactName, e.ContactEmail
		if e.Weeks != "" {
			p.Weeks = e.Weeks
		}
		if len(e.Rows) > 0 && !v.FeedOwned {
			p.Edit = enteredRows(e.Rows, len(v.Edit))
		}
		if p.FieldError, p.Errors, err = listingErrors(t, v, p.Edit); err != nil {
			return err
		}
	}
	if !v.FeedOwned {
		for _, f := range formatCodes {
			label, err := t.T("format." + f)
			if err != nil {
				return err
			}
			p.FormatChoices = append(p.FormatChoices, formatChoice{Value: f, Label: label, Checked: slices.Contains(formats, f)})
		}
	}
	p.FormURL = withLang(v.ActionURL, t.Lang)
	return renderPage(w, "listing", p)
}

// enteredRows are the update form's meeting rows as the contact sent them:
// the first listed of them as the listing's meetings, the rest as new ones.
func enteredRows(rows []MeetingRow, listed int) []editMeeting {
	var out []editMeeting
	for i, r := range rows {
		m := editMeeting{MeetingFields: r.MeetingFields, N: i + 1, Key: strconv.Itoa(i), Removed: r.Removed}
		if i >= listed {
			m.N, m.New, m.Key = 0, true, "new"
			if i > listed {
				m.Key = "new-" + strconv.Itoa(i-listed+1)
			}
		}
		out = append(out, m)
	}
	return out
}

// Row fields: a refused field of a meeting row, rows[<i>].<field>.
var rowField = regexp.MustCompile(`^rows\[(\d+)\]\.(day|time|end_time|online_url)$`)

// listingErrors are a refused form's errors as the page shows them: by the
// id of each field's input, and as the list atop the page.
func listingErrors(t tr, v ListingView, rows []editMeeting) (map[string]string, []formError, error) {
	byID := map[string]string{}
	var list []formError
	add := func(id, key string, args ...any) error {
		text, err := t.T(key, args...)
		if err != nil {
			return err
		}
		if _, dup := byID[id]; !dup || id == "" {
			byID[id] = text
			list = append(list, formError{ID: id, Text: text})
		}
		return nil
	}
	for _, fe := range v.Errors {
		var err error
		switch f := fe.Field; {
		case f == "accepting_referrals":
			err = add("accepting-yes", "listing.error.accepting")
		case f == "weekly_capacity":
			err = add("weekly-capacity", "listing.error.capacity")
		case (f == "format" || f == "formats" || f == "day") && v.FeedOwned:
			err = add("weekly-capacity", "listing.error.feed")
		case f == "format" || f == "formats":
			err = add("format-in-person", "listing.error.format")
		case f == "meetings" && onlineUnlinked(v, rows):
			err = add("format-online", "listing.error.online")
		case strings.HasPrefix(f, "location"):
			err = add("format-in-person", "listing.error.location")
		case f == "weeks":
			err = add("weeks", "listing.error.weeks", "Max", MaxPauseWeeks)
		case f == "contact_name":
			err = add("contact-name", "listing.error.contact-name")
		case f == "contact_email":
			err = add("contact-email", "listing.error.contact-email")
		case rowField.MatchString(f):
			m := rowField.FindStringSubmatch(f)
			i, _ := strconv.Atoi(m[1])
			if i >= len(rows) {
				err = add("day-new", "listing.error.meetings")
				break
			}
			ids := map[string]string{"day": "day-", "time": "time-", "end_time": "end-", "online_url": "url-"}
			name, nerr := meetingName(t, rows[i])
			if nerr != nil {
				return nil, nil, nerr
			}
			err = add(ids[m[2]]+rows[i].Key, "listing.error."+m[2], "Meeting", name)
		case f == "day" || strings.HasPrefix(f, "meetings") || strings.HasPrefix(f, "rows"):
			err = add(firstRowID(rows), "listing.error.meetings")
		default:
			err = add("", "listing.error.other")
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return byID, list, nil
}

// onlineUnlinked reports whether the refused form has the group meet
// online (or hybrid) with no link on any meeting it keeps.
func onlineUnlinked(v ListingView, rows []editMeeting) bool {
	if v.Entered == nil || !slices.Contains(v.Entered.Formats, "online") && !slices.Contains(v.Entered.Formats, "hybrid") {
		return false
	}
	for _, r := range rows {
		if !r.Removed && strings.TrimSpace(r.OnlineURL) != "" {
			return false
		}
	}
	return true
}

// Err is the message of a refused field, by its input's id, or "".
func (p listingPage) Err(id string) string { return p.FieldError[id] }

// Invalid marks a refused field's input for assistive technology: it
// points to the field's message.
func (p listingPage) Invalid(id string) template.HTMLAttr {
	if _, ok := p.FieldError[id]; !ok {
		return ""
	}
	return template.HTMLAttr(` aria-invalid="true" aria-describedby="err-` + template.HTMLEscapeString(id) + `"`)
}

// meetingName names a meeting row in an error: "Meeting 2", "New meeting".
func meetingName(t tr, m editMeeting) (string, error) {
	if m.New {
		return t.T("listing.error.new-meeting")
	}
	return t.T("listing.meeting", "N", m.N)
}

func firstRowID(rows []editMeeting) string {
	if len(rows) == 0 {
		return "weekly-capacity"
	}
	return "day-" + rows[0].Key
}

// ListingFieldErrors names a refused form's errors by the form's fields:
// the listing's own checks name a meeting by its place among the meetings
// kept (meetings[2].time), the page by its row (rows[3].time), since
// removed and empty rows are not meetings. Other fields keep their names.
func ListingFieldErrors(f ListingForm, fields []problem.FieldError) []problem.FieldError {
	out := make([]problem.FieldError, 0, len(fields))
	for _, fe := range fields {
		if m := meetingField.FindStringSubmatch(fe.Field); m != nil {
			if k, err := strconv.Atoi(m[1]); err == nil && k < len(f.MeetingRow) {
				fe.Field = "rows[" + strconv.Itoa(f.MeetingRow[k]) + "]." + m[2]
			}
		}
		out = append(out, fe)
	}
	return out
}

var meetingField = regexp.MustCompile(`^meetings\[(\d+)\]\.(\w+)$`)

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
	// Entered is the form as typed, to give back when it is refused;
	// MeetingRow is the form row each of Meetings came from.
	Entered    ListingEntry
	MeetingRow []int
}

// ParseListingForm reads and checks a listing page form. It returns a
// problem.Invalid error naming each bad field, with the form as far as it
// was read (its Action and Entered, to show it again).
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
		f.Entered.Weeks = w
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n > MaxPauseWeeks {
			fields = append(fields, problem.FieldError{Field: "weeks", Detail: fmt.Sprintf("Give a whole number of weeks from 1 to %d.", MaxPauseWeeks)})
		}
		f.Weeks = n
	case ActionListingUpdate:
		fields = parseUpdate(values, &f, fields)
	case ActionHandover:
		f.ContactName, fields = one(values, "contact_name", fields)
		f.Entered.ContactName, f.Entered.ContactEmail = f.ContactName, values.Get("contact_email")
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
		return ListingForm{Action: f.Action, Entered: f.Entered}, problem.Invalidf(fields, "The form is not complete.")
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
	f.Entered.Accepting, f.Entered.Capacity = acc, values.Get("weekly_capacity")
	f.Entered.Formats = values["format"]
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
	removed := values["remove"]
	rows := max(len(days), len(times), len(ends), len(urls))
	for i := range min(rows, maxFormMeetings+1) {
		at := func(vs []string) string {
			if i < len(vs) {
				return vs[i]
			}
			return ""
		}
		f.Entered.Rows = append(f.Entered.Rows, MeetingRow{
			MeetingFields: MeetingFields{Day: at(days), Time: at(times), EndTime: at(ends), OnlineURL: at(urls)},
			Removed:       slices.Contains(removed, strconv.Itoa(i)),
		})
	}
	if len(days) != len(times) || len(days) != len(ends) || len(days) != len(urls) || len(days) > maxFormMeetings+1 {
		return append(fields, problem.FieldError{Field: "day", Detail: "Send day, time, end_time and online_url once for each meeting."})
	}
	f.Meetings = []MeetingFields{}
	for i, r := range f.Entered.Rows {
		m := r.MeetingFields
		m.OnlineURL = strings.TrimSpace(m.OnlineURL)
		if r.Removed || m == (MeetingFields{}) {
			continue // removed, or the new meeting's row left empty
		}
		f.Meetings = append(f.Meetings, m)
		f.MeetingRow = append(f.MeetingRow, i)
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
