package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/problem"
)

// dirNow is a Monday afternoon.
var dirNow = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

func newDirectory(t testing.TB) (*dynamo.Directory, *dynamotest.DB) {
	t.Helper()
	db := dynamotest.New(t)
	return &dynamo.Directory{DB: db.Client, Table: db.Tables.Directory, Now: func() time.Time { return dirNow }}, db
}

// Chicago's Loop, and points at a distance from it.
const loopLat, loopLon = 41.8847, -87.6245

func offset(lat, lon, northKm, eastKm float64) (float64, float64) {
	kmLat := geo.DistanceKm(0, 0, 1, 0)
	return lat + northKm/kmLat, lon + eastKm/(kmLat*math.Cos(lat*math.Pi/180))
}

func near(northKm, eastKm float64) (float64, float64) {
	return offset(loopLat, loopLon, northKm, eastKm)
}

// grp is a valid in-person alcohol group at lat, lon.
func grp(id string, lat, lon float64, edit ...func(*directory.Group)) directory.Group {
	g := directory.Group{
		ID: id, Name: "Group " + id, Topics: []string{"alcohol"}, Model: directory.ModelTwelveStep,
		Formats: []string{directory.InPerson}, Languages: []string{"en"},
		Meetings: []directory.Meeting{{Day: "mon", Time: "19:00", EndTime: "20:00", Timezone: "America/Chicago"}},
		Location: directory.Location{Lat: lat, Lon: lon, PostalCode: "60601", Country: "US"},
		Contact:  directory.Contact{Name: "Contact", Email: id + "@groups.example"}, AcceptingReferrals: true, Source: "test",
	}
	for _, e := range edit {
		e(&g)
	}
	return g
}

// gp is grp at a [lat, lon] pair.
func gp(id string, ll [2]float64, edit ...func(*directory.Group)) directory.Group {
	return grp(id, ll[0], ll[1], edit...)
}

func onlineOnly(g *directory.Group) {
	g.Formats, g.Location = []string{directory.Online}, directory.Location{}
	g.Meetings[0].OnlineURL = "https://meet.example/" + g.ID
}

func hybrid(g *directory.Group) {
	g.Formats = []string{directory.Hybrid}
	g.Meetings[0].OnlineURL = "https://meet.example/" + g.ID
}

func put(t testing.TB, d *dynamo.Directory, gs ...directory.Group) {
	t.Helper()
	for _, g := range gs {
		if _, err := d.PutGroup(context.Background(), g); err != nil {
			t.Fatalf("put %s: %v", g.ID, err)
		}
	}
}

