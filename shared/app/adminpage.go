package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/pages"
)

// AdminSessionTTL is how long the operator's page stays signed in.
const AdminSessionTTL = 12 * time.Hour

// adminWeeks is how many weeks the operator's page shows.
const adminWeeks = 12

// The form bindings of the operator's page: the sign-in form is bound to a
// fixed name (the pages refuse cross-site posts as well), the sign-out form
// to the session.
const adminLoginForm = "admin-login"

// adminSessionMAC signs a session's expiry with the link key, bound to the
// admin token (its SHA-256), so that a new token ends every session.
func (a *App) adminSessionMAC(ctx context.Context, expires int64) (string, error) {
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	token := a.Config.AdminTokenSHA256
	if a.Config.AdminToken != "" {
		token = HashToken(a.Config.AdminToken)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "handoff/admin-session/v1|%d|%s", expires, token)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// AdminSignIn checks the operator's token and returns a session value for
// a cookie, and when it expires. Errors: Unauthorized.
func (a *App) AdminSignIn(ctx context.Context, token string) (string, time.Time, error) {
	if err := a.CheckAdmin(ctx, token); err != nil {
		return "", time.Time{}, err
	}
	exp := a.now().Add(AdminSessionTTL).Truncate(time.Second)
	mac, err := a.adminSessionMAC(ctx, exp.Unix())
	if err != nil {
		return "", time.Time{}, err
	}
	return strconv.FormatInt(exp.Unix(), 10) + "." + mac, exp, nil
}

// AdminSession reports whether a session cookie's value is valid now.
func (a *App) AdminSession(ctx context.Context, value string) bool {
	expS, mac, ok := strings.Cut(value, ".")
	if !ok || len(value) > 128 {
		return false
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil || a.now().Unix() >= exp || exp > a.now().Add(AdminSessionTTL).Unix() {
		return false
	}
	want, err := a.adminSessionMAC(ctx, exp)
	return err == nil && hmac.Equal([]byte(want), []byte(mac))
}

// AdminFormToken is the anti-CSRF token of the sign-in form (session "") or
// of a signed-in page's forms.
func (a *App) AdminFormToken(ctx context.Context, session string) (string, error) {
	key, err := a.LinkKey(ctx)
	if err != nil {
		return "", err
	}
	return pages.CSRF{Key: key}.Token(adminLoginForm + "|" + session), nil
}

// CheckAdminForm checks a posted anti-CSRF token.
func (a *App) CheckAdminForm(ctx context.Context, session, got string) bool {
	key, err := a.LinkKey(ctx)
	return err == nil && (pages.CSRF{Key: key}).Check(adminLoginForm+"|"+session, got)
}

// AdminDashboard is what the signed-in operator's page shows: the last 12
// weeks (Monday to Sunday, UTC, the current week last) of all clinics.
func (a *App) AdminDashboard(ctx context.Context) (pages.AdminView, error) {
	today := a.now().Truncate(24 * time.Hour)
	monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	from := monday.AddDate(0, 0, -7*(adminWeeks-1))
	// One read of the 12 weeks: the report and the weekly trend both come
	// from it.
	items, err := a.Referrals.Outcomes(ctx, from, today, "C#")
	if err != nil {
		return pages.AdminView{}, err
	}
	rep := summarize(OutcomeQuery{From: from, To: today}, items)
	v := pages.AdminView{SignedIn: true, From: rep.From, To: rep.To}
	for _, s := range FunnelStages {
		v.Funnel = append(v.Funnel, pages.AdminCount{Label: strings.ToUpper(s[:1]) + s[1:], N: deref(rep.Funnel[s])})
	}
	weeks := make([]pages.AdminWeek, adminWeeks)
	for i := range weeks {
		weeks[i].Label = from.AddDate(0, 0, 7*i).Format("2006-01-02")
	}
	hist := map[string]int64{}
	for _, it := range items {
		if strings.Count(it.Scope, "#") != 1 {
			continue // a topic's or a group's counters
		}
		d, err := time.Parse("2006-01-02", it.Day)
		if err != nil {
			continue
		}
		w := int(d.Sub(from).Hours()) / (24 * 7)
		if w < 0 || w >= adminWeeks {
			continue
		}
		weeks[w].Received += it.Counters["received"]
		weeks[w].Connected += it.Counters["connected"]
		add(hist, it.Counters)
	}
	v.Weeks = weeks
	for _, b := range hourBuckets {
		v.Connect = append(v.Connect, pages.AdminCount{Label: hoursLabel(b), N: hist["tx_le_"+strconv.Itoa(b)]})
	}
	v.Connect = append(v.Connect, pages.AdminCount{Label: "Longer", N: hist["tx_gt"]})
	for _, g := range rep.Groups {
		row := pages.AdminGroup{ID: g.GroupID, MedianResponse: "—", ResponseRate: "—"}
		row.Notified, row.Accepted, row.Declined, row.TimedOut = deref(g.Notified), deref(g.Accepted), deref(g.Declined), deref(g.TimedOut)
		if row.Notified > 0 {
			row.ResponseRate = fmt.Sprintf("%.0f%%", 100*float64(row.Accepted+row.Declined)/float64(row.Notified))
		}
		if g.MedianResponseHours != nil {
			row.MedianResponse = hoursLabel(int(*g.MedianResponseHours))
		}
		v.Groups = append(v.Groups, row)
	}
	slices.SortStableFunc(v.Groups, func(x, y pages.AdminGroup) int { return int(y.Notified - x.Notified) })
	return v, nil
}

func deref(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// hoursLabel writes a bucket's bound for a person: "8 hours", "3 days".
func hoursLabel(h int) string {
	switch {
	case h == 1:
		return "1 hour"
	case h < 48:
		return strconv.Itoa(h) + " hours"
	case h%24 == 0:
		return strconv.Itoa(h/24) + " days"
	}
	return strconv.Itoa(h) + " hours"
}
