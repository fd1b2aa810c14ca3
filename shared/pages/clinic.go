package pages

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/topics"
)

// The clinic's pages' notices.
const (
	NoticeClinicLinkSent    = "clinic-link-sent"    // the consent link goes by email or text
	NoticeClinicNotAwaiting = "clinic-not-awaiting" // the referral no longer awaits consent
	NoticeClinicSignInSent  = "clinic-signin-sent"  // "if the address is staff's, a link is on its way"
	NoticeClinicSignedOut   = "clinic-signed-out"
	NoticeClinicSignInAgain = "clinic-sign-in-again" // a form came with no live session: nothing was done
	NoticeClinicRefused     = "clinic-refused"       // a sign-in was refused
	NoticeClinicTooMany     = "clinic-too-many"      // too many sign-in links asked for
	NoticeClinicNewQR       = "clinic-new-qr"        // a new QR code is shown
	NoticeClinicFixFields   = "clinic-fix-fields"    // the form has errors
	NoticeClinicFromEHR     = "clinic-from-ehr"      // the form is filled in from the EHR's chart
)

var clinicNotices = map[string]bool{
	NoticeClinicLinkSent: false, NoticeClinicNotAwaiting: false, NoticeClinicSignInSent: false,
	NoticeClinicSignedOut: false, NoticeClinicRefused: true, NoticeClinicTooMany: true, NoticeClinicNewQR: false,
	NoticeClinicFixFields: true, NoticeTryAgain: true, NoticeClinicFromEHR: false, NoticeClinicSignInAgain: true,
}

// ClinicPage is the part every clinic page view shares.
type ClinicPage struct {
	Lang       string
	ClinicName string // "" before signing in
	StaffName  string // "" before signing in
	CSRFToken  string
	Path       string // the page's own path (for the language switch)
	Notice     string
	// Embedded: a page of a launch inside a frame of the EHR's page,
	// which links to no other page of the clinic's (its session reaches
	// none).
	Embedded bool
}

// ClinicSignInView is /clinic without a session: the passkey, or a sign-in
// link by email.
type ClinicSignInView struct{ ClinicPage }

// ClinicLinkView is a one-time staff link's page (/s/{token}): register a
// passkey (an invitation) or sign in (a sign-in link).
type ClinicLinkView struct {
	ClinicPage
	Invite    bool
	ActionURL string // /s/{token}
	Name      string // the staff member's
	Clinic    string // the clinic's name
}

// ClinicRow is one referral of the clinic's list.
type ClinicRow struct {
	ID        string
	GivenName string
	Topics    []string // in words
	Status    string
	Changed   time.Time
}

// ClinicListView is the clinic's referrals, newest first.
type ClinicListView struct {
	ClinicPage
	Rows   []ClinicRow
	Before string // the next page's key, "" for none
}

// ClinicForm is the referral form's values as typed.
type ClinicForm struct {
	GivenName, Email, Phone, Language, PostalCode, Topic string
	Formats, Accessibility                               []string
	Spirituality                                         string
}

// ClinicFormView is the referral form (/clinic/new), with the errors of a
// form sent back (by form field).
type ClinicFormView struct {
	ClinicPage
	FormKey string // the form's one-time key
	Values  ClinicForm
	Errors  map[string]bool
}

// ClinicEvent is one status change of a referral's timeline.
type ClinicEvent struct {
	At     time.Time
	Status string
	Detail string
}

// ClinicRoute is one group approached.
type ClinicRoute struct{ Name, Status string }

// ClinicReferralView is one referral's page: its status and timeline, and
// while it awaits consent the QR code of its /q/ link.
type ClinicReferralView struct {
	ClinicPage
	ID        string
	GivenName string
	Topics    []string
	Status    string
	Created   time.Time
	ViewedAt  time.Time // the patient opened the consent page
	Timeline  []ClinicEvent
	Groups    []ClinicRoute
	// QRSVG is the QR code (shared/qr.SVG) of QRLink, good until QRExpires;
	// empty when there is no live one: QROpenedAt says when it was opened,
	// QRExpired that it ran out unopened.
	QRSVG      string
	QRLink     string
	QRExpires  time.Time
	QROpenedAt time.Time
	QRExpired  bool
	CanEmail   bool // "send the link by email instead"
	CanText    bool // "send the link by text instead"
}

// clinicFormFields maps the intake's native paths to the form's fields.
var clinicFormFields = map[string]string{
	"patient.given_name": "given_name", "patient.email": "email", "patient.phone": "phone",
	"patient.preferred_language": "language", "patient.postal_code": "postal_code", "patient.location": "postal_code",
	"needs": "topic", "preferences.formats": "format", "preferences.spirituality": "spirituality",
	"preferences.accessibility": "accessibility",
}

