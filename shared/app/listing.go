package app

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Listing checks keep group listings current. Every
// HANDOFF_LISTING_CHECK_EVERY (and when an operator asks) a group's contact
// gets an email with a /l/ link to the listing as handoff offers it, where
// they confirm it or pause the group for some weeks. A check is a
// referral.ListingCheck event in the group's own partition (see
// dynamo.GroupPartition), delivered like every other event; the periodic
// one schedules the next when it has run, and an answer starts the period
// again. A check nobody answered lowers the group's rank for a period; a
// second one pauses the group until its contact answers.
//
// A contact's pause ends at its paused_until whatever else happens (see
// directory.Group.PausedAt): the group keeps its match-index items during it,
// so no write has to come at that time; answers and checks meanwhile only
// move the next check, never before the pause ends.

const (
	listingKind = "listing"
	// Pause reasons, shown to operators.
	contactPauseReason    = "paused by its contact"
	unansweredPauseReason = directory.UnansweredPause
)

// listingEvent is a listing check of group gid due at due.
func (a *App) listingEvent(gid string, due time.Time, periodic bool) referral.Event {
	now := a.now()
	data := map[string]string{"group": gid}
	if periodic {
		data["periodic"] = "1"
	}
	return referral.Event{ID: NewID(now), Partition: dynamo.GroupPartition(gid), Type: referral.ListingCheck, At: now, Due: due, Data: data}
}

// RequestListingCheck sends a group's contact a listing check now. It
// returns a problem.NotFound error for an unknown group.
func (a *App) RequestListingCheck(ctx context.Context, gid string) error {
	if _, err := a.Directory.GetGroup(ctx, gid); err != nil {
		return err
	}
	ev := a.listingEvent(gid, a.now(), false)
	return a.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: ev.Partition, Events: []referral.Event{ev}})
}

// scheduleListingCheck makes the group's next periodic check due at due,
// in place of any pending one.
func (a *App) scheduleListingCheck(ctx context.Context, gid string, due time.Time) error {
	next := a.listingEvent(gid, due, true)
	return a.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: next.Partition, Next: &next})
}

// listingSchedule gives a stored group that has no listing-check schedule
// its first check, due at due(its id), in the group's own transaction (see
// dynamo.GroupSchedule); a schedule it has is kept as it is.
func (a *App) listingSchedule(due func(gid string) time.Time) *dynamo.GroupSchedule {
	return &dynamo.GroupSchedule{Referrals: a.Referrals, First: func(gid string) referral.Event {
		return a.listingEvent(gid, due(gid), true)
	}}
}

// importSpread is the share of a period over which an import's first
// checks are spread: a feed of thousands of groups does not email all
// their contacts on one day.
const importSpread = 4 // a quarter

// importedCheckDue is when the first check of a group an import stored is
// due: a period from now, plus an offset under a quarter of the period that
// the group's id fixes (to the second), so the same group gets the same
// offset and a feed's groups fall evenly over those weeks. Each later check
// is a period after the one before, so the spread lasts.
func (a *App) importedCheckDue(gid string) time.Time {
	every := a.Config.ListingCheckEvery
	due := a.now().Add(every)
	window := uint64(every / importSpread / time.Second)
	if window == 0 {
		return due
	}
	h := fnv.New64a()
	h.Write([]byte(gid))
	return due.Add(time.Duration(h.Sum64()%window) * time.Second)
}