// indexItemsOf lists, sorted, the partition keys of every match-index item in the
// table that belongs to a group: what the table holds, not what the group
// item says it owns.
func indexItemsOf(t *testing.T, db *dynamotest.DB, id string) []string {
	t.Helper()
	var keys []string
	p := dynamodb.NewScanPaginator(db.Client, &dynamodb.ScanInput{TableName: aws.String(db.Tables.Directory)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			pk := it["PK"].(*types.AttributeValueMemberS).Value
			sk := it["SK"].(*types.AttributeValueMemberS).Value
			switch band, gid, _ := strings.Cut(sk, "#"); {
			case sk == id && strings.HasPrefix(pk, "CELL#"):
				keys = append(keys, pk)
			case gid == id && strings.HasPrefix(pk, "ONLINE#"): // SK <band>#<group id>
				keys = append(keys, pk+"#"+band)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// inPartition lists the group ids a match-index partition holds.
func inPartition(t *testing.T, db *dynamotest.DB, pk string) []string {
	t.Helper()
	out, err := db.Client.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 aws.String(db.Tables.Directory),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range out.Items {
		sk := it["SK"].(*types.AttributeValueMemberS).Value
		if strings.HasPrefix(pk, "ONLINE#") { // SK <band>#<group id>
			_, sk, _ = strings.Cut(sk, "#")
		}
		ids = append(ids, sk)
	}
	return ids
}

func cells(topic string, lat, lon float64) []string {
	var out []string
	for _, p := range []uint{5, 4, 3} {
		out = append(out, "CELL#"+topic+"#"+geo.Encode(lat, lon, p))
	}
	return out
}

func sorted(s ...[]string) []string {
	out := slices.Concat(s...)
	sort.Strings(out)
	return out
}

func TestPutAndGetGroup(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t)
	lat, lon := near(1, 1)
	g := grp("westside", lat, lon)
	created, err := d.PutGroup(ctx, g)
	if err != nil || !created {
		t.Fatalf("first put: created=%v err=%v", created, err)
	}
	got, err := d.GetGroup(ctx, "westside")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != g.Name || got.Location != g.Location || !got.UpdatedAt.Equal(dirNow) || !slices.Equal(got.Meetings, g.Meetings) {
		t.Errorf("got %+v", got)
	}
	g.Name = "Westside Tuesday Group"
	if created, err = d.PutGroup(ctx, g); err != nil || created {
		t.Fatalf("second put: created=%v err=%v", created, err)
	}
	if got, _ = d.GetGroup(ctx, "westside"); got.Name != "Westside Tuesday Group" {
		t.Errorf("name after update: %s", got.Name)
	}
	if _, err := d.GetGroup(ctx, "nobody"); !problem.Is(err, problem.NotFound) {
		t.Errorf("unknown group: %v", err)
	}
}

func TestPutGroupRefusesAnInvalidListing(t *testing.T) {
	d, db := newDirectory(t)
	g := grp("bad", loopLat, loopLon, func(g *directory.Group) { g.Contact.Email = "nope" })
	if _, err := d.PutGroup(context.Background(), g); !problem.Is(err, problem.Invalid) {
		t.Fatalf("err = %v, want invalid", err)
	}
	if _, err := d.GetGroup(context.Background(), "bad"); !problem.Is(err, problem.NotFound) {
		t.Errorf("an invalid listing was stored: %v", err)
	}
	if keys := indexItemsOf(t, db, "bad"); len(keys) != 0 {
		t.Errorf("index items written: %v", keys)
	}
}

// TestPutGroupKeepsItsIndex checks, by reading the table, that after each
// change a group's match-index items are exactly the ones it should own.
func TestPutGroupKeepsItsIndex(t *testing.T) {
	ctx := context.Background()
	latA, lonA := near(0, 0)
	latB, lonB := near(30, 0) // another precision-4 cell
	tests := []struct {
		name  string
		edit  func(g *directory.Group)
		owned []string
	}{
		{name: "in person", edit: func(g *directory.Group) {}, owned: cells("alcohol", latA, lonA)},
		{name: "moved", edit: func(g *directory.Group) { g.Location.Lat, g.Location.Lon = latB, lonB },
			owned: cells("alcohol", latB, lonB)},
		{name: "topics changed", edit: func(g *directory.Group) { g.Topics = []string{"drugs", "gambling"} },
			owned: sorted(cells("drugs", latA, lonA), cells("gambling", latA, lonA))},
		{name: "hybrid in two languages", edit: func(g *directory.Group) { hybrid(g); g.Languages = []string{"en", "es-MX"} },
			owned: sorted(cells("alcohol", latA, lonA), []string{"ONLINE#alcohol#en#06", "ONLINE#alcohol#es#06"})},
		{name: "online only", edit: onlineOnly, owned: []string{"ONLINE#alcohol#en#06"}},
		{name: "stopped accepting", edit: func(g *directory.Group) { g.AcceptingReferrals = false }, owned: nil},
		{name: "temporarily closed", edit: func(g *directory.Group) { g.TemporarilyClosed = true }, owned: nil},
		{name: "accepting again", edit: func(g *directory.Group) {}, owned: cells("alcohol", latA, lonA)},
	}
	d, db := newDirectory(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := grp("mover", latA, lonA, tt.edit)
			put(t, d, g)
			if got := indexItemsOf(t, db, "mover"); !slices.Equal(got, sorted(tt.owned)) {
				t.Errorf("index items = %v, want %v", got, sorted(tt.owned))
			}
			if want := sorted(dynamo.IndexKeys(g)); !slices.Equal(want, sorted(tt.owned)) {
				t.Errorf("IndexKeys = %v, want %v", want, sorted(tt.owned))
			}
		})
	}
	// The old partitions no longer hold the group: a Query there misses it.
	if ids := inPartition(t, db, cells("alcohol", latB, lonB)[0]); slices.Contains(ids, "mover") {
		t.Errorf("old cell still lists the group: %v", ids)
	}
	if ids := inPartition(t, db, "ONLINE#alcohol#es"); len(ids) != 0 {
		t.Errorf("old online partition: %v", ids)
	}
	_ = ctx
}

func TestPauseRemovesTheIndexAndAPutClearsIt(t *testing.T) {
	ctx := context.Background()
	d, db := newDirectory(t)
	g := grp("bouncy", loopLat, loopLon)
	put(t, d, g)
	if err := d.Pause(ctx, "bouncy", "contact email bounce"); err != nil {
		t.Fatal(err)
	}
	got, _ := d.GetGroup(ctx, "bouncy")
	if !got.Paused || got.PausedReason != "contact email bounce" {
		t.Errorf("paused %v reason %q", got.Paused, got.PausedReason)
	}
	if keys := indexItemsOf(t, db, "bouncy"); len(keys) != 0 {
		t.Errorf("a paused group keeps index items %v", keys)
	}
	if err := d.Pause(ctx, "nobody", "bounce"); !problem.Is(err, problem.NotFound) {
		t.Errorf("pause unknown: %v", err)
	}
	put(t, d, g)
	if got, _ = d.GetGroup(ctx, "bouncy"); got.Paused || got.PausedReason != "" {
		t.Errorf("a PUT should clear the pause: %+v", got)
	}
	if keys := indexItemsOf(t, db, "bouncy"); len(keys) != 3 {
		t.Errorf("index after PUT: %v", keys)
	}
}

func TestPenalizeReachesTheIndex(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t)
	put(t, d, grp("full", loopLat, loopLon))
	until := dirNow.Add(72 * time.Hour)
	if err := d.Penalize(ctx, "full", until); err != nil {
		t.Fatal(err)
	}
	if err := d.Penalize(ctx, "full", dirNow.Add(time.Hour)); err != nil { // earlier: ignored
		t.Fatal(err)
	}
	g, _ := d.GetGroup(ctx, "full")
	if !g.PenaltyUntil.Equal(until) {
		t.Errorf("group penalty_until = %v", g.PenaltyUntil)
	}
	cands, _, err := d.Candidates(ctx, directory.Query{Topics: []string{"alcohol"}, Lat: loopLat, Lon: loopLon, HasLocation: true, Now: dirNow})
	if err != nil || len(cands) != 1 || !cands[0].PenaltyUntil.Equal(until) {
		t.Fatalf("candidates %+v err %v", cands, err)
	}
	// A PUT keeps a running penalty.
	put(t, d, grp("full", loopLat, loopLon))
	if g, _ = d.GetGroup(ctx, "full"); !g.PenaltyUntil.Equal(until) {
		t.Errorf("penalty after PUT = %v", g.PenaltyUntil)
	}
	if err := d.Penalize(ctx, "nobody", until); !problem.Is(err, problem.NotFound) {
		t.Errorf("penalize unknown: %v", err)
	}
}

