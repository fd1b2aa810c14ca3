package dynamo_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truora/minidyn/server"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/textlimit"
)

var textKey = []byte("test-link-key-0123456789abcdef-0123456789")

const patientNumber = "+14155550142"

func newTexts(t *testing.T) (*dynamo.Referrals, *dynamotest.DB) {
	t.Helper()
	db := dynamotest.New(t)
	return &dynamo.Referrals{DB: db.Client, Table: db.Tables.Referrals}, db
}

// TestTakeText counts a number's texts in the embedded DynamoDB through
// the real SDK: one a day and three a week, days in the patient's zone; a
// retried claim counts once; a released slot is free again; the record
// never holds the number; each granted text costs one read and one write.
func TestTakeText(t *testing.T) {
	ctx := context.Background()
	s, db := newTexts(t)
	chicago, _ := time.LoadLocation("America/Chicago")
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, chicago) }
	take := func(claim string, now time.Time) textlimit.Decision {
		t.Helper()
		d, err := s.TakeText(ctx, textKey, textlimit.Policy{}, dynamo.TextRequest{Number: patientNumber, Claim: claim, Now: now, Zone: chicago})
		if err != nil {
			t.Fatalf("take %s: %v", claim, err)
		}
		return d
	}

	db.Counter.Reset()
	if d := take("ev1/sms", day(2, 10)); d.Kind != textlimit.SendNow {
		t.Fatalf("first text: %+v", d)
	}
	if db.Counter.Calls("GetItem") != 1 || db.Counter.Calls("PutItem") != 1 {
		t.Errorf("calls %s, want one GetItem and one PutItem", db.Counter)
	}
	if d := take("ev1/sms", day(2, 10)); d.Kind != textlimit.SendNow {
		t.Errorf("a retry of the same send: %+v", d)
	}
	if d := take("ev2/sms", day(2, 15)); d.Kind != textlimit.Wait || !d.At.Equal(day(3, 8)) {
		t.Errorf("second text that day: %+v", d)
	}
	if d := take("ev2/sms", day(3, 9)); d.Kind != textlimit.SendNow {
		t.Errorf("the next day (the retry counted once): %+v", d)
	}
	if d := take("ev3/sms", day(4, 9)); d.Kind != textlimit.SendNow {
		t.Errorf("third day: %+v", d)
	}
	// Three in the seven days: the next goes when the first leaves them.
	if d := take("ev4/sms", day(5, 9)); d.Kind != textlimit.Wait || !d.At.Equal(day(9, 8)) {
		t.Errorf("fourth in a week: %+v", d)
	}
	// Too late to wait: by email, or not at all.
	d, err := s.TakeText(ctx, textKey, textlimit.Policy{}, dynamo.TextRequest{Number: patientNumber, Claim: "ev5/sms",
		Now: day(5, 9), Zone: chicago, Latest: day(6, 19), Email: true})
	if err != nil || d.Kind != textlimit.ByEmail {
		t.Errorf("too late: %+v %v", d, err)
	}

	// The third text never left: its slot is given back.
	if err := s.ReleaseText(ctx, textKey, patientNumber, "ev3/sms"); err != nil {
		t.Fatal(err)
	}
	if d := take("ev4/sms", day(5, 9)); d.Kind != textlimit.SendNow {
		t.Errorf("after a release: %+v", d)
	}
	if err := s.ReleaseText(ctx, textKey, patientNumber, "never-taken"); err != nil {
		t.Errorf("releasing an unknown claim: %v", err)
	}

	// Another number has its own count.
	if d, err := s.TakeText(ctx, textKey, textlimit.Policy{}, dynamo.TextRequest{Number: "+14155550143", Claim: "ev6/sms", Now: day(5, 9), Zone: chicago}); err != nil || d.Kind != textlimit.SendNow {
		t.Errorf("another number: %+v %v", d, err)
	}

	dump := dynamotest.Dump(t, db, db.Tables.Referrals)
	for _, secret := range []string{patientNumber, "4155550142", "5550142"} {
		if strings.Contains(dump, secret) {
			t.Errorf("the table holds the number (%s):\n%s", secret, dump)
		}
	}
	if !strings.Contains(dump, dynamo.TextKey(textKey, patientNumber)) || strings.Count(dump, "TEXTS#") != 2 {
		t.Errorf("want one record per number, keyed by its HMAC:\n%s", dump)
	}
	if dynamo.TextKey(textKey, patientNumber) == dynamo.TextKey([]byte("another key, another deployment..."), patientNumber) {
		t.Error("the key does not change the record's name")
	}

	if _, err := s.TakeText(ctx, textKey, textlimit.Policy{}, dynamo.TextRequest{Number: patientNumber, Now: day(9, 9)}); !problem.Is(err, problem.Invalid) {
		t.Errorf("a request without a claim: %v", err)
	}
}

// TestTakeTextRace: many sends to one number at once, each with its own
// claim: exactly one takes the day's slot; the others are told to wait.
func TestTakeTextRace(t *testing.T) {
	ctx := context.Background()
	s, _ := newTexts(t)
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	for round := range 5 {
		number := fmt.Sprintf("+1415555%04d", 100+round)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			kinds = map[textlimit.Kind]int{}
			start = make(chan struct{})
		)
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				d, err := s.TakeText(ctx, textKey, textlimit.Policy{}, dynamo.TextRequest{Number: number, Claim: fmt.Sprintf("ev%d/sms", i), Now: now})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					kinds["error"]++
					return
				}
				kinds[d.Kind]++
			}()
		}
		close(start)
		wg.Wait()
		if kinds[textlimit.SendNow] != 1 || kinds[textlimit.Wait] != 11 {
			t.Errorf("round %d: %v, want one send and the rest told to wait", round, kinds)
		}
	}
}

// TestTakeTextFault: a DynamoDB failure is an error, and nothing is taken.
func TestTakeTextFault(t *testing.T) {
	ctx := context.Background()
	s, db := newTexts(t)
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	db.Server.EmulateFailure(server.FailureConditionInternalServerError)
	_, err := s.TakeText(ctx, textKey, textlimit.Policy{}, dynamo.TextRequest{Number: patientNumber, Claim: "ev1/sms", Now: now})
	db.Server.EmulateFailure(server.FailureConditionNone)
	if err == nil || strings.Contains(err.Error(), patientNumber) {
		t.Fatalf("err %v (it must not name the number)", err)
	}
	if d, err := s.TakeText(ctx, textKey, textlimit.Policy{}, dynamo.TextRequest{Number: patientNumber, Claim: "ev2/sms", Now: now}); err != nil || d.Kind != textlimit.SendNow {
		t.Errorf("after the fault: %+v %v", d, err)
	}
}
