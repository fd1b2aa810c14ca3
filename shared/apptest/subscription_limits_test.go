package apptest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	ehrcases "github.com/handoff-health/handoff/shared/ehr"
)

func subscriptionBody(endpoint, status, id string) map[string]any {
	b := map[string]any{"resourceType": "Subscription", "status": status,
		"criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
		"channel":  map[string]any{"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"}}
	if id != "" {
		b["id"] = id
	}
	return b
}

// issueOf is an OperationOutcome's first issue: its code and diagnostics.
func issueOf(oo map[string]any) (string, string) {
	issues, _ := oo["issue"].([]any)
	if len(issues) == 0 {
		return "", ""
	}
	i := issues[0].(map[string]any)
	code, _ := i["code"].(string)
	diag, _ := i["diagnostics"].(string)
	return code, diag
}

// TestSubscriptionLimits: a clinic may have ten subscriptions, one per
// endpoint, and one endpoint may get ten handshakes an hour; each refusal
// is a 4xx OperationOutcome that says what to do, and writes nothing.
func TestSubscriptionLimits(t *testing.T) {
	w := newWorld(t, "")
	ep, url := serveEndpoint(t, w, func(int, string) (int, string) { return http.StatusOK, "" })
	e := newEHR(t)
	tok := w.fhirToken(t, e, "lakeside", "system/Subscription.cru")

	// One subscription per endpoint.
	_, _, first := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, subscriptionBody(url+"/0", "requested", ""), nil)
	st, _, oo := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, subscriptionBody(url+"/0", "requested", ""), nil)
	if code, diag := issueOf(oo); st != http.StatusUnprocessableEntity || code != "invalid" || !strings.Contains(diag, "another of the clinic's subscriptions posts to this endpoint") ||
		!strings.Contains(mustString(t, oo), "Subscription.channel.endpoint") {
		t.Errorf("a second subscription to one endpoint: %d %v", st, oo)
	}
	// Ten in all.
	ids := []string{first["id"].(string)}
	for i := 1; i < ehrcases.MaxSubscriptions; i++ {
		st, _, sub := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, subscriptionBody(fmt.Sprintf("%s/%d", url, i), "requested", ""), nil)
		if st != http.StatusCreated {
			t.Fatalf("subscription %d: %d %v", i+1, st, sub)
		}
		ids = append(ids, sub["id"].(string))
	}
	w.Settle()
	st, _, oo = w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, subscriptionBody(url+"/11", "requested", ""), nil)
	if code, diag := issueOf(oo); st != http.StatusConflict || code != "conflict" || !strings.Contains(diag, "the most it may have") {
		t.Errorf("an eleventh subscription: %d %v", st, oo)
	}
	// A change may not take another subscription's endpoint; it may take a
	// free one, which frees its old one.
	if st, _, oo := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+ids[1], tok, subscriptionBody(url+"/0", "requested", ids[1]), nil); st != http.StatusUnprocessableEntity {
		t.Errorf("a change to a taken endpoint: %d %v", st, oo)
	}
	if st, _, got := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+ids[1], tok, subscriptionBody(url+"/moved", "requested", ids[1]), nil); st != http.StatusOK {
		t.Errorf("a change to a free endpoint: %d %v", st, got)
	}
	if st, _, got := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+ids[2], tok, subscriptionBody(url+"/1", "requested", ids[2]), nil); st != http.StatusOK {
		t.Errorf("a change to the endpoint another change freed: %d %v", st, got)
	}
	w.Settle()
	_, kinds := ep.posts()
	if len(kinds) != ehrcases.MaxSubscriptions+2 {
		t.Errorf("%d handshakes, want one per subscription made or started again (%d)", len(kinds), ehrcases.MaxSubscriptions+2)
	}

	// Ten handshakes an hour per endpoint: turning one on and off again
	// does not make an endpoint hammer.
	id := ids[0]
	handshakes := 1
	for range 12 {
		st, _, _ := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+id, tok, subscriptionBody(url+"/0", "off", id), nil)
		if st != http.StatusOK {
			t.Fatalf("turn off: %d", st)
		}
		st, hd, oo := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+id, tok, subscriptionBody(url+"/0", "requested", id), nil)
		if handshakes < ehrcases.MaxHandshakes {
			if st != http.StatusOK {
				t.Fatalf("restart %d: %d %v", handshakes, st, oo)
			}
			handshakes++
			w.Settle()
			continue
		}
		if code, diag := issueOf(oo); st != http.StatusTooManyRequests || code != "throttled" || !strings.Contains(diag, "handshakes within the hour") ||
			hd.Get("Content-Type") == "" {
			t.Errorf("an eleventh handshake within the hour: %d %v", st, oo)
		}
	}
	w.Settle()
	if _, kinds := ep.posts(); len(kinds) != ehrcases.MaxSubscriptions+2+ehrcases.MaxHandshakes-1 {
		t.Errorf("%d posts, want %d: the refused restarts posted nothing", len(kinds), ehrcases.MaxSubscriptions+2+ehrcases.MaxHandshakes-1)
	}
	w.Advance(ehrcases.HandshakeWindow)
	tok = w.fhirToken(t, e, "lakeside", "system/Subscription.cru")
	if st, _, oo := w.fhirCall(t, http.MethodPut, "/fhir/Subscription/"+id, tok, subscriptionBody(url+"/0", "requested", id), nil); st != http.StatusOK {
		t.Errorf("a restart an hour later: %d %v", st, oo)
	}
}