// TestConcurrentPutsLeaveNoStrayIndex races writers moving one group between
// places: whatever the order, the index holds exactly the last listing's items.
func TestConcurrentPutsLeaveNoStrayIndex(t *testing.T) {
	d, db := newDirectory(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				lat, lon := near(float64(w*20+i), 0)
				if _, err := d.PutGroup(context.Background(), grp("contested", lat, lon)); err != nil && !problem.Is(err, problem.Conflict) {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	final, err := d.GetGroup(context.Background(), "contested")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := indexItemsOf(t, db, "contested"), cells("alcohol", final.Location.Lat, final.Location.Lon); !slices.Equal(got, sorted(want)) {
		t.Errorf("index = %v, want %v", got, sorted(want))
	}
}

func TestImportGroups(t *testing.T) {
	ctx := context.Background()
	d, db := newDirectory(t)
	f, err := os.Open(filepath.Join("..", "..", "infra", "seed", "feeds", "sussexaa.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := directory.ImportMeetingGuide(f, directory.ImportOptions{Topic: "alcohol", Fellowship: "aa", ContactEmail: "intergroup@groups.example"})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var calls, lastDone int
	progress := func(done, total int) {
		calls++
		if done != lastDone+1 || total != len(res.Groups) {
			t.Errorf("progress %d/%d after %d", done, total, lastDone)
		}
		lastDone = done
	}
	imported, updated, skipped, err := d.ImportGroups(ctx, res.Groups, dynamo.ImportHooks{Progress: progress})
	if err != nil || imported != 88 || updated != 0 || len(skipped) != 0 || calls != 88 {
		t.Fatalf("first import: imported %d updated %d skipped %v calls %d err %v", imported, updated, skipped, calls, err)
	}
	// Again, with one listing broken and one id twice: the rest update.
	again := slices.Clone(res.Groups)
	again[3].Contact.Email = "broken"
	again = append(again, again[10])
	imported, updated, skipped, err = d.ImportGroups(ctx, again, dynamo.ImportHooks{})
	if err != nil || imported != 0 || updated != 87 || len(skipped) != 2 {
		t.Fatalf("second import: imported %d updated %d skipped %v err %v", imported, updated, skipped, err)
	}
	if skipped[0].Index != 3 || !strings.Contains(skipped[0].Reason, "contact.email") || skipped[1].Index != 10 {
		t.Errorf("skipped = %+v", skipped)
	}
	// The online groups are in the online partition, the rest in cells.
	if ids := inPartition(t, db, "ONLINE#alcohol#en"); len(ids) != 17 {
		t.Errorf("online partition holds %d groups", len(ids))
	}
	// A DynamoDB failure stops the import with an error.
	db.Server.EmulateFailure(server.FailureConditionInternalServerError)
	defer db.Server.EmulateFailure(server.FailureConditionNone)
	if _, _, _, err := d.ImportGroups(ctx, res.Groups[:5], dynamo.ImportHooks{}); err == nil || problem.CodeOf(err) != problem.Internal {
		t.Errorf("import during a failure: %v", err)
	}
}

func TestRoutedThisWeek(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t)
	sunday := time.Date(2026, 3, 8, 23, 0, 0, 0, time.UTC) // same ISO week as dirNow
	nextMonday := time.Date(2026, 3, 9, 1, 0, 0, 0, time.UTC)
	if n, err := d.RoutedThisWeek(ctx, "g1", dirNow); err != nil || n != 0 {
		t.Fatalf("before: %d %v", n, err)
	}
	for i, at := range []time.Time{dirNow, dirNow.Add(time.Hour), sunday, nextMonday} {
		if ok, err := d.ReserveSlot(ctx, "g1", fmt.Sprintf("r%d", i), 0, at); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	// The same referral again counts nothing.
	if ok, err := d.ReserveSlot(ctx, "g1", "r0", 0, dirNow); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if n, _ := d.RoutedThisWeek(ctx, "g1", dirNow); n != 3 {
		t.Errorf("this week: %d", n)
	}
	if n, _ := d.RoutedThisWeek(ctx, "g1", nextMonday); n != 1 {
		t.Errorf("next week: %d", n)
	}
	if n, _ := d.RoutedThisWeek(ctx, "g2", dirNow); n != 0 {
		t.Errorf("another group: %d", n)
	}
}

// TestReserveSlotUnderRace has twenty routings race for a group's three
// weekly slots through the embedded server: exactly three win, and a
// winner's retry keeps its slot without counting again.
func TestReserveSlotUnderRace(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		errs []error
	)
	for i := range 20 {
		wg.Go(func() {
			id := fmt.Sprintf("ref-%02d", i)
			ok, err := d.ReserveSlot(ctx, "busy", id, 3, dirNow)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				won = append(won, id)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || len(won) != 3 {
		t.Fatalf("%d won %v, errors %v; want exactly 3", len(won), won, errs)
	}
	if n, _ := d.RoutedThisWeek(ctx, "busy", dirNow); n != 3 {
		t.Errorf("counted %d, want 3", n)
	}
	if ok, err := d.ReserveSlot(ctx, "busy", won[0], 3, dirNow); err != nil || !ok {
		t.Errorf("a winner's retry: %v %v, want its slot kept", ok, err)
	}
	if ok, err := d.ReserveSlot(ctx, "busy", "ref-late", 3, dirNow); err != nil || ok {
		t.Errorf("a 21st referral: %v %v, want refused", ok, err)
	}
	if n, _ := d.RoutedThisWeek(ctx, "busy", dirNow); n != 3 {
		t.Errorf("counted %d after the retries, want 3", n)
	}
	// Next week the group has room again.
	if ok, err := d.ReserveSlot(ctx, "busy", "ref-late", 3, dirNow.Add(7*24*time.Hour)); err != nil || !ok {
		t.Errorf("next week: %v %v", ok, err)
	}
}

func TestMatchFailsWhenDynamoDBDoes(t *testing.T) {
	d, db := newDirectory(t)
	put(t, d, grp("a", loopLat, loopLon))
	db.Server.EmulateFailure(server.FailureConditionInternalServerError)
	defer db.Server.EmulateFailure(server.FailureConditionNone)
	_, err := d.Match(context.Background(), directory.Query{Topics: []string{"alcohol"}, Lat: loopLat, Lon: loopLon, HasLocation: true})
	var ise *types.InternalServerError
	if !errors.As(err, &ise) {
		t.Errorf("err = %v, want the wrapped DynamoDB error", err)
	}
	if _, err := d.Match(context.Background(), directory.Query{}); !problem.Is(err, problem.Invalid) {
		t.Errorf("no topics: %v", err)
	}
}

// edgeCase places a patient 50 m south of the northern edge of a
// precision-5 cell and a group 50 m north of it, in the neighbouring cell.
func edgeCase() (patientLat, patientLon, groupLat float64) {
	cell := geo.Encode(loopLat, loopLon, 5)
	cLat, cLon := geo.Center(cell)
	const dLat = 180.0 / 4096 // a precision-5 cell's height
	edge := cLat + dLat/2
	return edge - 0.00045, cLon, edge + 0.00045
}

func qAt(lat, lon float64, edit ...func(*directory.Query)) directory.Query {
	q := directory.Query{Topics: []string{"alcohol"}, Lat: lat, Lon: lon, HasLocation: true, Limit: 3, Now: dirNow}
	for _, e := range edit {
		e(&q)
	}
	return q
}

func loopQuery(edit ...func(*directory.Query)) directory.Query { return qAt(loopLat, loopLon, edit...) }

// spiral makes n groups around a point, the i-th at fromKm + i×stepKm in a
// direction turning 100° each time: in id order they are nearest first.
func spiral(prefix string, n int, lat, lon, fromKm, stepKm float64, edit ...func(*directory.Group)) []directory.Group {
	out := make([]directory.Group, n)
	for i := range out {
		a, km := float64(i)*100*math.Pi/180, fromKm+float64(i)*stepKm
		la, lo := offset(lat, lon, km*math.Cos(a), km*math.Sin(a))
		out[i] = grp(fmt.Sprintf("%s-%02d", prefix, i), la, lo, edit...)
	}
	return out
}

func TestMatchScenarios(t *testing.T) {
	ruralLat, ruralLon := 44.3683, -100.3510 // Pierre, South Dakota
	edgeLat, edgeLon, edgeGroupLat := edgeCase()
	at := func(n, e float64) [2]float64 { lat, lon := near(n, e); return [2]float64{lat, lon} }
	km2, km5, km8, km150, km300 := at(2, 0), at(0, 5), at(-8, 0), at(150, 0), at(300, 0)

	type scenario struct {
		name    string
		groups  []directory.Group
		setup   func(t *testing.T, d *dynamo.Directory)
		q       directory.Query
		want    []string
		level   int    // Stats.Level; -1 when it does not matter
		queries int    // Stats.Queries; 0 when it does not matter
		reason  string // a reason the first match must give
	}
	secular := func(g *directory.Group) { g.Spirituality = directory.Secular }
	spiritual := func(g *directory.Group) { g.Spirituality = directory.Spiritual }
	spanish := func(g *directory.Group) { g.Languages = []string{"es"} }
	wheelchair := func(g *directory.Group) { g.Accessibility = []string{"wheelchair"} }
	scenarios := []scenario{
		{name: "secular preference ranks secular meetings first",
			groups: []directory.Group{gp("church", km2, spiritual), gp("library", km8, secular), gp("hall", km5)},
			q:      loopQuery(func(q *directory.Query) { q.Prefs.Spirituality = directory.Secular }),
			want:   []string{"library", "hall", "church"}, level: -1, reason: "secular"},
		{name: "a Spanish-speaking patient gets Spanish meetings first",
			groups: []directory.Group{gp("english", km2), gp("espanol", km8, spanish)},
			q:      loopQuery(func(q *directory.Query) { q.Language = "es" }),
			want:   []string{"espanol", "english"}, level: -1, reason: "Spanish-speaking"},
		{name: "languages the patient lists are required",
			groups: []directory.Group{gp("english", km2), gp("espanol", km8, spanish),
				gp("bilingual", km5, func(g *directory.Group) { g.Languages = []string{"en", "es"} })},
			q:    loopQuery(func(q *directory.Query) { q.Prefs.Languages = []string{"es"} }),
			want: []string{"bilingual", "espanol"}, level: -1},
		{name: "a wheelchair need filters places without access",
			groups: []directory.Group{gp("stairs", km2), gp("ramp", km8, wheelchair)},
			q:      loopQuery(func(q *directory.Query) { q.Prefs.Accessibility = []string{"wheelchair"} }),
			want:   []string{"ramp"}, level: -1, reason: "wheelchair accessible"},
		{name: "online only: online and hybrid groups, no rooms",
			groups: []directory.Group{gp("room", km2), grp("zoom", 0, 0, onlineOnly), gp("both", km5, hybrid)},
			q:      loopQuery(func(q *directory.Query) { q.Prefs.Formats = []string{directory.Online} }),
			want:   []string{"both", "zoom"}, level: 0, queries: 2, reason: "online"},
		{name: "without a location only online groups",
			groups: []directory.Group{gp("room", km2), grp("zoom", 0, 0, onlineOnly)},
			q:      loopQuery(func(q *directory.Query) { q.HasLocation = false }),
			want:   []string{"zoom"}, level: 0, queries: 2},
		{name: "a rural patient gets the widened ring",
			groups: spiral("rural", 2, ruralLat, ruralLon, 55, 10),
			q:      qAt(ruralLat, ruralLon),
			want:   []string{"rural-00", "rural-01"}, level: 3},
		{name: "suburbs stop at precision 4",
			groups: spiral("suburb", 10, loopLat, loopLon, 10, 0.5),
			q:      loopQuery(),
			want:   []string{"suburb-00", "suburb-01", "suburb-02"}, level: 4},
		{name: "a dense city stops at precision 5 with 9 cell queries and 2 online",
			groups: spiral("city", 12, loopLat, loopLon, 0.5, 0.2),
			q:      loopQuery(),
			want:   []string{"city-00", "city-01", "city-02"}, level: 5, queries: 11},
		{name: "a paused group is never offered",
			groups: []directory.Group{gp("paused", km2), gp("open", km8)},
			setup: func(t *testing.T, d *dynamo.Directory) {
				if err := d.Pause(context.Background(), "paused", "contact email bounce"); err != nil {
					t.Fatal(err)
				}
			},
			q: loopQuery(), want: []string{"open"}, level: -1},
		{name: "a group not accepting referrals is never offered",
			groups: []directory.Group{gp("full", km2, func(g *directory.Group) { g.AcceptingReferrals = false }), gp("open", km8)},
			q:      loopQuery(), want: []string{"open"}, level: -1},
		{name: "a temporarily closed group is never offered",
			groups: []directory.Group{gp("closed", km2, func(g *directory.Group) { g.TemporarilyClosed = true })},
			q:      loopQuery(), want: []string{}, level: 3},
		{name: "nothing within reach is an empty list",
			groups: []directory.Group{gp("far", km150)},
			q:      loopQuery(), want: []string{}, level: 3},
		{name: "a hybrid group beyond reach in person is offered online",
			groups: []directory.Group{gp("far-hybrid", km150, hybrid)},
			q:      loopQuery(), want: []string{"far-hybrid"}, level: 3, reason: "online"},
		{name: "ties break by id",
			groups: []directory.Group{gp("tie-c", km5), gp("tie-a", km5), gp("tie-b", km5)},
			q:      loopQuery(), want: []string{"tie-a", "tie-b", "tie-c"}, level: -1},
		{name: "the limit is honoured",
			groups: spiral("five", 5, loopLat, loopLon, 1, 1),
			q:      loopQuery(func(q *directory.Query) { q.Limit = 2 }),
			want:   []string{"five-00", "five-01"}, level: -1},
		{name: "schedule fit: Saturday morning",
			groups: []directory.Group{gp("monday-eve", km2),
				gp("saturday-am", km8, func(g *directory.Group) { g.Meetings[0].Day, g.Meetings[0].Time = "sat", "09:00" })},
			q:    loopQuery(func(q *directory.Query) { q.Prefs.Days = []string{"sat"}; q.Prefs.Times = []string{"morning"} }),
			want: []string{"saturday-am", "monday-eve"}, level: -1, reason: "meets Saturday morning"},
		{name: "audience: a women's group for a woman, a men's group last",
			groups: []directory.Group{gp("mens", km2, func(g *directory.Group) { g.Audience = []string{"men"} }),
				gp("womens", km8, func(g *directory.Group) { g.Audience = []string{"women"} }), gp("open", km5)},
			q:    loopQuery(func(q *directory.Query) { q.Prefs.Audience = []string{"women"} }),
			want: []string{"womens", "open", "mens"}, level: -1, reason: "for women"},
		{name: "a no-capacity decline lowers the ranking",
			groups: []directory.Group{gp("declined", km2), gp("other", km8)},
			setup: func(t *testing.T, d *dynamo.Directory) {
				if err := d.Penalize(context.Background(), "declined", dirNow.Add(48*time.Hour)); err != nil {
					t.Fatal(err)
				}
			},
			q: loopQuery(), want: []string{"other", "declined"}, level: -1},
		{name: "a group just across a cell edge is found through the neighbours",
			groups: append(spiral("south", 3, edgeLat-0.02, edgeLon, 0.3, 0.1), grp("across", edgeGroupLat, edgeLon)),
			q:      qAt(edgeLat, edgeLon, func(q *directory.Query) { q.Limit = 1 }),
			want:   []string{"across"}, level: 5, reason: "0.1 km away"},
		{name: "two needs: each group once",
			groups: []directory.Group{gp("both", km2, func(g *directory.Group) { g.Topics = []string{"alcohol", "drugs"} }),
				gp("drugs-only", km5, func(g *directory.Group) { g.Topics = []string{"drugs"} }), gp("alcohol-only", km8)},
			q:    loopQuery(func(q *directory.Query) { q.Topics = []string{"alcohol", "drugs"} }),
			want: []string{"both", "drugs-only", "alcohol-only"}, level: -1},
		{name: "another topic is not offered",
			groups: []directory.Group{gp("grief", km2, func(g *directory.Group) { g.Topics = []string{"grief"} })},
			q:      loopQuery(), want: []string{}, level: 3},
		{name: "a moved group is found at its new place only",
			groups: []directory.Group{gp("mover", km2)},
			setup: func(t *testing.T, d *dynamo.Directory) {
				put(t, d, gp("mover", km300))
			},
			q: loopQuery(), want: []string{}, level: 3},
		{name: "online groups in the patient's languages",
			groups: []directory.Group{grp("zoom-en", 0, 0, onlineOnly), grp("zoom-es", 0, 0, onlineOnly, spanish),
				grp("zoom-both", 0, 0, onlineOnly, func(g *directory.Group) { g.Languages = []string{"en", "es"} })},
			q: loopQuery(func(q *directory.Query) {
				q.Prefs.Formats = []string{directory.Online}
				q.Prefs.Languages = []string{"es", "en"}
			}),
			want: []string{"zoom-both", "zoom-es", "zoom-en"}, level: 0, queries: 4},
	}
	if len(scenarios) < 20 {
		t.Fatalf("only %d scenarios", len(scenarios))
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			d, _ := newDirectory(t)
			put(t, d, sc.groups...)
			if sc.setup != nil {
				sc.setup(t, d)
			}
			cands, st, err := d.Candidates(context.Background(), sc.q)
			if err != nil {
				t.Fatal(err)
			}
			ms := directory.Rank(sc.q, cands)
			got := make([]string, len(ms))
			for i, m := range ms {
				got[i] = m.Group.ID
			}
			if !slices.Equal(got, sc.want) {
				t.Errorf("matches = %v, want %v", got, sc.want)
			}
			if sc.level >= 0 && st.Level != sc.level {
				t.Errorf("level = %d, want %d (%+v)", st.Level, sc.level, st)
			}
			if sc.queries > 0 && st.Queries != sc.queries {
				t.Errorf("queries = %d, want %d", st.Queries, sc.queries)
			}
			if sc.reason != "" && (len(ms) == 0 || !slices.Contains(ms[0].Reasons, sc.reason)) {
				t.Errorf("first match's reasons %v lack %q", firstReasons(ms), sc.reason)
			}
			// Match is the same ranking in one call.
			again, err := d.Match(context.Background(), sc.q)
			if err != nil || len(again) != len(ms) {
				t.Errorf("Match = %v, %v", again, err)
			}
		})
	}
}

func firstReasons(ms []directory.Match) []string {
	if len(ms) == 0 {
		return nil
	}
	return ms[0].Reasons
}

// TestCandidatesCountsWhatItReads checks the Stats against the SDK's own
// count of calls, and against the partitions read, queried by hand.
func TestCandidatesCountsWhatItReads(t *testing.T) {
	d, db := newDirectory(t)
	put(t, d, spiral("city", 20, loopLat, loopLon, 0.5, 0.1)...)
	put(t, d, grp("zoom", 0, 0, onlineOnly))
	db.Counter.Reset()
	_, st, err := d.Candidates(context.Background(), loopQuery())
	if err != nil {
		t.Fatal(err)
	}
	calls, _ := db.Counter.Totals()
	if st.Queries != db.Counter.Calls("Query") || st.Queries != calls || st.Level != 5 {
		t.Errorf("stats %+v, counter %s", st, db.Counter)
	}
	items := len(inPartition(t, db, "ONLINE#alcohol#en"))
	for _, cell := range geo.Ring(geo.Encode(loopLat, loopLon, 5)) {
		items += len(inPartition(t, db, "CELL#alcohol#"+cell))
	}
	if st.ItemsRead != items || items != 21 {
		t.Errorf("stats read %d items, the partitions hold %d (want 21)", st.ItemsRead, items)
	}
}

// --- benchmark --------------------------------------------------------------

// benchDirectory fills a table with n in-person alcohol groups — 100 within
// 20 km of the Loop, the rest spread over the contiguous US but at least
// 400 km from it, so the neighbourhood is the same at every size — and 20
// online groups. It writes the match-index items PutGroup would write, with
// BatchWriteItem, and not the group items, which matching never reads.
func benchDirectory(b *testing.B, n int) *dynamotest.DB {
	b.Helper()
	db := dynamotest.New(b)
	local := rand.New(rand.NewPCG(1, 99))      // the same neighbourhood at every size
	far := rand.New(rand.NewPCG(uint64(n), 7)) // the rest of the country
	var groups []directory.Group
	for i := range n {
		var lat, lon float64
		if i < 100 {
			d, a := 20*math.Sqrt(local.Float64()), 2*math.Pi*local.Float64()
			lat, lon = near(d*math.Cos(a), d*math.Sin(a))
		} else {
			for {
				lat, lon = 25+far.Float64()*24, -124+far.Float64()*57
				if geo.DistanceKm(lat, lon, loopLat, loopLon) > 400 {
					break
				}
			}
		}
		groups = append(groups, grp(fmt.Sprintf("g%06d", i), lat, lon))
	}
	for i := range 20 {
		groups = append(groups, grp(fmt.Sprintf("online%02d", i), 0, 0, onlineOnly))
	}
	writeIndex(b, db, groups)
	return db
}

// writeIndex writes the match-index items PutGroup would write for groups,
// in the embedded server's key order, with BatchWriteItem.
func writeIndex(b testing.TB, db *dynamotest.DB, groups []directory.Group) {
	b.Helper()
	var puts []types.WriteRequest
	for _, g := range groups {
		for _, name := range dynamo.IndexKeys(g) {
			pk, sk := dynamo.IndexItemKey(name, g.ID)
			puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: indexItem(b, g, pk, sk)}})
		}
	}
	// The embedded server keeps its keys ("PK.SK") in a slice it sorts on
	// every new key: written in that order, each sort is one pass instead of
	// a reshuffle, and 300,000 items load in minutes rather than hours.
	slices.SortFunc(puts, func(x, y types.WriteRequest) int {
		return strings.Compare(serverKey(x), serverKey(y))
	})
	var batch []types.WriteRequest
	flush := func() {
		for len(batch) > 0 {
			out, err := db.Client.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{db.Tables.Directory: batch},
			})
			if err != nil {
				b.Fatal(err)
			}
			batch = out.UnprocessedItems[db.Tables.Directory]
		}
	}
	for _, w := range puts {
		batch = append(batch, w)
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
}

