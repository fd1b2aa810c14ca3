package apptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/referral"
)

// schedule is a group's pending periodic listing check, as stored.
type schedule struct {
	head    string    // the id the LISTING item names
	due     time.Time // when that check is due
	pending int       // pending listing-check events in the group's partition
}

// scheduleOf reads a group's listing-check schedule from the table: the
// LISTING item, the event it names, and every pending event of the partition.
func scheduleOf(t *testing.T, h *apptest.Harness, id string) schedule {
	t.Helper()
	ctx := context.Background()
	part := dynamo.GroupPartition(id)
	head, err := h.App.Referrals.ListingHead(ctx, part)
	if err != nil {
		t.Fatal(err)
	}
	var s schedule
	s.head = head
	if head != "" {
		ev, pending, err := h.App.Referrals.Event(ctx, part, head)
		if err != nil || !pending || ev.Type != referral.ListingCheck || ev.Data["periodic"] != "1" || ev.Data["group"] != id {
			t.Fatalf("group %s: the LISTING item names %s: %+v pending %v err %v", id, head, ev, pending, err)
		}
		s.due = ev.Due
	}
	out, err := h.DB.Client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(h.DB.Tables.Referrals),
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :evt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "REF#" + part}, ":evt": &types.AttributeValueMemberS{Value: "EVT#"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		if _, ok := it["GSI1PK"]; ok {
			s.pending++
		}
	}
	return s
}

