package listing

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/occurrence"
	"github.com/handoff-health/handoff/shared/pages"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// listingLink is what a listing page token opens: its group, and whether
// it is the new contact's link to take the group over, not yet confirmed.
type listingLink struct {
	g        directory.Group
	seq      int
	takeOver bool
	tookOver bool // a hand-over link whose take-over is done: now a listing link
}

// link resolves a listing page token to its group. A contact's
// link stops working once the group is handed over (410), and so does a
// hand-over link another hand-over replaced. Errors: problem.NotFound, Gone.
func (l *Listings) link(ctx context.Context, token string) (listingLink, error) {
	a := l.App
	if !app.ValidToken(token) {
		return listingLink{}, errLinkNotFound
	}
	t, err := a.Referrals.Token(ctx, app.HashToken(token))
	if err != nil {
		return listingLink{}, err
	}
	gid, ok := strings.CutPrefix(t.ReferralID, dynamo.GroupPartition(""))
	if (t.Kind != listingKind && t.Kind != handoverKind) || !ok {
		return listingLink{}, errLinkNotFound
	}
	if !l.now().Before(t.ExpiresAt) {
		return listingLink{}, errLinkGone
	}
	g, err := a.Directory.GetGroup(ctx, gid)
	if problem.Is(err, problem.NotFound) {
		return listingLink{}, errLinkNotFound
	}
	if err != nil {
		return listingLink{}, err
	}
	lk := listingLink{g: g, seq: t.RouteSeq}
	switch {
	case t.Kind == listingKind && t.RouteSeq == g.ContactSeq:
	case t.Kind == handoverKind && t.RouteSeq == g.ContactSeq && g.ContactSeq > 0:
		// The new contact, after confirming: their link is a listing link.
		lk.tookOver = true
	case t.Kind == handoverKind && g.HandoverTo != nil && t.RouteSeq == g.HandoverSeq:
		lk.takeOver = true
	default:
		return listingLink{}, errLinkGone
	}
	return lk, nil
}

// Page returns what the listing check page shows.
func (l *Listings) Page(ctx context.Context, token, lang, notice string) (pages.ListingView, error) {
	a := l.App
	lk, err := l.link(ctx, token)
	if err != nil {
		return pages.ListingView{}, err
	}
	g := lk.g
	key, err := a.LinkKey(ctx)
	if err != nil {
		return pages.ListingView{}, err
	}
	if lang == "" {
		lang = pages.GroupLang(g)
	}
	lang = pages.Lang(lang)
	v := pages.ListingView{
		Lang: lang, GroupName: g.Name, Formats: g.Formats, Languages: g.Languages, Accessibility: g.Accessibility,
		Capacity: g.WeeklyCapacity, Accepting: g.AcceptingReferrals, LastConfirmed: occurrence.Zoned(g.LastConfirmedAt, g.Timezone()),
		FeedOwned: g.Source != "admin", CSRFToken: pages.CSRF{Key: key}.Token(token), ActionURL: "/l/" + token + "?lang=" + lang,
		Notice: notice,
	}
	if g.LastConfirmedAt.IsZero() {
		v.LastConfirmed = time.Time{} // zoned gives a zero time a zone
	}
	if g.PausedAt(l.now()) {
		v.PausedReason, v.PausedUnanswered = g.PausedReason, g.PausedReason == unansweredPauseReason
		if g.TimedPause() {
			v.PausedUntil = occurrence.Zoned(g.PausedUntil, g.Timezone())
		}
	}
	for _, m := range g.Meetings {
		line := pages.MeetingWhen(lang, []referral.MeetingTime{{Day: m.Day, Time: m.Time}}) + "–" + pages.Clock(lang, m.EndTime)
		if m.Timezone != "" {
			line += " (" + m.Timezone + ")"
		}
		v.Meetings = append(v.Meetings, line)
		if m.OnlineURL != "" && !slices.Contains(v.OnlineURLs, m.OnlineURL) {
			v.OnlineURLs = append(v.OnlineURLs, m.OnlineURL)
		}
	}
	if lk.takeOver {
		v.TakeOver, v.NewContact = true, g.HandoverTo.Name
	}
	if !v.FeedOwned {
		for _, m := range g.Meetings {
			v.Edit = append(v.Edit, pages.MeetingFields{Day: m.Day, Time: m.Time, EndTime: m.EndTime, OnlineURL: m.OnlineURL})
		}
	}
	v.Where = g.Where()
	v.ContactPhone, v.ContactTexts = g.Contact.Phone, g.Contact.Texts
	return v, nil
}

