package pages

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Email is one message in its recipient's language: a subject, a plain-text
// body and an HTML body saying the same thing. Every value a person typed is
// escaped in HTML, and control characters are removed from every value, so
// none can add a header or a line.
type Email struct {
	Subject string
	Text    string
	HTML    string
	// Attachments go with the email (the plan's calendar file); none for
	// most emails.
	Attachments []mail.Attachment
}

// Receipt is what a patient agreed to, for ConsentReceiptEmail.
type Receipt struct {
	Mode      string    // ModeIntroduce or ModeSelf
	Channel   string    // the shared contact channel in words, masked (see ContactChannel)
	Groups    []string  // the chosen groups' names, in the patient's order
	SignedAt  time.Time // when the patient confirmed
	ExpiresAt time.Time // when the agreement ends
}

// GroupDetails is one group's public listing, for SelfModeEmail.
type GroupDetails struct {
	Name         string
	When         string // when it meets, in words
	Where        string // address or area, optional
	OnlineHow    string // how to join online, optional
	ContactName  string // optional
	ContactEmail string // optional
}

// field is a labelled value in an email.
type field struct {
	Label string
	Value string
}

// numbered is a list item with its number.
type numbered struct {
	N    int
	Name string
}

// selfGroup is one group as the self-mode email lists it.
type selfGroup struct {
	Name  string
	Lines []string
	Email string
}

// mailData is what every email template may show.
type mailData struct {
	tr
	Subject string
	Clinic  string
	Name    string // the recipient's name (patient or clinician), or the patient's given name for a group
	Group   string
	Link    string
	Date    string
	Expires string
	Self    bool
	Channel string
	Groups  []numbered
	Fields  []field
	Details []selfGroup
	Status  string
	Ref     string
	ID      string
	// Volunteer and Note: who from the group will reach out, and what they
	// wrote to the patient.
	Volunteer string
	Note      string
}

// newMail starts an email in lang with its subject from message subjectID.
func newMail(lang, clinic, subjectID string, kv ...any) (mailData, error) {
	t, err := newTr(lang)
	if err != nil {
		return mailData{}, err
	}
	d := mailData{tr: t, Clinic: oneLine(clinic)}
	subject, err := t.T(subjectID, append([]any{"Clinic", d.Clinic}, kv...)...)
	if err != nil {
		return d, err
	}
	d.Subject = oneLine(subject)
	return d, nil
}

// checkLink accepts only an absolute http or https URL with no spaces or
// control characters. Its error never repeats the link, which holds a token.
func checkLink(link string) error {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		strings.ContainsFunc(link, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return problem.Errorf(problem.Invalid, "An email link must be an absolute http or https URL.")
	}
	return nil
}

// render executes the text and HTML templates of email name.
func (d mailData) render(name string) (Email, error) {
	textT, err := lookup(textTemplates, name+".txt")
	if err != nil {
		return Email{}, err
	}
	htmlT, err := lookup(emailTemplates, name)
	if err != nil {
		return Email{}, err
	}
	var text, html bytes.Buffer
	if err := textT.ExecuteTemplate(&text, name+".txt", d); err != nil {
		return Email{}, fmt.Errorf("render %s email text: %w", name, err)
	}
	if err := htmlT.ExecuteTemplate(&html, "layout", d); err != nil {
		return Email{}, fmt.Errorf("render %s email html: %w", name, err)
	}
	return Email{Subject: d.Subject, Text: text.String(), HTML: html.String()}, nil
}

// ConsentEmail is the email that asks a patient to review a referral. Its
// subject names only the clinic ("Lakeside Health Center: please review a
// referral") and nothing in it names a topic or a group: others may read a
// patient's mailbox. link is the consent page's URL, shown exactly as given;
// expires is when the link stops working. It returns an Invalid error for a
// link that is not an absolute http(s) URL.
func ConsentEmail(lang, givenName, clinicName, link string, expires time.Time) (Email, error) {
	return consentEmail("email.consent.subject", lang, givenName, clinicName, link, expires)
}

// ConsentReminderEmail is the one reminder of a consent email the patient
// has not answered: the same message under a subject that says it is a
// reminder. It returns the errors ConsentEmail returns.
func ConsentReminderEmail(lang, givenName, clinicName, link string, expires time.Time) (Email, error) {
	return consentEmail("email.reminder.subject", lang, givenName, clinicName, link, expires)
}

func consentEmail(subjectID, lang, givenName, clinicName, link string, expires time.Time) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	d, err := newMail(lang, clinicName, subjectID)
	if err != nil {
		return Email{}, err
	}
	d.Name, d.Link = oneLine(givenName), link
	if d.Date, err = d.tr.Date(expires); err != nil {
		return Email{}, err
	}
	return d.render("consent")
}

// VolunteerEmail tells the patient who from the group will reach out and
// how (channel, in words: see ContactChannel), with the volunteer's note. Its
// subject names only the clinic; no topic.
func VolunteerEmail(lang, givenName, clinicName, groupName, volunteer, channel, note string) (Email, error) {
	d, err := newMail(lang, clinicName, "email.volunteer.subject")
	if err != nil {
		return Email{}, err
	}
	d.Name, d.Group, d.Volunteer, d.Channel, d.Note = oneLine(givenName), oneLine(groupName), oneLine(volunteer), oneLine(channel), note
	return d.render("volunteer")
}

