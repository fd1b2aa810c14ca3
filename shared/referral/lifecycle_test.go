package referral

import (
	"testing"
	"time"
)

// TestFirstMeetingKeepsTheReferralOpen: a referral with a first meeting
// waits for the word on it — accepted or connected, it may still become
// attended, be cancelled or revoked — until it is attended or the week
// after the meeting ran out (Settled); without one, connected is closed
// and attended is out of reach.
func TestFirstMeetingKeepsTheReferralOpen(t *testing.T) {
	start := time.Date(2026, 6, 2, 2, 0, 0, 0, time.UTC)
	plan := &FirstMeeting{GroupID: "g", Route: 1, Value: "2026-06-01T19:00", Start: start, End: start.Add(90 * time.Minute)}
	settled := *plan
	settled.Settled = true
	tests := []struct {
		name   string
		status Status
		plan   *FirstMeeting
		open   bool
		can    []Status
		cannot []Status
		awaits bool
	}{
		{"connected, no plan", Connected, nil, false, nil, []Status{Attended, Cancelled, Revoked}, false},
		{"connected, a plan", Connected, plan, true, []Status{Attended, Cancelled, Revoked}, []Status{NotConnected, Connected}, true},
		{"connected, settled", Connected, &settled, false, nil, []Status{Attended, Cancelled, Revoked}, false},
		{"accepted, a plan", Accepted, plan, true, []Status{Attended, Connected, NotConnected, Cancelled, Revoked}, nil, true},
		{"accepted, no plan", Accepted, nil, true, []Status{Connected, Cancelled}, []Status{Attended}, false},
		{"accepted, settled", Accepted, &settled, true, []Status{Connected}, []Status{Attended}, false},
		{"attended", Attended, plan, false, nil, []Status{Attended, Cancelled, Revoked, Connected}, false},
		{"routed, a plan", Routed, plan, true, []Status{Accepted}, []Status{Attended}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Referral{Status: tt.status, FirstMeeting: tt.plan}
			if r.Open() != tt.open || r.AwaitsMeeting() != tt.awaits {
				t.Errorf("open %v awaits %v, want %v %v", r.Open(), r.AwaitsMeeting(), tt.open, tt.awaits)
			}
			for _, to := range tt.can {
				if !r.CanMove(to) {
					t.Errorf("cannot move to %s", to)
				}
			}
			for _, to := range tt.cannot {
				if r.CanMove(to) {
					t.Errorf("can move to %s", to)
				}
			}
		})
	}
	if Attended.Open() || CanMove(Connected, Attended) {
		t.Error("the table alone: attended is closed, and connected leads nowhere without a plan")
	}
}
