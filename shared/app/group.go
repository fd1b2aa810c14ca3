package app

import (
	"context"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/metrics"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// capacityCoolDown is how long a no-capacity decline lowers a group's ranking.
const capacityCoolDown = 14 * 24 * time.Hour

// The link kinds of a group's page: the notice's link by email, the same
// page by text (a shorter token, so the text fits one segment), and the
// one the group's service office gets, which answers for the group.
var groupLinkKinds = []string{"group", "group-text", "office"}

// groupRoute resolves a group page token to its record and route.
func (a *App) groupRoute(ctx context.Context, token string) (dynamo.Token, *dynamo.Record, referral.Route, error) {
	t, rec, err := a.linkRecord(ctx, token, groupLinkKinds...)
	if err != nil {
		return t, nil, referral.Route{}, err
	}
	for _, rt := range rec.Routes {
		if rt.Seq == t.RouteSeq {
			if !a.now().Before(t.ExpiresAt) {
				return t, nil, rt, errLinkGone
			}
			return t, rec, rt, nil
		}
	}
	return t, nil, referral.Route{}, errLinkNotFound
}

// GroupPage returns what a group contact's page shows: only what the patient
// agreed to share, while the route is open. Errors: problem.NotFound, Gone.
func (a *App) GroupPage(ctx context.Context, token, lang, notice string) (pages.GroupView, error) {
	_, rec, rt, err := a.groupRoute(ctx, token)
	if err != nil {
		return pages.GroupView{}, err
	}
	r := rec.Referral
	clinic, err := a.Clinic(ctx, r.ClinicID)
	if err != nil {
		return pages.GroupView{}, err
	}
	key, err := a.LinkKey(ctx)
	if err != nil {
		return pages.GroupView{}, err
	}
	if lang == "" {
		lang = rt.GroupLanguage // fixed when the group was approached: no read per view
	}
	lang = pages.Lang(lang)
	v := pages.GroupView{
		Lang: lang, GroupName: rt.GroupName, ClinicName: clinic.Name, State: rt.Status,
		CSRFToken: pages.CSRF{Key: key}.Token(token), ActionURL: "/g/" + token + "?lang=" + lang, Notice: notice,
	}
	if rt.Status == referral.RouteNotified || rt.Status == referral.RouteAccepted {
		v.GivenName = r.Patient.GivenName
		v.Contact = sharedContact(r)
		v.PreferredLanguage = r.Patient.Language
		v.PreferredTimes = preferredTimes(lang, r.Preferences)
	}
	if rt.Status == referral.RouteNotified {
		v.AnswerBy = occurrence.Zoned(rt.Deadline, rt.GroupTimezone)
	}
	return v, a.groupPlanView(ctx, r, rt, &v)
}

// GroupAction records a group contact's answer and returns the notice the page
// shows next. An answer the route's state does not allow changes nothing.
func (a *App) GroupAction(ctx context.Context, token string, f pages.GroupForm) (string, error) {
	for attempt := 0; ; attempt++ {
		notice, err := a.groupAction(ctx, token, f)
		if problem.Is(err, problem.Conflict) && attempt < 3 {
			continue
		}
		return notice, err
	}
}

func (a *App) groupAction(ctx context.Context, token string, f pages.GroupForm) (string, error) {
	_, rec, rt, err := a.groupRoute(ctx, token)
	if err != nil {
		return "", err
	}
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	if !(pages.CSRF{Key: key}).Check(token, f.CSRF) {
		return pages.NoticeTryAgain, nil
	}
	to, notice := map[string]referral.RouteStatus{
		pages.ActionAccept: referral.RouteAccepted, pages.ActionDecline: referral.RouteDeclined,
		pages.ActionConnected: referral.RouteConnected, pages.ActionNotConnected: referral.RouteNotConnected,
	}[f.Action], f.Action
	switch f.Action {
	case pages.ActionAccept:
		notice = pages.NoticeAccepted
	case pages.ActionDecline:
		notice = pages.NoticeDeclined
	}
	if f.Action == pages.ActionAttended || f.Action == pages.ActionMissed {
		if fm := rec.Referral.FirstMeeting; fm == nil || fm.Route != rt.Seq {
			return "", nil
		}
		if ok, err := a.answerAttendance(ctx, rec, f.Action, "the group"); !ok || err != nil {
			return "", err
		}
		return f.Action, nil // NoticeAttended, NoticeMissed
	}
	if to == "" || !referral.CanMoveRoute(rt.Status, to) {
		if rt.Status != referral.RouteNotified && (to == referral.RouteAccepted || to == referral.RouteDeclined) {
			return pages.NoticeAnswered, nil // the first answer, by another link, stands
		}
		return "", nil // a repeated or late answer: the page shows the state as it is
	}
	reason := ""
	if to == referral.RouteDeclined {
		reason = f.Reason
	}
	var vol *referral.Volunteer
	var plan *referral.FirstMeeting
	if to == referral.RouteAccepted && f.VolunteerName != "" {
		vol = &referral.Volunteer{Name: f.VolunteerName, Note: f.VolunteerNote, GroupID: rt.GroupID, At: a.now()}
	}
	if to == referral.RouteAccepted && f.FirstMeeting != "" {
		if plan, err = a.pickMeeting(ctx, rt, f.FirstMeeting); err != nil {
			return "", err
		}
	}
	ch, err := a.answerRoute(ctx, rec, rt, to, reason, vol, plan)
	if err != nil {
		return "", err
	}
	if err := a.Apply(ctx, ch); err != nil {
		return "", err
	}
	a.Log.InfoContext(ctx, "group answered", "referral", rec.Referral.ID, "route", rt.Seq, "answer", string(to), "reason", reason)
	if plan != nil {
		a.Metrics.Emit("FirstMeetingsPlanned", 1, metrics.Count)
	}
	if reason == "no-capacity" {
		if err := a.Directory.Penalize(ctx, rt.GroupID, a.now().Add(capacityCoolDown)); err != nil {
			a.Log.WarnContext(ctx, "capacity penalty not recorded", "group", rt.GroupID, "error", err.Error())
		}
	}
	return notice, nil
}

// preferredTimes says when the patient would like to meet, in words (""
// when they did not say), in the page's translations.
func preferredTimes(lang string, p referral.Preferences) string {
	t, err := pages.PreferredTimesText(lang, p.Days, p.Times)
	if err != nil {
		return "" // intake admits only known codes; nothing to show otherwise
	}
	return t
}