// Action records a contact's answer to a listing check and returns
// the notice the page shows next. Any answer counts as an answer: it clears
// what unanswered checks did, and the next check is due a period later (at
// the end of a pause, and never before it). Resuming ends the contact's
// pause now.
func (l *Listings) Action(ctx context.Context, token string, f pages.ListingForm) (string, error) {
	a := l.App
	lk, err := l.link(ctx, token)
	if err != nil {
		return "", err
	}
	g := lk.g
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	if !(pages.CSRF{Key: key}).Check(token, f.CSRF) {
		return pages.NoticeTryAgain, nil
	}
	switch {
	case f.Action == pages.ActionTakeOver && lk.tookOver:
		return pages.NoticeTookOver, nil // taken over already (a second click, say)
	case lk.takeOver && f.Action != pages.ActionTakeOver:
		return "", problem.Invalidf([]problem.FieldError{{Field: "action", Detail: "this link takes the group over: use its Take over button"}}, "Not an answer this link takes.")
	case !lk.takeOver && f.Action == pages.ActionTakeOver:
		return "", problem.Invalidf([]problem.FieldError{{Field: "action", Detail: "only the new contact's link takes the group over"}}, "Not an answer this link takes.")
	}
	if f.Action == pages.ActionTakeOver {
		return l.takeOver(ctx, lk)
	}
	if f.Action == pages.ActionHandover {
		return l.handOver(ctx, g, f)
	}
	if f.Action == pages.ActionListingUpdate {
		// Checked on a copy first: a change the listing would refuse is a
		// 400 that names the field, and nothing is written.
		if _, err := updated(g, f); err != nil {
			return "", err
		}
	}
	now := l.now()
	var next time.Time
	var (
		notice  string
		refused error // the update the listing refuses, as it now is
	)
	err = a.Directory.EditGroup(ctx, g.ID, func(g *directory.Group) bool {
		notice, refused = pages.NoticeListingConfirmed, nil
		next = l.nextCheck(*g, now)
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
	if err := l.scheduleCheck(ctx, g.ID, next); err != nil {
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
		tz := g.Timezone()
		var ms []directory.Meeting
		for _, m := range f.Meetings {
			ms = append(ms, directory.Meeting{Day: m.Day, Time: m.Time, EndTime: m.EndTime, Timezone: tz, OnlineURL: m.OnlineURL})
		}
		g.Meetings = ms
	}
	g.Normalize()
	return g, g.Validate()
}

// handOver records the contact's hand-over of the group to a new contact,
// who confirms by their own link; the event that emails both follows.
// Asking again replaces an unconfirmed hand-over.
func (l *Listings) handOver(ctx context.Context, g directory.Group, f pages.ListingForm) (string, error) {
	a := l.App
	now := l.now()
	seq := 0
	var next time.Time
	err := a.Directory.EditGroup(ctx, g.ID, func(g *directory.Group) bool {
		next = l.nextCheck(*g, now)
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
	ev := a.ListingCheck(g.ID, now, false)
	ev.Type, ev.Data["seq"] = referral.ListingHandover, strconv.Itoa(seq)
	err = a.Referrals.ApplyGroup(ctx, dynamo.GroupChange{Partition: part, Events: []referral.Event{ev},
		Tokens: []dynamo.Token{{Hash: hash, Kind: handoverKind, ReferralID: part, RouteSeq: seq,
			ExpiresAt: expires, TTL: expires.Add(a.Config.Retention).Unix()}}})
	if err != nil {
		return "", err
	}
	if err := l.scheduleCheck(ctx, g.ID, next); err != nil {
		return "", err
	}
	a.Log.InfoContext(ctx, "listing answered", "group", g.ID, "answer", pages.ActionHandover)
	return pages.NoticeHandoverSent, nil
}

// takeOver makes the new contact the group's contact. The earlier
// contact's listing link stops working.
func (l *Listings) takeOver(ctx context.Context, lk listingLink) (string, error) {
	a := l.App
	now := l.now()
	next := now.Add(a.Config.ListingCheckEvery)
	took := false
	err := a.Directory.EditGroup(ctx, lk.g.ID, func(g *directory.Group) bool {
		took = g.HandoverTo != nil && g.HandoverSeq == lk.seq
		if !took {
			return false
		}
		next = l.nextCheck(*g, now)
		g.Contact, g.HandoverTo, g.ContactSeq = *g.HandoverTo, nil, lk.seq
		answered(g, now)
		return true
	})
	if err == nil && !took {
		err = errLinkGone // another hand-over replaced this one meanwhile
	}
	if err != nil {
		return "", err
	}
	if err := l.scheduleCheck(ctx, lk.g.ID, next); err != nil {
		return "", err
	}
	a.Log.InfoContext(ctx, "listing answered", "group", lk.g.ID, "answer", pages.ActionTakeOver)
	return pages.NoticeTookOver, nil
}

// onHandover emails the new contact their link to take the group
// over, and tells the current contact.
func (l *Listings) onHandover(ctx context.Context, ev referral.Event) error {
	a := l.App
	g, err := a.Directory.GetGroup(ctx, ev.Data["group"])
	if problem.Is(err, problem.NotFound) {
		return a.Referrals.Finish(ctx, ev)
	}
	if err != nil {
		return err
	}
	if g.HandoverTo == nil || strconv.Itoa(g.HandoverSeq) != ev.Data["seq"] {
		return a.Referrals.Finish(ctx, ev) // confirmed or replaced meanwhile
	}
	lang := pages.GroupLang(g)
	err = a.SendOnce(ctx, ev, "email-new", func() (mail.Message, error) {
		tok, _, err := a.LinkToken(ctx, handoverKind, ev.Partition, g.HandoverSeq)
		if err != nil {
			return mail.Message{}, err
		}
		m, err := pages.HandoverEmail(lang, g.Name, g.HandoverTo.Name, a.Config.PublicURL+"/l/"+tok)
		return m.To(g.HandoverTo.Email), err
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
		return m.To(g.Contact.Email), err
	})
	if err != nil {
		return err
	}
	return a.Referrals.Finish(ctx, ev)
}
