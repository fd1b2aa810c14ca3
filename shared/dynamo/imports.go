package dynamo

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// An asynchronous import is a job in a partition of its own in
// ReferralsTable, REF#import-<job id>, delivered by the dispatcher like a
// referral's events (see docs/DATA.md): the JOB item, the feed as it
// arrived (RAW# items, each part cut to fit DynamoDB's item size), the
// groups read from it (CHUNK# items), and the job's events.

// ImportPartition is the event partition of an import job.
func ImportPartition(jobID string) string { return "import-" + jobID }

const (
	importJobSK   = "JOB"
	importRawSK   = "RAW#"
	importChunkSK = "CHUNK#"
	// rawPiece is the most of a part one RAW# item holds (DynamoDB's limit
	// is 400 KB per item).
	rawPiece = 350 << 10
)

// Import job statuses.
const (
	ImportReceiving = "receiving" // waiting for parts of the feed
	ImportRunning   = "running"   // the feed is read: storing its groups, chunk by chunk
	ImportDone      = "done"
	ImportFailed    = "failed"
)

// ImportJob is an import's record. Its counts are the import's answer, as
// the synchronous import gives it, and its progress.
type ImportJob struct {
	ID       string                  `json:"id"`
	Format   string                  `json:"format"`
	Options  directory.ImportOptions `json:"options"`
	Parts    int                     `json:"parts"`
	Received []int                   `json:"received,omitempty"` // part numbers in, from 0
	Bytes    int                     `json:"bytes"`              // of the parts received
	Status   string                  `json:"status"`
	// Chunks is how many CHUNK# items the feed's groups were cut into;
	// NextChunk the one to store next.
	Chunks      int `json:"chunks,omitempty"`
	NextChunk   int `json:"next_chunk,omitempty"`
	GroupsTotal int `json:"groups_total,omitempty"`
	GroupsDone  int `json:"groups_done,omitempty"`
	Imported    int `json:"imported,omitempty"`
	Updated     int `json:"updated,omitempty"`
	// SkippedCount counts every skipped row; Skipped keeps the first
	// MaxImportListed.
	SkippedCount   int              `json:"skipped_count,omitempty"`
	Skipped        []directory.Skip `json:"skipped,omitempty"`
	WithdrawnCount int              `json:"withdrawn_count,omitempty"`
	Withdrawn      []string         `json:"withdrawn,omitempty"`
	// InferredTimezone names the zone the import gave meetings whose rows
	// named none, and (the first MaxImportListed of) those rows.
	InferredTimezone *directory.InferredZone `json:"inferred_timezone,omitempty"`
	// Error says why a failed job failed (never the feed's content).
	Error      string    `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Version    int       `json:"version"`
	TTL        int64     `json:"expires_at,omitempty"`
}

// MaxImportListed is how many skipped rows and withdrawn groups a job keeps
// by name (the counts are complete).
const MaxImportListed = 1000

// Partition is the job's event partition.
func (j ImportJob) Partition() string { return ImportPartition(j.ID) }

// AllReceived reports whether every part of the feed is in.
func (j ImportJob) AllReceived() bool { return len(j.Received) == j.Parts }

// ImportChunk is a slice of the groups an import read from its feed.
type ImportChunk struct {
	Seq    int      `json:"seq"`
	Offset int      `json:"offset"` // position of its first group among the feed's groups
	Groups []byte   `json:"groups"` // the groups, as a JSON array of directory.Group
	IDs    []string `json:"ids"`
}

// ImportJobOf reads a job, or returns a problem.NotFound error.
func (s *Referrals) ImportJobOf(ctx context.Context, id string) (ImportJob, error) {
	var j ImportJob
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.Table, Key: key(refPrefix+ImportPartition(id), importJobSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return j, fmt.Errorf("get import %s: %w", id, err)
	}
	if out.Item == nil {
		return j, problem.Errorf(problem.NotFound, "import not found")
	}
	if err := unmarshal(out.Item, &j); err != nil {
		return j, fmt.Errorf("get import %s: %w", id, err)
	}
	return j, nil
}

// PutImportPart stores part n of a job's feed (its RAW# items, each written
// whole, so writing a part again is harmless). The job does not count it
// until SaveImport records it.
func (s *Referrals) PutImportPart(ctx context.Context, jobID string, n int, part []byte, ttl int64) error {
	pk := refPrefix + ImportPartition(jobID)
	for i := 0; i == 0 || i*rawPiece < len(part); i++ {
		piece := part[i*rawPiece : min(len(part), (i+1)*rawPiece)]
		item := key(pk, fmt.Sprintf("%s%03d#%03d", importRawSK, n, i))
		item["data"] = &types.AttributeValueMemberB{Value: piece}
		item["expires_at"] = num(ttl)
		if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
			return fmt.Errorf("store part %d of import %s: %w", n, jobID, err)
		}
	}
	return nil
}

// ImportFeed reads back a job's feed, its parts in order.
func (s *Referrals) ImportFeed(ctx context.Context, jobID string) ([]byte, error) {
	var feed []byte
	err := s.importItems(ctx, jobID, importRawSK, "", func(item map[string]types.AttributeValue) error {
		b, ok := item["data"].(*types.AttributeValueMemberB)
		if !ok {
			return fmt.Errorf("import %s: a part without data", jobID)
		}
		feed = append(feed, b.Value...)
		return nil
	})
	return feed, err
}

// importItems calls f with every item of a job whose SK begins with prefix,
// in key order; project, when not "", names the attributes to read.
func (s *Referrals) importItems(ctx context.Context, jobID, prefix, project string, f func(map[string]types.AttributeValue) error) error {
	in := &dynamodb.QueryInput{
		TableName:              &s.Table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(refPrefix + ImportPartition(jobID)), ":p": str(prefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	if project != "" {
		in.ProjectionExpression = aws.String(project)
	}
	// Paged by hand: a paginator would take the client as an interface,
	// which links every operation of the client into the binary.
	for {
		page, err := s.DB.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("read import %s: %w", jobID, err)
		}
		for _, item := range page.Items {
			if err := f(item); err != nil {
				return err
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// PutImportChunk stores one chunk of a job's groups (written whole: writing
// it again is harmless).
func (s *Referrals) PutImportChunk(ctx context.Context, jobID string, c ImportChunk, ttl int64) error {
	item, err := marshal(c, refPrefix+ImportPartition(jobID), fmt.Sprintf("%s%05d", importChunkSK, c.Seq))
	if err != nil {
		return fmt.Errorf("store chunk %d of import %s: %w", c.Seq, jobID, err)
	}
	item["expires_at"] = num(ttl)
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("store chunk %d of import %s: %w", c.Seq, jobID, err)
	}
	return nil
}

// ImportChunkOf reads chunk seq of a job, or returns a problem.NotFound error.
func (s *Referrals) ImportChunkOf(ctx context.Context, jobID string, seq int) (ImportChunk, error) {
	var c ImportChunk
	err := s.get(ctx, refPrefix+ImportPartition(jobID), fmt.Sprintf("%s%05d", importChunkSK, seq), &c)
	if err != nil {
		return c, fmt.Errorf("read chunk %d of import %s: %w", seq, jobID, err)
	}
	return c, nil
}

// ImportGroupIDs returns the ids of every group a job read from its feed
// (from its chunks, reading their ids only).
func (s *Referrals) ImportGroupIDs(ctx context.Context, jobID string) (map[string]bool, error) {
	ids := map[string]bool{}
	err := s.importItems(ctx, jobID, importChunkSK, "ids", func(item map[string]types.AttributeValue) error {
		var c ImportChunk
		if err := unmarshal(item, &c); err != nil {
			return err
		}
		for _, id := range c.IDs {
			ids[id] = true
		}
		return nil
	})
	return ids, err
}

// DropImportData deletes a job's feed (RAW# items, prefix "raw") or its
// groups (CHUNK# items, prefix "chunk") once they are no longer needed;
// what a failure leaves, TTL deletes.
func (s *Referrals) DropImportData(ctx context.Context, jobID, what string) error {
	prefix := importRawSK
	if what == "chunk" {
		prefix = importChunkSK
	}
	var keys []map[string]types.AttributeValue
	err := s.importItems(ctx, jobID, prefix, "PK, SK", func(item map[string]types.AttributeValue) error {
		keys = append(keys, map[string]types.AttributeValue{"PK": item["PK"], "SK": item["SK"]})
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.Table, Key: k}); err != nil {
			return fmt.Errorf("drop %s of import %s: %w", what, jobID, err)
		}
	}
	return nil
}

// ImportChange is one step of a job: its new record (written only if its
// Version is still the one read, then one more), the events it starts, and
// the event it finishes.
type ImportChange struct {
	Job    ImportJob
	Events []referral.Event
	Done   *referral.Event
}

// SaveImport writes c in one transaction: a new job when c.Job.Version is 0,
// else the job in place of version c.Job.Version. It returns a
// problem.Conflict error when the job was written meanwhile (or, for a new
// job, exists).
func (s *Referrals) SaveImport(ctx context.Context, c ImportChange) error {
	j := c.Job
	pk := refPrefix + j.Partition()
	cond := "attribute_not_exists(PK)"
	values := map[string]types.AttributeValue{}
	if j.Version > 0 {
		cond = "version = :v"
		values[":v"] = num(int64(j.Version))
	}
	j.Version++
	j.Skipped = slices.Clone(j.Skipped[:min(len(j.Skipped), MaxImportListed)])
	j.Withdrawn = slices.Clone(j.Withdrawn[:min(len(j.Withdrawn), MaxImportListed)])
	item, err := marshal(j, pk, importJobSK)
	if err != nil {
		return err
	}
	put := &types.Put{TableName: &s.Table, Item: item, ConditionExpression: aws.String(cond)}
	if len(values) > 0 {
		put.ExpressionAttributeValues = values
	}
	items := []types.TransactWriteItem{{Put: put}}
	for _, e := range c.Events {
		p, err := s.eventPut(e, j.TTL)
		if err != nil {
			return err
		}
		items = append(items, p)
	}
	if c.Done != nil {
		p, err := s.finishPut(*c.Done, s.now())
		if err != nil {
			return err
		}
		items = append(items, types.TransactWriteItem{Put: p})
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err != nil {
		if cancelledBy(err, 0) || transactionConflict(err) {
			return problem.Errorf(problem.Conflict, "import %s changed meanwhile", j.ID)
		}
		return fmt.Errorf("save import %s (version %s): %w", j.ID, strconv.Itoa(j.Version), err)
	}
	return nil
}
