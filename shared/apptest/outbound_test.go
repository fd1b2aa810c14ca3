package apptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// endpoint is a clinic's endpoint answering as answer says, noting when
// each post came and what kind of notification it was.
type endpoint struct {
	mu     sync.Mutex
	now    func() time.Time
	at     []time.Time
	kinds  []string
	answer func(n int, kind string) (status int, retryAfter string)
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var bundle map[string]any
	_ = json.Unmarshal(b, &bundle)
	kind, _, _ := notificationOf(bundle)
	e.mu.Lock()
	e.at = append(e.at, e.now())
	e.kinds = append(e.kinds, kind)
	status, retry := e.answer(len(e.at), kind)
	e.mu.Unlock()
	if retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	w.WriteHeader(status)
}

// serveEndpoint starts an endpoint answering as answer says, on the
// world's clock, and returns it with its URL.
func serveEndpoint(t *testing.T, w *world, answer func(n int, kind string) (int, string)) (*endpoint, string) {
	ep := &endpoint{now: w.Now, answer: answer}
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	return ep, srv.URL
}

func (e *endpoint) posts() ([]time.Time, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Time(nil), e.at...), append([]string(nil), e.kinds...)
}

func subscribe(t *testing.T, w *world, tok, url string, heartbeat int) map[string]any {
	t.Helper()
	channel := map[string]any{"type": "rest-hook", "endpoint": url, "payload": "application/fhir+json"}
	if heartbeat > 0 {
		channel["extension"] = []any{map[string]any{
			"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period", "valueUnsignedInt": heartbeat}}
	}
	st, _, sub := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, map[string]any{
		"resourceType": "Subscription", "status": "requested", "criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
		"channel": channel}, nil)
	if st != http.StatusCreated {
		t.Fatalf("subscribe: %d %v", st, sub)
	}
	return sub
}

// TestNotificationRetryAfter: a Subscription notification refused with a
// Retry-After is not posted again before the time the endpoint asked for,
// as a status webhook is not.
func TestNotificationRetryAfter(t *testing.T) {
	w := newWorld(t, "")
	ep, url := serveEndpoint(t, w, func(n int, kind string) (int, string) {
		if kind == "event-notification" && n == 2 {
			return http.StatusServiceUnavailable, "3600"
		}
		return http.StatusOK, ""
	})
	tok := w.fhirToken(t, newEHR(t), "lakeside", "system/Task.cru system/Subscription.cru")
	subscribe(t, w, tok, url, 0)
	w.Settle()
	if st, _, _ := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("later@patient.example", "ORD-RA"), nil); st != http.StatusCreated {
		t.Fatal("create a Task")
	}
	w.Settle()
	w.Advance(30 * time.Minute)
	w.Settle()
	if at, kinds := ep.posts(); len(at) != 2 {
		t.Fatalf("%d posts (%v) within the hour the endpoint asked for, want the handshake and the one refused", len(at), kinds)
	}
	w.Advance(31 * time.Minute)
	w.Settle()
	at, kinds := ep.posts()
	if len(at) != 3 || kinds[2] != "event-notification" || at[2].Sub(at[1]) < time.Hour {
		t.Fatalf("posts %v at %v, want the notification again an hour after it was refused", kinds, at)
	}
}

// TestNotificationGone: a 410 from a Subscription's endpoint is taken as a
// status webhook's is: the endpoint is gone, nothing more is posted to it
// (neither notifications nor heartbeats), and the subscription says so
// (status error) until its client starts it again.
func TestNotificationGone(t *testing.T) {
	for _, gone := range []string{"event-notification", "heartbeat"} {
		t.Run(gone, func(t *testing.T) {
			w := newWorld(t, "")
			ep, url := serveEndpoint(t, w, func(_ int, kind string) (int, string) {
				if kind == gone {
					return http.StatusGone, ""
				}
				return http.StatusOK, ""
			})
			e := newEHR(t)
			tok := w.fhirToken(t, e, "lakeside", "system/Task.cru system/Subscription.cru")
			sub := subscribe(t, w, tok, url, 3600)
			w.Settle()
			if gone == "heartbeat" {
				w.Advance(61 * time.Minute)
				w.Settle()
			}
			tok = w.fhirToken(t, e, "lakeside", "system/Task.cru system/Subscription.cru")
			if st, _, _ := w.fhirCall(t, http.MethodPost, "/fhir/Task", tok, gravityTask("gone@patient.example", "ORD-G"), nil); st != http.StatusCreated {
				t.Fatal("create a Task")
			}
			w.Settle()
			for range 4 {
				w.Advance(61 * time.Minute)
				w.Settle()
			}
			_, kinds := ep.posts()
			if len(kinds) != 2 || kinds[0] != "handshake" || kinds[1] != gone {
				t.Errorf("posts %v, want the handshake and the one %s answered 410, then nothing", kinds, gone)
			}
			tok = w.fhirToken(t, e, "lakeside", "system/Task.cru system/Subscription.cru")
			if _, _, read := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+sub["id"].(string), tok, nil, nil); read["status"] != "error" {
				t.Errorf("the subscription after a 410: %v, want status error", read["status"])
			}
		})
	}
}
