package meeting

import (
	"context"
	"errors"
	"strconv"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
	"github.com/handoff-health/handoff/shared/textlimit"
)

func itoa(n int) string { return strconv.Itoa(n) }

// openNotice loads what a group's notice event needs while its route still
// waits for the group's answer: the record, the route and the group. ok is
// false when there is nothing left to do (answered, withdrawn, revoked,
// the group gone from the directory).
func (m *Meetings) openNotice(ctx context.Context, ev referral.Event) (*dynamo.Record, referral.Route, directory.Group, bool, error) {
	rec, err := m.App.Referrals.Load(ctx, ev.Partition)
	if err != nil {
		return nil, referral.Route{}, directory.Group{}, false, err
	}
	rt, ok := routeOf(rec, ev)
	if !ok || rt.Status != referral.RouteNotified || rec.Referral.Status != referral.Routed || rec.Referral.Consent == nil {
		return rec, rt, directory.Group{}, false, nil
	}
	g, err := m.App.Directory.GetGroup(ctx, rt.GroupID)
	if problem.Is(err, problem.NotFound) {
		return rec, rt, g, false, nil
	}
	return rec, rt, g, err == nil, err
}

// textsGroup reports whether the group's contact takes notices by text.
func (m *Meetings) textsGroup(g directory.Group) bool {
	return g.Contact.Texts && g.Contact.Phone != "" && m.App.Config.Texts() && m.App.Texter != nil
}

// contactTexts are the limits of the texts to a group's contact: at most
// three a day and ten in any seven days (in the group's zone), at any hour
// (a notice answers a patient who waits), counted for the number in the
// one place every text is (dynamo.Referrals.TakeText). However many
// referrals reach one group, its volunteer's phone gets no more; a text
// over them is not sent, and its notice or reminder goes by email only,
// as it always goes.
var contactTexts = textlimit.Policy{PerDay: 3, PerWeek: 10}

// textGroup texts the group's contact the notice (or its reminder) with
// the page's short link, within contactTexts. A number that refuses texts
// is logged and left: the notice went by email too.
func (m *Meetings) textGroup(ctx context.Context, ev referral.Event, r *referral.Referral, rt referral.Route, g directory.Group, clinicName string, reminder bool) error {
	kind, err := m.App.TextPatient(ctx, ev, g.Contact.Phone, app.PatientText{
		// Of use now or never: over the limits it is not sent (Skip).
		Effect: "sms", Zone: rt.GroupTimezone, Latest: m.App.Clock(), Policy: contactTexts,
		Build: func() (sms.Text, error) {
			tok, _, err := m.App.LinkToken(ctx, "group-text", r.ID, rt.Seq)
			if err != nil {
				return sms.Text{}, err
			}
			body, err := pages.GroupNoticeSMS(pages.GroupLang(g), clinicName, m.App.Config.PublicURL+"/g/"+tok, reminder)
			return sms.Text{To: g.Contact.Phone, Body: body}, err
		},
	})
	var un *sms.Unreachable
	switch {
	case errors.As(err, &un):
		m.App.Log.WarnContext(ctx, "a group contact's number does not take texts", "referral", r.ID, "event", ev.ID, "group", g.ID)
		return nil
	case err != nil:
		return err
	case kind != textlimit.SendNow:
		m.App.Log.InfoContext(ctx, "a group contact's text not sent: the contact's text limits", "referral", r.ID, "event", ev.ID, "group", g.ID)
		m.App.Metrics.Emit("GroupTextsOverLimit", 1, metrics.Count)
	}
	return nil
}

// onGroupText texts the notice to a group's contact who agreed to texts.
func (m *Meetings) onGroupText(ctx context.Context, ev referral.Event) error {
	rec, rt, g, ok, err := m.openNotice(ctx, ev)
	if err != nil {
		return err
	}
	if !ok || !m.textsGroup(g) {
		return m.App.Referrals.Finish(ctx, ev)
	}
	clinic, err := m.App.Clinic(ctx, rec.Referral.ClinicID)
	if err != nil {
		return err
	}
	if err := m.textGroup(ctx, ev, rec.Referral, rt, g, clinic.Name, false); err != nil {
		return err
	}
	return m.App.Referrals.Finish(ctx, ev)
}

