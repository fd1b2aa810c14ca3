package dynamo_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/referral"
)

// onlineZones are where the online groups of onlineDirectory meet, in turn:
// North America's zones and two of Europe's.
var onlineZones = []string{"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
	"America/Edmonton", "Europe/London", "Europe/Madrid"}

// onlineDirectory writes the online index items of n online alcohol groups
// in English, spread over seven zones and the hours of the week.
func onlineDirectory(tb testing.TB, n int) (*dynamo.Directory, *dynamotest.DB) {
	d, db := newDirectory(tb)
	var groups []directory.Group
	for i := range n {
		groups = append(groups, grp(fmt.Sprintf("online%05d", i), 0, 0, onlineOnly, func(g *directory.Group) {
			m := &g.Meetings[0]
			m.Timezone, m.Day = onlineZones[i%len(onlineZones)], directory.DayOf(time.Weekday(i/len(onlineZones)%7))
			m.Time = fmt.Sprintf("%02d:00", 7+i%15)
		}))
	}
	writeIndex(tb, db, groups)
	return d, db
}

// atlantaEvening is an Atlanta patient asking for evening meetings online.
var atlantaEvening = directory.Query{Topics: []string{"alcohol"}, Zone: "America/New_York", Now: dirNow, Limit: 3,
	Prefs: referral.Preferences{Formats: []string{directory.Online}, Times: []string{"evening"}}}

// onlineMatch runs one online match and returns its calls, as the SDK
// middleware counted them, and the items its Queries read.
func onlineMatch(tb testing.TB, d *dynamo.Directory, db *dynamotest.DB) (calls, items int, ms []directory.Match) {
	db.Counter.Reset()
	cands, st, err := d.Candidates(context.Background(), atlantaEvening)
	if err != nil {
		tb.Fatal(err)
	}
	return db.Counter.Calls("Query"), st.ItemsRead, directory.Rank(atlantaEvening, cands)
}

// TestOnlineMatchCostIsBounded: ten times the online groups of one topic and
// language, the same calls and items read per match — and Eastern evening
// meetings still come first.
func TestOnlineMatchCostIsBounded(t *testing.T) {
	type cost struct{ calls, items int }
	var costs []cost
	for _, n := range []int{100, 1_000} {
		d, db := onlineDirectory(t, n)
		calls, items, ms := onlineMatch(t, d, db)
		costs = append(costs, cost{calls, items})
		if len(ms) != 3 || !slices.Contains(ms[0].Reasons, "in your time zone") {
			t.Errorf("%d groups: matches %+v, want 3 with an Eastern one first", n, ms)
		}
	}
	if costs[0] != costs[1] || costs[0].items > 80 {
		t.Errorf("calls and items read per match at 100 and 1,000 online groups: %+v, want equal and at most 80 items", costs)
	}
}

// BenchmarkOnlineMatch reports, per online match, the Query calls and items
// read at 100, 1,000 and 10,000 online groups of one topic and language. Its ns/op measure the embedded server, whose
// every Query scans the whole table, not DynamoDB.
func BenchmarkOnlineMatch(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000} {
		b.Run(fmt.Sprintf("online=%d", n), func(b *testing.B) {
			d, db := onlineDirectory(b, n)
			var calls, items int
			for b.Loop() {
				c, i, _ := onlineMatch(b, d, db)
				calls, items = calls+c, items+i
			}
			ops := float64(b.N)
			b.ReportMetric(float64(calls)/ops, "queries/op")
			b.ReportMetric(float64(items)/ops, "items/op")
		})
	}
}

// TestReindexMovesOnlineGroupsToTheBands: a group stored under the earlier
// online layout (ONLINE#<topic>#<language>, sort key the group id) is moved
// into its band by Reindex, its old item deleted; a second run has nothing
// to do.
func TestReindexMovesOnlineGroupsToTheBands(t *testing.T) {
	d, db := newDirectory(t)
	g := grp("legacy", 0, 0, onlineOnly, func(g *directory.Group) { g.Meetings[0].Timezone = "America/New_York" })
	put(t, d, g)
	ctx := context.Background()
	// Rewrite it as the earlier layout stored it.
	if _, err := db.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(db.Tables.Directory),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "ONLINE#alcohol#en"}, "SK": &types.AttributeValueMemberS{Value: "07#legacy"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(db.Tables.Directory),
		Item: indexItem(t, g, "ONLINE#alcohol#en", "legacy")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(db.Tables.Directory),
		Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "GROUP#legacy"}, "SK": &types.AttributeValueMemberS{Value: "GROUP"}},
		UpdateExpression: aws.String("SET index_keys = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "ONLINE#alcohol#en"}}}},
	}); err != nil {
		t.Fatal(err)
	}
	n, err := d.Reindex(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Reindex = %d, %v; want 1 group rewritten", n, err)
	}
	if got := indexItemsOf(t, db, "legacy"); !slices.Equal(got, []string{"ONLINE#alcohol#en#07"}) {
		t.Errorf("index items after reindexing: %v", got)
	}
	if _, _, ms := onlineMatch(t, d, db); len(ms) != 1 || ms[0].Group.ID != "legacy" {
		t.Errorf("after reindexing, matches %+v", ms)
	}
	if n, err := d.Reindex(ctx); err != nil || n != 0 {
		t.Errorf("second Reindex = %d, %v; want nothing to do", n, err)
	}
}