// ClinicFormErrors names the form fields of an intake's field errors (by
// native path, see intake.FromForm); a path the form has no field for is
// left out.
func ClinicFormErrors(fields []problem.FieldError) map[string]bool {
	out := map[string]bool{}
	for _, fe := range fields {
		path := fe.Field
		if i := strings.IndexByte(path, '['); i >= 0 {
			path = path[:i]
		}
		if f, ok := clinicFormFields[path]; ok {
			out[f] = true
		}
	}
	return out
}

// QRLabel is the QR code's accessible name.
func QRLabel(lang string) (string, error) {
	t, err := newTr(lang)
	if err != nil {
		return "", err
	}
	return t.T("clinic.qr.label")
}

// choice is an option of the form: a value, its words, and whether chosen.
type choice struct {
	Value, Label string
	Checked      bool
	// ID names the choice in its element's id when its value cannot
	// (an empty value); Key gives it.
	ID string
}

// Key is the choice's part of its element's id: ID, else the value.
func (c choice) Key() string { return or(c.ID, c.Value) }

// choiceSet is a fieldset of checkboxes or radio buttons, the layout's
// "choices" template: its inputs are named Name and their ids Name-Key.
type choiceSet struct {
	Legend, Error string
	Type          string // "checkbox" or "radio"
	Name          string
	Items         []choice
}

// newChoiceSet is the set of a form field: its legend's message, its error
// message when the field has one.
func newChoiceSet(t tr, typ, name, legendID string, errs map[string]bool, errID string) choiceSet {
	c := choiceSet{Legend: mustT(t, legendID), Type: typ, Name: name}
	if errs[name] && errID != "" {
		c.Error = mustT(t, errID)
	}
	return c
}

type clinicPage struct {
	base
	Page    string // which section of the template
	SignIn  *ClinicSignInView
	Link    *ClinicLinkView
	List    *ClinicListView
	Form    *ClinicFormView
	Ref     *ClinicReferralView
	Shared  ClinicPage
	Topics  []choice
	Formats choiceSet
	Access  choiceSet
	Langs   choiceSet
	Spirit  choiceSet
	QR      template.HTML
	Dates   map[string]string
}

func newClinicPage(p ClinicPage, page, titleID string) (clinicPage, tr, error) {
	t, err := newTr(p.Lang)
	if err != nil {
		return clinicPage{}, t, err
	}
	if p.CSRFToken == "" {
		return clinicPage{}, t, fmt.Errorf("clinic page: a form token is required")
	}
	c := clinicPage{Page: page, Shared: p, Dates: map[string]string{}}
	if c.base, err = newBase(t, p.Path); err != nil {
		return c, t, err
	}
	c.Footer = false
	if c.Title, err = t.T(titleID); err != nil {
		return c, t, err
	}
	if c.Notice, err = newNotice(t, p.Notice, clinicNotices); err != nil {
		return c, t, fmt.Errorf("clinic page: %w", err)
	}
	return c, t, nil
}

func (c *clinicPage) date(t tr, key string, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	s, err := t.Date(at)
	c.Dates[key] = s
	return err
}

// RenderClinicSignIn writes /clinic's sign-in page.
func RenderClinicSignIn(w io.Writer, v ClinicSignInView) error {
	c, _, err := newClinicPage(v.ClinicPage, "signin", "clinic.signin.title")
	if err != nil {
		return err
	}
	c.SignIn = &v
	return renderPage(w, "clinic", c)
}

// RenderClinicLink writes a one-time staff link's page.
func RenderClinicLink(w io.Writer, v ClinicLinkView) error {
	title := "clinic.link.signin.title"
	if v.Invite {
		title = "clinic.link.invite.title"
	}
	c, _, err := newClinicPage(v.ClinicPage, "link", title)
	if err != nil {
		return err
	}
	c.Link = &v
	return renderPage(w, "clinic", c)
}

// RenderClinicList writes the clinic's list of referrals.
func RenderClinicList(w io.Writer, v ClinicListView) error {
	c, t, err := newClinicPage(v.ClinicPage, "list", "clinic.list.title")
	if err != nil {
		return err
	}
	for _, r := range v.Rows {
		if err := c.date(t, r.ID, r.Changed); err != nil {
			return err
		}
	}
	c.List = &v
	return renderPage(w, "clinic", c)
}