// indexItem is the match-index item of g at pk, sk.
func indexItem(tb testing.TB, g directory.Group, pk, sk string) map[string]types.AttributeValue {
	item, err := attributevalue.MarshalMapWithOptions(struct {
		directory.Candidate
		Type string `json:"type"`
	}{directory.CandidateOf(g), "match"}, func(o *attributevalue.EncoderOptions) {
		o.TagKey, o.OmitNullAttributeValues, o.OmitEmptyTime = "json", true, true
	})
	if err != nil {
		tb.Fatal(err)
	}
	item["PK"] = &types.AttributeValueMemberS{Value: pk}
	item["SK"] = &types.AttributeValueMemberS{Value: sk}
	return item
}

// serverKey is the embedded server's key for a put: "PK.SK".
func serverKey(w types.WriteRequest) string {
	pk := w.PutRequest.Item["PK"].(*types.AttributeValueMemberS).Value
	sk := w.PutRequest.Item["SK"].(*types.AttributeValueMemberS).Value
	return pk + "." + sk
}

// BenchmarkMatch reports, per match, the Query calls and items read at
// directory sizes 1k, 10k and 100k (opt-in) with the same neighbourhood:
// they stay the same, whatever the size. Its ns/op measure the embedded
// server, whose every Query scans the whole table, not DynamoDB.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			if n == 100_000 && os.Getenv("HANDOFF_BENCH_100K") == "" {
				// The embedded server scans the whole table on every Query:
				// with 300,000 index items, loading took 14 minutes and one
				// match 4 minutes on 2 cores (make bench-match-100k).
				b.Skip("set HANDOFF_BENCH_100K=1 (with -benchtime 1x -timeout 0; about 20 minutes) to load 100,000 groups into the embedded server")
			}
			start := time.Now()
			db := benchDirectory(b, n)
			b.Logf("loaded %d groups in %s", n, time.Since(start).Round(time.Millisecond))
			d := &dynamo.Directory{DB: db.Client, Table: db.Tables.Directory, Now: func() time.Time { return dirNow }}
			q := loopQuery(func(q *directory.Query) { q.Prefs.Spirituality = directory.Secular })
			db.Counter.Reset()
			var level, items int
			b.ResetTimer()
			for b.Loop() {
				ms, st, err := d.Candidates(context.Background(), q)
				if err != nil || len(directory.Rank(q, ms)) != 3 {
					b.Fatalf("match: %d candidates, %v", len(ms), err)
				}
				level, items = st.Level, items+st.ItemsRead
			}
			b.StopTimer()
			ops := float64(b.N)
			// Calls as the SDK middleware counted them; items as the Query
			// answers gave them (minidyn leaves ScannedCount unset).
			b.ReportMetric(float64(db.Counter.Calls("Query"))/ops, "queries/op")
			b.ReportMetric(float64(items)/ops, "items/op")
			b.ReportMetric(float64(level), "level")
		})
	}
}
