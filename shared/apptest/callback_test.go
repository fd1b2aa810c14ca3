package apptest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestCallbackGoneDisables: a 410 turns the clinic's status webhooks off.
func TestCallbackGoneDisables(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusGone)
	}))
	defer hook.Close()
	w := newWorld(t, hook.URL)
	_, link := w.refer(t, "cb1@patient.example")
	w.confirm(t, link, "introduce", "mission-a")
	c, err := w.App.Clinics.Get(context.Background(), "lakeside")
	if err != nil || !c.CallbackDisabled {
		t.Fatalf("callback not disabled after a 410: %v %v", c.CallbackDisabled, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("%d deliveries, want 1 (then none after the 410)", calls)
	}
}

// TestCallbackRetryAfter: a Retry-After is honoured before the next attempt.
func TestCallbackRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	var h interface{ Now() time.Time }
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, h.Now())
		if len(at) == 1 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	w := newWorld(t, hook.URL)
	h = w.Harness
	st, b := w.Refer(w.clinic, "application/json", referralFor("cb2@patient.example", "Diaz"))
	if st != http.StatusAccepted {
		t.Fatalf("%d %s", st, b)
	}
	w.Settle()
	w.Advance(30 * time.Minute)
	w.Settle()
	mu.Lock()
	n := len(at)
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d deliveries within the hour the endpoint asked for, want 1", n)
	}
	w.Advance(31 * time.Minute)
	w.Settle()
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 2 || at[1].Sub(at[0]) < time.Hour {
		t.Fatalf("deliveries at %v, want a second one an hour after the first", at)
	}
}