// onGroupWindow acts when the first-contact window ran out and the group
// has not answered: one reminder to its contact, by email and, when the
// notice went by text, by text; and the notice to the group's service
// office, when it has an email, with a link of its own (written here, with
// the office's event, in the write that finishes this one). The timeline
// says each step.
func (m *Meetings) onGroupWindow(ctx context.Context, ev referral.Event) error {
	rec, rt, g, ok, err := m.openNotice(ctx, ev)
	if err != nil {
		return err
	}
	if !ok {
		return m.App.Referrals.Finish(ctx, ev)
	}
	r := rec.Referral
	clinic, err := m.App.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	lang := pages.GroupLang(g)
	deadline := occurrence.Zoned(rt.Deadline, rt.GroupTimezone)
	err = m.App.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
		tok, _, err := m.App.LinkToken(ctx, "group", r.ID, rt.Seq)
		if err != nil {
			return mail.Message{}, err
		}
		e, err := pages.GroupReminderEmail(lang, g.Name, clinic.Name, m.App.Config.PublicURL+"/g/"+tok, deadline)
		return e.To(g.Contact.Email), err
	})
	if err != nil {
		return err
	}
	texted := false
	for _, e := range rec.Events {
		texted = texted || e.Type == referral.GroupText && e.Data["route"] == ev.Data["route"]
	}
	if texted && m.textsGroup(g) {
		if err := m.textGroup(ctx, ev, r, rt, g, clinic.Name, true); err != nil {
			return err
		}
	}
	ch := dynamo.Change{Referral: r, Done: &ev}
	detail := rt.GroupName + " had not answered within the first-contact window: reminded"
	if g.Office.Email != "" {
		_, tok, err := m.App.OfficeToken(ctx, r, rt)
		if err != nil {
			return err
		}
		ch.Tokens = append(ch.Tokens, tok)
		ch.Events = append(ch.Events, m.App.NewEvent(r, referral.OfficeNotified, m.App.Clock(), func(e *referral.Event) {
			e.Data = map[string]string{"route": ev.Data["route"], "group": rt.GroupID}
		}))
		detail += "; its service office was told"
	}
	ch.Records = append(ch.Records, m.App.Note(r, detail))
	if err := m.App.Apply(ctx, ch); err != nil {
		return err
	}
	m.App.Metrics.Emit("GroupReminders", 1, metrics.Count)
	return nil
}

// onOfficeNotified emails a group's service office the notice of a
// referral the group has not answered, with the office's own link to the
// group's page, which answers for the group. Once the group (or the
// office) answered, there is nothing to send.
func (m *Meetings) onOfficeNotified(ctx context.Context, ev referral.Event) error {
	rec, rt, g, ok, err := m.openNotice(ctx, ev)
	if err != nil {
		return err
	}
	if !ok || g.Office.Email == "" {
		return m.App.Referrals.Finish(ctx, ev)
	}
	r := rec.Referral
	clinic, err := m.App.Clinic(ctx, r.ClinicID)
	if err != nil {
		return err
	}
	err = m.App.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
		tok, _, err := m.App.OfficeToken(ctx, r, rt)
		if err != nil {
			return mail.Message{}, err
		}
		e, err := pages.OfficeNoticeEmail(pages.GroupLang(g), g.Office.Name, g.Name, clinic.Name,
			m.App.Config.PublicURL+"/g/"+tok, occurrence.Zoned(rt.Deadline, rt.GroupTimezone))
		return e.To(g.Office.Email), err
	})
	if err != nil {
		return err
	}
	m.App.Metrics.Emit("OfficeNotices", 1, metrics.Count)
	return m.App.Referrals.Finish(ctx, ev)
}