// onListingCheck sends one listing check. A periodic check first settles the
// one before it: unanswered once, the group ranks lower for a period;
// twice, it is paused. It then schedules the next.
func (a *App) onListingCheck(ctx context.Context, ev referral.Event) error {
	gid := ev.Data["group"]
	periodic := ev.Data["periodic"] == "1"
	if periodic {
		head, err := a.Referrals.ListingHead(ctx, ev.Partition)
		if err != nil {
			return err
		}
		if head != ev.ID {
			return a.Referrals.Finish(ctx, ev) // another check took its place
		}
	}
	at := ev.At
	if periodic {
		at = ev.Due
	}
	every := a.Config.ListingCheckEvery
	// The edit is keyed by the check's time, so a retry does not count twice.
	var g directory.Group // the group as the edit leaves it
	err := a.Directory.EditGroup(ctx, gid, func(cur *directory.Group) bool {
		defer func() { g = *cur }()
		if !cur.ListingCheckedAt.Before(at) {
			return false
		}
		if periodic && !cur.ListingCheckedAt.IsZero() && cur.LastConfirmedAt.Before(cur.ListingCheckedAt) {
			cur.ListingUnanswered++
			switch {
			case cur.ListingUnanswered == 1 && cur.PenaltyUntil.Before(at.Add(every)):
				cur.PenaltyUntil = at.Add(every).UTC()
			case cur.ListingUnanswered >= 2 && !cur.Paused:
				cur.Pause(unansweredPauseReason)
			}
		}
		cur.ListingCheckedAt = at.UTC()
		return true
	})
	if problem.Is(err, problem.NotFound) {
		return a.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	next := a.nextCheck(g, at)
	// The link is the contact's: a new contact gets a new one.
	tok, hash, err := a.LinkToken(ctx, listingKind, ev.Partition, g.ContactSeq)
	if err != nil {
		return err
	}
	// Each check keeps the link working for two more periods.
	token := dynamo.Token{Hash: hash, Kind: listingKind, ReferralID: ev.Partition, RouteSeq: g.ContactSeq,
		ExpiresAt: next.Add(every), TTL: next.Add(every + a.Config.Retention).Unix()}
	if err := a.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: ev.Partition, Tokens: []dynamo.Token{token}}); err != nil {
		return err
	}
	err = a.SendOnce(ctx, ev, "email", func() (mail.Message, error) {
		m, err := pages.ListingCheckEmail(groupLang(g), g.Name, a.Config.PublicURL+"/l/"+tok)
		return message(g.Contact.Email, m), err
	})
	if err != nil {
		return err
	}
	following := a.listingEvent(gid, next, true)
	ch := dynamo.GroupChange{Partition: ev.Partition, Done: &ev, Next: &following}
	if periodic {
		ch.IfHead = ev.ID
	}
	err = a.Referrals.ApplyGroup(ctx, ch)
	if problem.Is(err, problem.Conflict) {
		return a.Referrals.Finish(ctx, ev) // an answer rescheduled meanwhile
	}
	return err
}

// nextCheck is when the group's next periodic check is due after a check or
// an answer at: a period later, or when its contact's pause ends if that is
// later (no periodic check comes during a pause).
func (a *App) nextCheck(g directory.Group, at time.Time) time.Time {
	next := at.Add(a.Config.ListingCheckEvery)
	if g.PausedAt(at) && g.PausedUntil.After(next) {
		return g.PausedUntil
	}
	return next
}

// listingLink is what a listing page token opens: its group, and whether
// it is the new contact's link to take the group over, not yet confirmed.
type listingLink struct {
	g        directory.Group
	seq      int
	takeOver bool
	tookOver bool // a hand-over link whose take-over is done: now a listing link
}

// listingGroup resolves a listing page token to its group. A contact's
// link stops working once the group is handed over (410), and so does a
// hand-over link another hand-over replaced. Errors: problem.NotFound, Gone.
func (a *App) listingGroup(ctx context.Context, token string) (listingLink, error) {
	if !ValidToken(token) {
		return listingLink{}, errLinkNotFound
	}
	t, err := a.Referrals.Token(ctx, HashToken(token))
	if err != nil {
		return listingLink{}, err
	}
	gid, ok := strings.CutPrefix(t.ReferralID, dynamo.GroupPartition(""))
	if (t.Kind != listingKind && t.Kind != handoverKind) || !ok {
		return listingLink{}, errLinkNotFound
	}
	if !a.now().Before(t.ExpiresAt) {
		return listingLink{}, errLinkGone
	}
	g, err := a.Directory.GetGroup(ctx, gid)
	if problem.Is(err, problem.NotFound) {
		return listingLink{}, errLinkNotFound
	}
	if err != nil {
		return listingLink{}, err
	}
	l := listingLink{g: g, seq: t.RouteSeq}
	switch {
	case t.Kind == listingKind && t.RouteSeq == g.ContactSeq:
	case t.Kind == handoverKind && t.RouteSeq == g.ContactSeq && g.ContactSeq > 0:
		// The new contact, after confirming: their link is a listing link.
		l.tookOver = true
	case t.Kind == handoverKind && g.HandoverTo != nil && t.RouteSeq == g.HandoverSeq:
		l.takeOver = true
	default:
		return listingLink{}, errLinkGone
	}
	return l, nil
}