// importFeed posts a feed (its path from the repository's root) to the
// admin import endpoint.
func importFeed(t *testing.T, h *apptest.Harness, query, file string) importResult {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	st, _, b := h.Do(http.MethodPost, "/v1/admin/groups/import?"+query, body,
		http.Header{"Authorization": {"Bearer " + apptest.AdminToken}, "Content-Type": {"application/json"}})
	if st != http.StatusOK {
		t.Fatalf("import %s: %d %s", file, st, b)
	}
	var r importResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestImportSchedulesListingChecks imports a real Meeting Guide feed
// (Sussex AA's): every group it stores gets one periodic listing check, due
// a period on plus an offset the group's id fixes, under a quarter of a
// period; importing again moves and adds nothing; groups stored before
// imports scheduled checks get theirs from the next import; and when the
// clock reaches them, each contact gets the listing check by email.
func TestImportSchedulesListingChecks(t *testing.T) {
	t.Parallel()
	h := apptest.New(t)
	ctx := context.Background()
	period := h.App.Config.ListingCheckEvery
	mg := "format=meeting-guide&topic=alcohol&fellowship=aa&contact_email=" + url.QueryEscape("intergroup@aa.example") + "&source=sussex-aa"
	start := h.Now()

	h.DB.Counter.Reset()
	first := importFeed(t, h, mg, "infra/seed/feeds/sussexaa.json")
	n := first.Imported
	// Per group: one read (the group and its LISTING item) and one write
	// (the group and its first check).
	if n != 88 || h.DB.Counter.Calls("TransactGetItems") != n || h.DB.Counter.Calls("TransactWriteItems") != n || h.DB.Counter.Calls("GetItem") != 0 {
		t.Fatalf("first import %d groups: %s", n, h.DB.Counter)
	}
	ids, err := h.App.Directory.SourceGroupIDs(ctx, "sussex-aa")
	if err != nil || len(ids) != n {
		t.Fatalf("%d groups of the source, %v", len(ids), err)
	}
	scheds := map[string]schedule{}
	earliest, latest := start.Add(2*period), start
	for _, id := range ids {
		s := scheduleOf(t, h, id)
		if s.head == "" || s.pending != 1 || s.due.Before(start.Add(period)) || !s.due.Before(start.Add(period+period/4)) {
			t.Fatalf("group %s after the import: %+v (due from %s, before %s)", id, s, start.Add(period), start.Add(period+period/4))
		}
		scheds[id] = s
		if s.due.Before(earliest) {
			earliest = s.due
		}
		if s.due.After(latest) {
			latest = s.due
		}
	}
	// The ids spread the first checks over the weeks, not one day.
	if latest.Sub(earliest) < period/8 {
		t.Errorf("first checks fall between %s and %s", earliest, latest)
	}

	t.Run("importing again moves and adds nothing", func(t *testing.T) {
		h.Advance(24 * time.Hour)
		h.DB.Counter.Reset()
		r := importFeed(t, h, mg, "infra/seed/feeds/sussexaa.json")
		if r.Updated != n || h.DB.Counter.Calls("TransactGetItems") != n || h.DB.Counter.Calls("TransactWriteItems") != n {
			t.Fatalf("second import %+v: %s", r, h.DB.Counter)
		}
		for _, id := range ids {
			if s := scheduleOf(t, h, id); s != scheds[id] {
				t.Errorf("group %s: %+v, was %+v", id, s, scheds[id])
			}
		}
	})

	t.Run("a group stored without a schedule gets one from the next import", func(t *testing.T) {
		// Groups stored as imports stored them before they scheduled checks.
		body, err := os.ReadFile(filepath.Join("..", "directory", "testdata", "hsds", "support-groups.json"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := directory.ImportHSDS(bytes.NewReader(body), directory.ImportOptions{})
		if err != nil || len(res.Groups) == 0 {
			t.Fatalf("%d groups, %v", len(res.Groups), err)
		}
		if _, _, _, err := h.App.Directory.ImportGroups(ctx, res.Groups, dynamo.ImportHooks{}); err != nil {
			t.Fatal(err)
		}
		for _, g := range res.Groups {
			if s := scheduleOf(t, h, g.ID); s.head != "" || s.pending != 0 {
				t.Fatalf("group %s stored without a schedule: %+v", g.ID, s)
			}
		}
		now := h.Now()
		h.DB.Counter.Reset()
		r := importFeed(t, h, "format=hsds", "shared/directory/testdata/hsds/support-groups.json")
		if r.Updated != len(res.Groups) || h.DB.Counter.Calls("TransactGetItems") != r.Updated || h.DB.Counter.Calls("TransactWriteItems") != r.Updated {
			t.Fatalf("HSDS import again %+v: %s", r, h.DB.Counter)
		}
		for _, g := range res.Groups {
			s := scheduleOf(t, h, g.ID)
			if s.pending != 1 || s.due.Before(now.Add(period)) || !s.due.Before(now.Add(period+period/4)) {
				t.Errorf("group %s after the import: %+v", g.ID, s)
			}
			scheds[g.ID] = s
			ids = append(ids, g.ID)
		}
	})

	t.Run("the checks are sent when due", func(t *testing.T) {
		// contacts counts the groups each address is the contact of.
		contacts := map[string]int{}
		for _, id := range ids {
			contacts[adminGroup(t, h, id)["contact"].(map[string]any)["email"].(string)]++
		}
		sent := func() int {
			n := 0
			for addr := range contacts {
				n += len(h.MailsTo(addr))
			}
			return n
		}
		h.SetNow(earliest.Add(-time.Minute))
		h.Settle()
		if n := sent(); n != 0 {
			t.Fatalf("%d emails to the groups' contacts before the first check is due", n)
		}
		h.SetNow(start.Add(period + period/4 + 48*time.Hour))
		h.Settle()
		for addr, groups := range contacts {
			mails := h.MailsTo(addr)
			if len(mails) != groups {
				t.Errorf("%d emails to a contact of %d groups", len(mails), groups)
				continue
			}
			if st, _, b := h.Do(http.MethodGet, h.Link(mails[0], "l"), nil, nil); st != http.StatusOK {
				t.Errorf("listing check link: %d %s", st, b)
			}
		}
		// Each check scheduled the next, a period after it was due.
		for _, id := range ids {
			if s := scheduleOf(t, h, id); s.pending != 1 || !s.due.Equal(scheds[id].due.Add(period)) {
				t.Errorf("group %s after its check: %+v, the check was due %s", id, s, scheds[id].due)
			}
		}
	})
}

// TestPutGroupSchedulesListingCheck: a PUT writes the group and its first
// listing check in one read and one write; an operator's group is checked a
// period on, a feed's (the operator tool PUTs a feed's groups) spread as an
// import's are.
func TestPutGroupSchedulesListingCheck(t *testing.T) {
	h := apptest.New(t)
	period := h.App.Config.ListingCheckEvery
	now := h.Now()
	admin := apptest.SampleGroup("put-admin", 37.76, -122.42)
	feed := apptest.SampleGroup("put-feed", 37.76, -122.42)
	feed.Source = "sussex-aa"
	for _, g := range []any{admin, feed} {
		h.DB.Counter.Reset()
		id := map[bool]string{true: admin.ID, false: feed.ID}[g.(directory.Group).Source == "admin"]
		h.PutGroup(g, id)
		// (The GetItem is the answer's: the listing as stored.)
		if h.DB.Counter.Calls("TransactGetItems") != 1 || h.DB.Counter.Calls("TransactWriteItems") != 1 || h.DB.Counter.Calls("GetItem") != 1 {
			t.Errorf("PUT %s: %s", id, h.DB.Counter)
		}
	}
	if s := scheduleOf(t, h, admin.ID); s.pending != 1 || !s.due.Equal(now.Add(period)) {
		t.Errorf("operator's group: %+v, want due %s", s, now.Add(period))
	}
	s := scheduleOf(t, h, feed.ID)
	if s.pending != 1 || s.due.Before(now.Add(period)) || !s.due.Before(now.Add(period+period/4)) {
		t.Errorf("feed's group: %+v", s)
	}
	// PUT again: the schedule stays.
	h.Advance(time.Hour)
	h.PutGroup(feed, feed.ID)
	if again := scheduleOf(t, h, feed.ID); again != s {
		t.Errorf("after a second PUT: %+v, was %+v", again, s)
	}
}

// TestWithdrawnGroupKeepsItsChecks: a group its feed no longer carries is
// paused, and its listing checks go on; its contact pausing it for some
// weeks does not bring it back on offer when those weeks end.
func TestWithdrawnGroupKeepsItsChecks(t *testing.T) {
	h := apptest.New(t)
	period := h.App.Config.ListingCheckEvery
	feed, firstRow := atlantaFeed(t)
	query := "/v1/admin/groups/import?format=meeting-guide&topic=alcohol&fellowship=aa&contact_email=" + url.QueryEscape("intergroup@aa.example") + "&source=atlanta-aa"
	admin := http.Header{"Authorization": {"Bearer " + apptest.AdminToken}, "Content-Type": {"application/json"}}
	if st, _, b := h.Do(http.MethodPost, query, feed, admin); st != http.StatusOK {
		t.Fatalf("import: %d %s", st, b)
	}
	st, _, b := h.Do(http.MethodPost, query, firstRow, admin)
	var r importResult
	if st != http.StatusOK || json.Unmarshal(b, &r) != nil || len(r.Withdrawn) == 0 {
		t.Fatalf("smaller import: %d %s", st, b)
	}
	id := r.Withdrawn[0]
	before := scheduleOf(t, h, id)
	if before.pending != 1 {
		t.Fatalf("withdrawn group's schedule: %+v", before)
	}
	// Its periodic check comes as any group's.
	h.SetNow(before.due.Add(time.Minute))
	h.Settle()
	to := adminGroup(t, h, id)["contact"].(map[string]any)["email"].(string)
	mails := h.MailsTo(to)
	if len(mails) == 0 {
		t.Fatal("no listing check for the withdrawn group")
	}
	if s := scheduleOf(t, h, id); s.pending != 1 || !s.due.Equal(before.due.Add(period)) {
		t.Errorf("after its check: %+v", s)
	}
	link := h.Link(mails[len(mails)-1], "l")
	if st, loc := h.Form(link, url.Values{"action": {"pause"}, "weeks": {"2"}}); st != http.StatusSeeOther || !strings.Contains(loc, "listing-paused") {
		t.Fatalf("pause: %d %s", st, loc)
	}
	g := adminGroup(t, h, id)
	if g["paused"] != true || g["paused_reason"] != "no longer in its feed" || g["paused_until"] != nil {
		t.Fatalf("after its contact paused it: paused %v %q until %v", g["paused"], g["paused_reason"], g["paused_until"])
	}
	h.Advance(15 * 24 * time.Hour)
	h.Settle()
	if g := adminGroup(t, h, id); g["paused"] != true || g["paused_reason"] != "no longer in its feed" {
		t.Errorf("two weeks on: paused %v %q", g["paused"], g["paused_reason"])
	}
	// Back in the feed, it is offered again.
	if st, _, b := h.Do(http.MethodPost, query, feed, admin); st != http.StatusOK {
		t.Fatalf("import: %d %s", st, b)
	}
	if g := adminGroup(t, h, id); g["paused"] != false {
		t.Errorf("back in its feed: paused %v %q", g["paused"], g["paused_reason"])
	}
}