// handshakeEvent finds the handshake event a subscription's ledger entry
// names.
func handshakeEvent(t *testing.T, w *world, subID string) string {
	t.Helper()
	for _, item := range dynamotest.Scan(t, w.DB, w.DB.Tables.Referrals) {
		pk, _ := item["PK"].(*types.AttributeValueMemberS)
		if pk != nil && strings.HasPrefix(pk.Value, "LEDGER#") && strings.HasSuffix(pk.Value, "#handshake") {
			evID := strings.TrimSuffix(strings.TrimPrefix(pk.Value, "LEDGER#"), "#handshake")
			if _, _, err := w.App.Referrals.Event(context.Background(), dynamo.SubscriptionPartition(subID), evID); err == nil {
				return evID
			}
		}
	}
	t.Fatal("no handshake in the ledger")
	return ""
}

// TestHandshakeIsAnEvent: a subscription's handshake is not posted inside
// the request that makes it: it is an event with its ledger entry, posted
// by the dispatcher once (a redelivered handshake posts nothing more),
// retried while its endpoint refuses (at the Retry-After it asks), and the
// subscription is put in error when the endpoint refuses for ten minutes.
func TestHandshakeIsAnEvent(t *testing.T) {
	w := newWorld(t, "")
	refusing := true
	ep, url := serveEndpoint(t, w, func(n int, _ string) (int, string) {
		if refusing && n == 1 {
			return http.StatusServiceUnavailable, "120"
		}
		return http.StatusOK, ""
	})
	e := newEHR(t)
	tok := w.fhirToken(t, e, "lakeside", "system/Subscription.cru")
	st, _, sub := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, subscriptionBody(url, "requested", ""), nil)
	if st != http.StatusCreated || sub["status"] != "requested" {
		t.Fatalf("create: %d %v", st, sub)
	}
	if at, _ := ep.posts(); len(at) != 0 {
		t.Fatalf("%d posts while the create was answered: the handshake is the dispatcher's", len(at))
	}
	w.Settle()
	w.Advance(time.Minute)
	w.Settle()
	if at, _ := ep.posts(); len(at) != 1 {
		t.Fatalf("%d posts within the 2 minutes the endpoint asked for, want 1", len(at))
	}
	w.Advance(90 * time.Second)
	w.Settle()
	at, kinds := ep.posts()
	if len(at) != 2 || kinds[1] != "handshake" || at[1].Sub(at[0]) < 2*time.Minute {
		t.Fatalf("handshakes %v at %v, want the second one the 2 minutes later the endpoint asked for", kinds, at)
	}
	id := sub["id"].(string)
	tok = w.fhirToken(t, e, "lakeside", "system/Subscription.cru")
	if _, _, read := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+id, tok, nil, nil); read["status"] != "active" {
		t.Fatalf("after the handshake: %v", read["status"])
	}
	// Delivered again (a worker that crashed after the post), the
	// handshake posts nothing more.
	evID := handshakeEvent(t, w, id)
	ev, _, err := w.App.Referrals.Event(context.Background(), dynamo.SubscriptionPartition(id), evID)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.App.Referrals.Replay(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	if at, _ := ep.posts(); len(at) != 2 {
		t.Errorf("%d posts after the handshake was delivered again, want still 2", len(at))
	}

	// An endpoint that never answers 2xx: error after ten minutes.
	down := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusBadGateway) }))
	defer down.Close()
	st, _, bad := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", tok, subscriptionBody(down.URL, "requested", ""), nil)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, bad)
	}
	for range 15 {
		w.Settle()
		w.Advance(time.Minute)
	}
	w.Settle()
	tok = w.fhirToken(t, e, "lakeside", "system/Subscription.cru")
	if _, _, read := w.fhirCall(t, http.MethodGet, "/fhir/Subscription/"+bad["id"].(string), tok, nil, nil); read["status"] != "error" {
		t.Errorf("a subscription whose endpoint refused its handshake for ten minutes: %v, want error", read["status"])
	}
}