// ListingPage returns what the listing check page shows.
func (a *App) ListingPage(ctx context.Context, token, lang, notice string) (pages.ListingView, error) {
	l, err := a.listingGroup(ctx, token)
	if err != nil {
		return pages.ListingView{}, err
	}
	g := l.g
	key, err := a.LinkKey(ctx)
	if err != nil {
		return pages.ListingView{}, err
	}
	if lang == "" {
		lang = groupLang(g)
	}
	lang = pages.Lang(lang)
	v := pages.ListingView{
		Lang: lang, GroupName: g.Name, Formats: g.Formats, Languages: g.Languages, Accessibility: g.Accessibility,
		Capacity: g.WeeklyCapacity, Accepting: g.AcceptingReferrals, LastConfirmed: zoned(g.LastConfirmedAt, groupZone(g)),
		FeedOwned: g.Source != "admin", CSRFToken: pages.CSRF{Key: key}.Token(token), ActionURL: "/l/" + token + "?lang=" + lang,
		Notice: notice,
	}
	if g.LastConfirmedAt.IsZero() {
		v.LastConfirmed = time.Time{} // zoned gives a zero time a zone
	}
	if g.PausedAt(a.now()) {
		v.PausedReason, v.PausedUnanswered = g.PausedReason, g.PausedReason == unansweredPauseReason
		if g.TimedPause() {
			v.PausedUntil = zoned(g.PausedUntil, groupZone(g))
		}
	}
	for _, m := range g.Meetings {
		line := meetingWhen(lang, []referral.MeetingTime{{Day: m.Day, Time: m.Time}}) + "–" + clock(lang, m.EndTime)
		if m.Timezone != "" {
			line += " (" + m.Timezone + ")"
		}
		v.Meetings = append(v.Meetings, line)
		if m.OnlineURL != "" && !slices.Contains(v.OnlineURLs, m.OnlineURL) {
			v.OnlineURLs = append(v.OnlineURLs, m.OnlineURL)
		}
	}
	if l.takeOver {
		v.TakeOver, v.NewContact = true, g.HandoverTo.Name
	}
	if !v.FeedOwned {
		for _, m := range g.Meetings {
			v.Edit = append(v.Edit, pages.MeetingFields{Day: m.Day, Time: m.Time, EndTime: m.EndTime, OnlineURL: m.OnlineURL})
		}
	}
	v.Where = groupWhere(g)
	v.ContactPhone, v.ContactTexts = g.Contact.Phone, g.Contact.Texts
	return v, nil
}