// RenderClinicForm writes the referral form.
func RenderClinicForm(w io.Writer, v ClinicFormView) error {
	c, t, err := newClinicPage(v.ClinicPage, "form", "clinic.form.title")
	if err != nil {
		return err
	}
	if v.FormKey == "" {
		return fmt.Errorf("clinic form: a form key is required")
	}
	es := t.Lang == Spanish
	c.Topics = append(c.Topics, choice{Value: "", Label: mustT(t, "clinic.form.topic.choose"), Checked: v.Values.Topic == ""})
	for _, tp := range topics.All() {
		label := tp.LabelEN
		if es {
			label = tp.LabelES
		}
		c.Topics = append(c.Topics, choice{Value: tp.Code, Label: label, Checked: v.Values.Topic == tp.Code})
	}
	c.Formats = newChoiceSet(t, "checkbox", "format", "clinic.form.format", v.Errors, "clinic.error.format")
	for _, f := range formatCodes {
		c.Formats.Items = append(c.Formats.Items, choice{Value: f, Label: mustT(t, "format."+f), Checked: contains(v.Values.Formats, f)})
	}
	c.Access = newChoiceSet(t, "checkbox", "accessibility", "clinic.form.accessibility", v.Errors, "clinic.error.accessibility")
	for _, a := range directory.AccessibilityFeatures() {
		c.Access.Items = append(c.Access.Items, choice{Value: a, Label: mustT(t, "access."+a), Checked: contains(v.Values.Accessibility, a)})
	}
	c.Langs = newChoiceSet(t, "radio", "language", "clinic.form.language", v.Errors, "")
	for _, l := range []string{English, Spanish} {
		c.Langs.Items = append(c.Langs.Items, choice{Value: l, Label: t.LanguageName(l), Checked: v.Values.Language == l || v.Values.Language == "" && l == t.Lang})
	}
	c.Spirit = newChoiceSet(t, "radio", "spirituality", "clinic.form.spirituality", v.Errors, "clinic.error.spirituality")
	for _, s := range []string{"", "secular", "spiritual"} {
		c.Spirit.Items = append(c.Spirit.Items, choice{Value: s, ID: or(s, "either"), Label: mustT(t, "clinic.form.spirituality."+or(s, "either")), Checked: v.Values.Spirituality == s})
	}
	if v.Errors == nil {
		v.Errors = map[string]bool{}
	}
	c.Form = &v
	return renderPage(w, "clinic", c)
}

// RenderClinicReferral writes one referral's page.
func RenderClinicReferral(w io.Writer, v ClinicReferralView) error {
	c, t, err := newClinicPage(v.ClinicPage, "referral", "clinic.referral.title")
	if err != nil {
		return err
	}
	if v.QRSVG != "" {
		if !strings.HasPrefix(v.QRSVG, "<svg ") || strings.Contains(strings.ToLower(v.QRSVG), "<script") {
			return fmt.Errorf("clinic referral page: the QR code is not an inline SVG")
		}
		c.QR = template.HTML(v.QRSVG) // #nosec G203 -- shared/qr's drawing: numbers and an escaped label
	}
	for k, at := range map[string]time.Time{"created": v.Created, "viewed": v.ViewedAt, "qr-expires": v.QRExpires, "qr-opened": v.QROpenedAt} {
		if err := c.date(t, k, at); err != nil {
			return err
		}
	}
	for i, e := range v.Timeline {
		if err := c.date(t, "t"+fmt.Sprint(i), e.At); err != nil {
			return err
		}
	}
	c.Ref = &v
	return renderPage(w, "clinic", c)
}

// StaffInviteEmail is the invitation of a staff member to register a passkey
// for the clinic's pages.
func StaffInviteEmail(lang, clinic, name, link string, expires time.Time) (Email, error) {
	return staffEmail("email.staff.invite.subject", "email.staff.invite.body", lang, clinic, name, link, expires)
}

// SignInEmail is a one-time sign-in link to the clinic's pages.
func SignInEmail(lang, clinic, name, link string, expires time.Time) (Email, error) {
	return staffEmail("email.staff.signin.subject", "email.staff.signin.body", lang, clinic, name, link, expires)
}

func staffEmail(subjectID, bodyID, lang, clinic, name, link string, expires time.Time) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	d, err := newMail(lang, clinic, subjectID)
	if err != nil {
		return Email{}, err
	}
	d.Name, d.Link, d.Status = oneLine(name), link, bodyID
	if d.Date, err = d.tr.Date(expires); err != nil {
		return Email{}, err
	}
	return d.render("staff")
}

func mustT(t tr, id string) string {
	s, err := t.T(id)
	if err != nil {
		return id
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// StatusWords puts a referral status in the page's words.
func (t tr) StatusWords(status string) string { return mustT(t, "clinic.status."+status) }
