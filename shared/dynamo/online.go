package dynamo

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/directory"
)

// The online match index is ordered by UTC-offset band: a group's online
// index item for a topic and language sits in ONLINE#<topic>#<language>
// with the sort key <band>#<group id>, band being the standard-time UTC
// offset of the zone its meetings keep, as two digits from 00 (UTC-12) to 26
// (UTC+14) — 07 for New York, 13 for Paris — or 99 for a group whose
// meetings name no zone. The group's index_keys name the item
// ONLINE#<topic>#<language>#<band> (see IndexItemKey). A match reads two
// pages of at most onlinePage items outward from the patient's band: one
// from the patient's band eastward (ascending sort keys), one from the band
// west of it westward (descending). So it reads at most 2 × onlinePage items
// per topic and language, the groups of the nearest zones first, however
// many online groups the directory holds.
const (
	onlinePage    = 40 // items one online Query reads at most
	onlineAnyBand = "99"
	minBand       = -12
	maxBand       = 14
	// defaultBand is where a match starts for a patient whose zone and
	// location are unknown: Central time, the middle of the contiguous
	// United States.
	defaultBand = -6
)

// bands caches zone name → band.
var bands sync.Map // string → int

// zoneBand is the standard-time UTC offset of an IANA zone in whole hours
// (rounded down: Newfoundland's -3:30 is -4, India's +5:30 is +5); ok is
// false for an unknown zone. Standard time is the smaller of the offsets in
// January and July of a fixed year, so the band never changes with the
// season.
func zoneBand(zone string) (int, bool) {
	if zone == "" {
		return 0, false
	}
	if b, ok := bands.Load(zone); ok {
		return b.(int), true
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return 0, false
	}
	_, jan := time.Date(2026, 1, 1, 12, 0, 0, 0, loc).Zone()
	_, jul := time.Date(2026, 7, 1, 12, 0, 0, 0, loc).Zone()
	off := min(jan, jul)
	b := off / 3600
	if off < 0 && off%3600 != 0 {
		b--
	}
	bands.Store(zone, b)
	return b, true
}

func bandName(b int) string {
	b = max(minBand, min(maxBand, b)) - minBand
	return string([]byte{byte('0' + b/10), byte('0' + b%10)})
}

// groupBand is the band of a group's online index items: that of its first
// meeting with a known zone, else onlineAnyBand.
func groupBand(g directory.Group) string {
	for _, m := range g.Meetings {
		if b, ok := zoneBand(m.Timezone); ok {
			return bandName(b)
		}
	}
	return onlineAnyBand
}

// IndexItemKey is the primary key of the match-index item a group's
// index_keys entry names: the entry itself and the group id for a cell, the
// partition ONLINE#<topic>#<language> and sort key <band>#<group id> for
// an online entry ONLINE#<topic>#<language>#<band>. An online entry of the
// earlier layout (no band) keys its item by the group id.
func IndexItemKey(name, groupID string) (pk, sk string) {
	if strings.HasPrefix(name, onlinePrefix) && strings.Count(name, "#") == 3 {
		i := strings.LastIndexByte(name, '#')
		return name[:i], name[i+1:] + "#" + groupID
	}
	return name, groupID
}

// patientBand is the band a match starts from: the patient's zone's, else
// that of the patient's longitude, else defaultBand.
func patientBand(q directory.Query) int {
	if b, ok := zoneBand(q.Zone); ok {
		return b
	}
	if q.HasLocation {
		return int(math.Floor((q.Lon + 7.5) / 15))
	}
	return defaultBand
}

// onlineCandidates reads, per topic and language the query accepts, a page
// from the patient's band eastward and a page from the band west of it
// westward (see the layout above).
func (s *Directory) onlineCandidates(ctx context.Context, q directory.Query) (cands []directory.Candidate, queries, scanned int, err error) {
	from := bandName(patientBand(q)) + "#"
	var ins []*dynamodb.QueryInput
	for _, topic := range q.Topics {
		for _, l := range onlineLanguages(q) {
			for _, east := range []bool{true, false} {
				cond, op := "PK = :pk AND SK >= :b", ":b"
				if !east {
					cond = "PK = :pk AND SK < :b"
				}
				ins = append(ins, &dynamodb.QueryInput{
					TableName:              aws.String(s.Table),
					KeyConditionExpression: aws.String(cond),
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":pk": str(onlineKey(topic, l)), op: str(from),
					},
					ScanIndexForward: aws.Bool(east),
					Limit:            aws.Int32(onlinePage),
				})
			}
		}
	}
	return s.queryPages(ctx, ins)
}

// Reindex rewrites the match index of every stored group whose index items
// are not those its listing owns today (after a change of the index's
// layout, such as the online bands), and reports how many it rewrote. Each
// rewrite is the same transaction as PutGroup's, conditional on the
// group's version; a group changed meanwhile is read again.
func (s *Directory) Reindex(ctx context.Context) (int, error) {
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.Table),
		FilterExpression:          aws.String("SK = :g"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": str(groupSK)},
		ProjectionExpression:      aws.String("PK"),
	}
	n := 0
	for {
		out, err := s.DB.Scan(ctx, in)
		if err != nil {
			return n, fmt.Errorf("reindex: %w", err)
		}
		for _, item := range out.Items {
			pk, _ := item["PK"].(*types.AttributeValueMemberS)
			if pk == nil || len(pk.Value) <= len(groupPrefix) {
				continue
			}
			done, err := s.reindex(ctx, pk.Value[len(groupPrefix):])
			if err != nil {
				return n, err
			}
			if done {
				n++
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func (s *Directory) reindex(ctx context.Context, id string) (bool, error) {
	for range putAttempts {
		old, found, err := s.load(ctx, id)
		if err != nil || !found {
			return false, err
		}
		if slices.Equal(IndexKeys(old.Group), old.IndexKeys) {
			return false, nil
		}
		err = s.write(ctx, old.Group, old, true)
		if err == nil {
			return true, nil
		}
		if !cancelledBy(err, 0) && !transactionConflict(err) {
			return false, err
		}
	}
	return false, fmt.Errorf("reindex group: changed by other writers %d times", putAttempts)
}