// ListingAction records a contact's answer to a listing check and returns
// the notice the page shows next. Any answer counts as an answer: it clears
// what unanswered checks did, and the next check is due a period later (at
// the end of a pause, and never before it). Resuming ends the contact's
// pause now.
func (a *App) ListingAction(ctx context.Context, token string, f pages.ListingForm) (string, error) {
	l, err := a.listingGroup(ctx, token)
	if err != nil {
		return "", err
	}
	g := l.g
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	if !(pages.CSRF{Key: key}).Check(token, f.CSRF) {
		return pages.NoticeTryAgain, nil
	}
	switch {
	case f.Action == pages.ActionTakeOver && l.tookOver:
		return pages.NoticeTookOver, nil // taken over already (a second click, say)
	case l.takeOver && f.Action != pages.ActionTakeOver:
		return "", problem.Invalidf([]problem.FieldError{{Field: "action", Detail: "this link takes the group over: use its Take over button"}}, "Not an answer this link takes.")
	case !l.takeOver && f.Action == pages.ActionTakeOver:
		return "", problem.Invalidf([]problem.FieldError{{Field: "action", Detail: "only the new contact's link takes the group over"}}, "Not an answer this link takes.")
	}
	if f.Action == pages.ActionTakeOver {
		return a.takeOver(ctx, l)
	}
	if f.Action == pages.ActionHandover {
		return a.handOver(ctx, g, f)
	}
	if f.Action == pages.ActionListingUpdate {
		// Checked on a copy first: a change the listing would refuse is a
		// 400 that names the field, and nothing is written.
		if _, err := updated(g, f); err != nil {
			return "", err
		}
	}
	now := a.now()
	var next time.Time
	var (
		notice  string
		refused error // the update the listing refuses, as it now is
	)
	err = a.Directory.EditGroup(ctx, g.ID, func(g *directory.Group) bool {
		notice, refused = pages.NoticeListingConfirmed, nil
		next = a.nextCheck(*g, now)
		if f.Action == pages.ActionListingUpdate {
			u, err := updated(*g, f)
			if err != nil {
				refused = err
				return false
			}
			*g = u
			notice = pages.NoticeListingUpdated
		}
		answered(g, now)
		switch f.Action {
		case pages.ActionListingPause:
			next = now.Add(time.Duration(f.Weeks) * 7 * 24 * time.Hour).UTC()
			notice = pages.NoticeListingPaused
			// A group paused for another reason, a pause without an end
			// (its feed no longer carries it, its contact's mail bounced),
			// stays paused for that one, which this pause's end would lift.
			if !g.Paused || g.TimedPause() {
				g.PauseUntil(contactPauseReason, next)
			}
		case pages.ActionListingResume:
			if g.TimedPause() {
				g.Unpause()
				next = now.Add(a.Config.ListingCheckEvery)
			}
			if !g.Paused {
				notice = pages.NoticeListingResumed
			}
		}
		return true
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return "", err
	}
	if err := a.scheduleListingCheck(ctx, g.ID, next); err != nil {
		return "", err
	}
	a.Log.InfoContext(ctx, "listing answered", "group", g.ID, "answer", f.Action)
	return notice, nil
}

// updated is g with what the contact changed on the update form: whether it
// accepts referrals, its weekly capacity and the contact's number and
// agreement to texts (when the form carries them) and,
// unless a feed owns them, its format and its meetings (in the group's time
// zone). It returns the problem.Invalid error of the listing's own checks.
func updated(g directory.Group, f pages.ListingForm) (directory.Group, error) {
	g.AcceptingReferrals = f.Accepting
	if f.Capacity != nil {
		g.WeeklyCapacity = *f.Capacity
	}
	if f.Contact != nil {
		// The contact's own word: the number (in E.164 once normalized) and
		// whether they take notices by text at it.
		g.Contact.Phone, g.Contact.Texts = f.Contact.Phone, f.Contact.Texts
	}
	if f.Formats != nil {
		if g.Source != "admin" {
			return g, problem.Invalidf([]problem.FieldError{{Field: "format", Detail: "the group's feed owns how it meets"}}, "This group's format comes from a feed.")
		}
		g.Formats = f.Formats
	}
	if f.Meetings != nil {
		if g.Source != "admin" {
			return g, problem.Invalidf([]problem.FieldError{{Field: "day", Detail: "the group's feed owns its meetings"}}, "These meetings come from a feed.")
		}
		tz := groupZone(g)
		var ms []directory.Meeting
		for _, m := range f.Meetings {
			ms = append(ms, directory.Meeting{Day: m.Day, Time: m.Time, EndTime: m.EndTime, Timezone: tz, OnlineURL: m.OnlineURL})
		}
		g.Meetings = ms
	}
	g.Normalize()
	return g, g.Validate()
}

const handoverKind = "handover"

// handOver records the contact's hand-over of the group to a new contact,
// who confirms by their own link; the event that emails both follows.
// Asking again replaces an unconfirmed hand-over.
func (a *App) handOver(ctx context.Context, g directory.Group, f pages.ListingForm) (string, error) {
	now := a.now()
	seq := 0
	var next time.Time
	err := a.Directory.EditGroup(ctx, g.ID, func(g *directory.Group) bool {
		next = a.nextCheck(*g, now)
		g.HandoverSeq++
		seq = g.HandoverSeq
		g.HandoverTo = &directory.Contact{Name: f.ContactName, Email: f.ContactEmail}
		answered(g, now)
		return true
	})
	if err != nil {
		return "", err
	}
	part := dynamo.GroupPartition(g.ID)
	_, hash, err := a.LinkToken(ctx, handoverKind, part, seq)
	if err != nil {
		return "", err
	}
	expires := now.Add(2 * a.Config.ListingCheckEvery)
	ev := a.listingEvent(g.ID, now, false)
	ev.Type, ev.Data["seq"] = referral.ListingHandover, itoa(seq)
	err = a.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: part, Events: []referral.Event{ev},
		Tokens: []dynamo.Token{{Hash: hash, Kind: handoverKind, ReferralID: part, RouteSeq: seq,
			ExpiresAt: expires, TTL: expires.Add(a.Config.Retention).Unix()}}})
	if err != nil {
		return "", err
	}
	if err := a.scheduleListingCheck(ctx, g.ID, next); err != nil {
		return "", err
	}
	a.Log.InfoContext(ctx, "listing answered", "group", g.ID, "answer", pages.ActionHandover)
	return pages.NoticeHandoverSent, nil
}

