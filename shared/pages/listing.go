package pages

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/handoff-health/handoff/shared/problem"
)

// Listing page actions (the form's "action" field).
const (
	ActionListingConfirm = "confirm"
	ActionListingPause   = "pause"
)

// Listing page notices.
const (
	NoticeListingConfirmed = "listing-confirmed"
	NoticeListingPaused    = "listing-paused"
)

// listingNotices are the listing page's notices; true marks an alert.
var listingNotices = map[string]bool{
	NoticeListingConfirmed: false, NoticeListingPaused: false, NoticeTryAgain: true,
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
	PausedReason  string
	LastConfirmed time.Time
	FeedOwned     bool // its meetings come from a feed, which owns them
	CSRFToken     string
	ActionURL     string // the page's own path, /l/{token}
	Notice        string
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
	if p.Title, err = t.T("listing.title", "Group", v.GroupName); err != nil {
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
	p.FormURL = withLang(v.ActionURL, t.Lang)
	return renderPage(w, "listing", p)
}

// ListingForm is a posted listing page form.
type ListingForm struct {
	Action string
	CSRF   string
	Weeks  int // pause: how many weeks
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
	case ActionListingConfirm:
	case ActionListingPause:
		var w string
		w, fields = one(values, "weeks", fields)
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n > MaxPauseWeeks {
			fields = append(fields, problem.FieldError{Field: "weeks", Detail: fmt.Sprintf("Give a whole number of weeks from 1 to %d.", MaxPauseWeeks)})
		}
		f.Weeks = n
	default:
		fields = append(fields, problem.FieldError{Field: "action", Detail: "Choose confirm or pause."})
	}
	if len(fields) > 0 {
		return ListingForm{}, problem.Invalidf(fields, "The form is not complete.")
	}
	return f, nil
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
