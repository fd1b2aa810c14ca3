package outcomes_test

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/outcomes"
	"github.com/handoff-health/handoff/shared/problem"
)

// TestReportsRefuse: a report needs the operator's token, or the clinic's
// own key (one answer for an unknown clinic and a wrong key), and a span
// of days that runs forward and is at most MaxDays long.
func TestReportsRefuse(t *testing.T) {
	h := apptest.New(t)
	c := h.NewClinic("lakeside", "")
	ctx := context.Background()
	o := outcomes.New(h.App)
	today := h.Now().UTC().Truncate(24 * time.Hour)
	ok := outcomes.Query{From: today.AddDate(0, 0, -6), To: today}
	tests := []struct {
		name string
		run  func() error
		want problem.Code
	}{
		{"a wrong admin token", func() error { _, err := o.Admin(ctx, "not-the-token", ok); return err }, problem.Unauthorized},
		{"an unknown clinic", func() error { _, err := o.Clinic(ctx, "nowhere", c.APIKey, ok); return err }, problem.Unauthorized},
		{"another clinic's key", func() error { _, err := o.Clinic(ctx, "lakeside", "hk_wrong", ok); return err }, problem.Unauthorized},
		{"a span backwards", func() error {
			_, err := o.Admin(ctx, apptest.AdminToken, outcomes.Query{From: today, To: today.AddDate(0, 0, -1)})
			return err
		}, problem.Invalid},
		{"a span too long", func() error {
			_, err := o.Clinic(ctx, "lakeside", c.APIKey, outcomes.Query{From: today.AddDate(0, 0, -outcomes.MaxDays), To: today})
			return err
		}, problem.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !problem.Is(err, tc.want) {
				t.Errorf("%v, want %s", err, tc.want)
			}
		})
	}
	rep, err := o.Clinic(ctx, "lakeside", c.APIKey, ok)
	if err != nil || rep.Clinic != "lakeside" || !rep.Suppressed || len(rep.Funnel) != len(outcomes.FunnelStages) {
		t.Errorf("the clinic's own report: %+v, %v", rep, err)
	}
	v, err := o.Dashboard(ctx)
	if err != nil || !v.SignedIn || len(v.Weeks) != 12 || len(v.Funnel) != len(outcomes.FunnelStages) {
		t.Errorf("the operator's page: %d weeks, %d stages, %v", len(v.Weeks), len(v.Funnel), err)
	}
}