// ConsentReceiptEmail is the patient's receipt of their consent: what they
// agreed to, until when, and how to revoke it on the same consent link. It
// names the groups the patient chose, and no topic. It returns an Invalid error
// for a bad link, and an error for an unknown mode or a missing date.
func ConsentReceiptEmail(lang, givenName, clinicName, link string, r Receipt) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	if r.Mode != ModeIntroduce && r.Mode != ModeSelf {
		return Email{}, fmt.Errorf("receipt email: unknown mode %q", r.Mode)
	}
	if r.SignedAt.IsZero() || r.ExpiresAt.IsZero() {
		return Email{}, fmt.Errorf("receipt email: signing and expiry times are required")
	}
	d, err := newMail(lang, clinicName, "email.receipt.subject")
	if err != nil {
		return Email{}, err
	}
	d.Name, d.Link, d.Self, d.Channel = oneLine(givenName), link, r.Mode == ModeSelf, oneLine(r.Channel)
	for i, g := range r.Groups {
		d.Groups = append(d.Groups, numbered{N: i + 1, Name: oneLine(g)})
	}
	if d.Date, err = d.tr.Date(r.SignedAt); err != nil {
		return Email{}, err
	}
	if d.Expires, err = d.tr.Date(r.ExpiresAt); err != nil {
		return Email{}, err
	}
	return d.render("receipt")
}

// GroupNoticeEmail is the notice to a group's contact: only what the patient
// agreed to share (given name, contact, preferred language and times), the
// referring clinic, the group page link and the answer deadline, with the
// redisclosure notice. preferredLanguage may be a BCP 47 code, named in the
// email's language. It returns an Invalid error for a bad link.
func GroupNoticeEmail(lang, groupName, clinicName, givenName, contact, preferredLanguage, preferredTimes, link string, deadline time.Time) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	group := oneLine(groupName)
	d, err := newMail(lang, clinicName, "email.group.subject", "Group", group)
	if err != nil {
		return Email{}, err
	}
	d.Group, d.Name, d.Link = group, oneLine(givenName), link
	rows := []struct{ id, value string }{
		{"group.field.name", d.Name},
		{"group.field.contact", oneLine(contact)},
		{"group.field.language", ""},
		{"group.field.times", oneLine(preferredTimes)},
	}
	if l := oneLine(preferredLanguage); l != "" {
		rows[2].value = d.tr.LanguageName(l)
	}
	for _, row := range rows {
		if row.value == "" {
			continue
		}
		label, err := d.T(row.id)
		if err != nil {
			return Email{}, err
		}
		d.Fields = append(d.Fields, field{Label: label, Value: row.value})
	}
	if d.Date, err = d.tr.Date(deadline); err != nil {
		return Email{}, err
	}
	return d.render("group")
}

// SelfModeEmail gives a patient who chose to contact groups themselves the
// details of the groups they chose. It holds the groups' public listings only;
// the subject names neither a group nor a topic. It returns an error when
// groups is empty.
func SelfModeEmail(lang, givenName, clinicName string, groups []GroupDetails) (Email, error) {
	if len(groups) == 0 {
		return Email{}, fmt.Errorf("self-mode email: no groups")
	}
	d, err := newMail(lang, clinicName, "email.self.subject")
	if err != nil {
		return Email{}, err
	}
	d.Name = oneLine(givenName)
	for _, g := range groups {
		sg := selfGroup{Name: oneLine(g.Name), Email: oneLine(g.ContactEmail)}
		for _, row := range []struct{ id, value string }{
			{"email.self.when", g.When},
			{"email.self.where", g.Where},
			{"email.self.online", g.OnlineHow},
			{"email.self.contact", g.ContactName},
		} {
			if v := oneLine(row.value); v != "" {
				line, err := d.T(row.id, "Value", v)
				if err != nil {
					return Email{}, err
				}
				sg.Lines = append(sg.Lines, line)
			}
		}
		d.Details = append(d.Details, sg)
	}
	return d.render("self")
}

// WithdrawnEmail tells a group's contact that a referral is withdrawn (the
// patient revoked, the clinic cancelled, or the group's turn timed out). It
// says nothing about the patient. It returns an Invalid error for a bad link.
func WithdrawnEmail(lang, groupName, clinicName, link string) (Email, error) {
	if err := checkLink(link); err != nil {
		return Email{}, err
	}
	group := oneLine(groupName)
	d, err := newMail(lang, clinicName, "email.withdrawn.subject", "Group", group)
	if err != nil {
		return Email{}, err
	}
	d.Group, d.Link = group, link
	return d.render("withdrawn")
}

// ClinicianStatusEmail tells the referring clinician that a referral's status
// changed, in words, with the clinic's own reference (externalID, or the
// referral id when there is none). It holds no patient contact data and no
// group contact data. It returns an error for a status not in the contract.
func ClinicianStatusEmail(lang, clinicianName, clinicName, externalID, referralID string, status referral.Status, at time.Time) (Email, error) {
	ref := oneLine(externalID)
	if ref == "" {
		ref = oneLine(referralID)
	}
	t, err := newTr(lang)
	if err != nil {
		return Email{}, err
	}
	short, err := t.T("status.short." + string(status))
	if err != nil {
		return Email{}, fmt.Errorf("clinician email: unknown status %q", status)
	}
	d, err := newMail(lang, clinicName, "email.clinician.subject", "Ref", ref, "Status", short)
	if err != nil {
		return Email{}, err
	}
	d.Name, d.Ref, d.ID = oneLine(clinicianName), ref, oneLine(referralID)
	if d.Status, err = d.T("status." + string(status)); err != nil {
		return Email{}, err
	}
	if d.Date, err = d.tr.Date(at); err != nil {
		return Email{}, err
	}
	return d.render("clinician")
}

// button is a link drawn as a button in an HTML email.
type button struct {
	Link  string
	Label string
}

// Button returns the email's link with the label of message labelID.
func (d mailData) Button(labelID string) (button, error) {
	label, err := d.T(labelID)
	return button{Link: d.Link, Label: label}, err
}