// TestSubscriptionScopesV2: SMART v2 letters on Subscription grant what
// they say: rs reads ($status too), c creates, u changes; the supported
// system/Subscription.cru does all three.
func TestSubscriptionScopesV2(t *testing.T) {
	w := newWorld(t, "")
	_, url := serveEndpoint(t, w, func(int, string) (int, string) { return http.StatusOK, "" })
	e := newEHR(t)
	create := w.fhirToken(t, e, "lakeside", "system/Subscription.c")
	st, _, sub := w.fhirCall(t, http.MethodPost, "/fhir/Subscription", create, subscriptionBody(url, "requested", ""), nil)
	if st != http.StatusCreated {
		t.Fatalf("create with system/Subscription.c: %d %v", st, sub)
	}
	id := sub["id"].(string)
	read := w.fhirToken(t, e, "lakeside", "system/Subscription.rs")
	update := w.fhirToken(t, e, "lakeside", "system/Subscription.u")
	for _, c := range []struct {
		name, token, method, path string
		body                      any
		want                      int
	}{
		{"read with rs", read, http.MethodGet, "/fhir/Subscription/" + id, nil, http.StatusOK},
		{"$status with rs", read, http.MethodGet, "/fhir/Subscription/" + id + "/$status", nil, http.StatusOK},
		{"create with rs", read, http.MethodPost, "/fhir/Subscription", subscriptionBody(url+"/r", "requested", ""), http.StatusForbidden},
		{"read with c", create, http.MethodGet, "/fhir/Subscription/" + id, nil, http.StatusForbidden},
		{"change with c", create, http.MethodPut, "/fhir/Subscription/" + id, subscriptionBody(url, "off", id), http.StatusForbidden},
		{"change with u", update, http.MethodPut, "/fhir/Subscription/" + id, subscriptionBody(url, "off", id), http.StatusOK},
		{"read with u", update, http.MethodGet, "/fhir/Subscription/" + id, nil, http.StatusForbidden},
	} {
		if st, hd, oo := w.fhirCall(t, c.method, c.path, c.token, c.body, nil); st != c.want {
			t.Errorf("%s: %d %v", c.name, st, oo)
		} else if st == http.StatusForbidden && hd.Get("WWW-Authenticate") != `Bearer realm="handoff", error="insufficient_scope"` {
			t.Errorf("%s: WWW-Authenticate %q", c.name, hd.Get("WWW-Authenticate"))
		}
	}
}