// takeOver makes the new contact the group's contact. The earlier
// contact's listing link stops working.
func (a *App) takeOver(ctx context.Context, l listingLink) (string, error) {
	now := a.now()
	next := now.Add(a.Config.ListingCheckEvery)
	took := false
	err := a.Directory.EditGroup(ctx, l.g.ID, func(g *directory.Group) bool {
		took = g.HandoverTo != nil && g.HandoverSeq == l.seq
		if !took {
			return false
		}
		next = a.nextCheck(*g, now)
		g.Contact, g.HandoverTo, g.ContactSeq = *g.HandoverTo, nil, l.seq
		answered(g, now)
		return true
	})
	if err == nil && !took {
		err = errLinkGone // another hand-over replaced this one meanwhile
	}
	if err != nil {
		return "", err
	}
	if err := a.scheduleListingCheck(ctx, l.g.ID, next); err != nil {
		return "", err
	}
	a.Log.InfoContext(ctx, "listing answered", "group", l.g.ID, "answer", pages.ActionTakeOver)
	return pages.NoticeTookOver, nil
}

// answered records an answer to a listing check: it clears what unanswered
// checks did.
func answered(g *directory.Group, now time.Time) {
	g.LastConfirmedAt = now
	if g.ListingUnanswered > 0 {
		g.ListingUnanswered = 0
		g.PenaltyUntil = time.Time{}
		if g.Paused && g.PausedReason == unansweredPauseReason {
			g.Unpause()
		}
	}
}

// onListingHandover emails the new contact their link to take the group
// over, and tells the current contact.
func (a *App) onListingHandover(ctx context.Context, ev referral.Event) error {
	g, err := a.Directory.GetGroup(ctx, ev.Data["group"])
	if problem.Is(err, problem.NotFound) {
		return a.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	if g.HandoverTo == nil || itoa(g.HandoverSeq) != ev.Data["seq"] {
		return a.Referrals.Finish(ctx, ev) // confirmed or replaced meanwhile
	}
	lang := groupLang(g)
	err = a.SendOnce(ctx, ev, "email-new", func() (mail.Message, error) {
		tok, _, err := a.LinkToken(ctx, handoverKind, ev.Partition, g.HandoverSeq)
		if err != nil {
			return mail.Message{}, err
		}
		m, err := pages.HandoverEmail(lang, g.Name, g.HandoverTo.Name, a.Config.PublicURL+"/l/"+tok)
		return message(g.HandoverTo.Email, m), err
	})
	if err != nil {
		return err
	}
	err = a.SendOnce(ctx, ev, "email-old", func() (mail.Message, error) {
		tok, _, err := a.LinkToken(ctx, listingKind, ev.Partition, g.ContactSeq)
		if err != nil {
			return mail.Message{}, err
		}
		m, err := pages.HandoverNoticeEmail(lang, g.Name, g.HandoverTo.Name, a.Config.PublicURL+"/l/"+tok)
		return message(g.Contact.Email, m), err
	})
	if err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}
