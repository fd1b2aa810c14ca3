// Package imports is handoff's asynchronous import of a group directory: a
// Meeting Guide or HSDS feed of thousands of groups, too large for one
// request to a Lambda (6 MB of synchronous payload) and for one invocation's
// time, becomes a job. The feed arrives in parts (Start, then AddPart); the
// request that brings the last part reads the whole feed, as the synchronous
// import reads one, and stores its groups in chunks; then events the
// dispatcher delivers store the chunks' groups, each event storing one chunk
// and starting the next in the same transaction that records the job's
// progress, and the last one withdrawing what a named feed no longer
// carries. The job's record (Job) is the import's answer and its progress,
// readable at any time.
//
// An import reads and stores exactly as the synchronous one does
// (app.ImportGroups): the same feed gives the same groups, listing-check
// schedules, skipped rows and withdrawals. Reading happens in the admin
// function (which has the feeds' readers already), storing in the dispatch
// function.
package imports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/ulids"
)

// Limits of an import.
const (
	// MaxPartBytes is the largest part one request may carry: with the API
	// Gateway event around it, a request stays under Lambda's 6 MB limit
	// on a synchronous invocation's payload.
	MaxPartBytes = 5 << 20
	// MaxFeedBytes is the largest feed, all parts together.
	MaxFeedBytes = 16 << 20
	// MaxParts is the most parts a feed may come in.
	MaxParts = 16
	// DefaultChunkBytes bounds the JSON of one chunk of groups (a
	// DynamoDB item holds 400 KB); at about a kilobyte a group, one event
	// stores a few hundred groups, a few seconds' work.
	DefaultChunkBytes = 300 << 10
	// dataKept is how long a job's feed and groups may stay (they are
	// deleted once used); jobKept how long its record answers.
	dataKept = 7 * 24 * time.Hour
	jobKept  = 30 * 24 * time.Hour
)

// Options tune a Service.
type Options struct {
	// ChunkBytes bounds one chunk's JSON (DefaultChunkBytes when 0).
	ChunkBytes int
}

// Service is the import use cases over one core.
type Service struct {
	App *app.App
	Options
}

// New returns the import use cases over a with opt.
func New(a *app.App, opt Options) *Service { return &Service{App: a, Options: opt} }

// Register makes the dispatcher of s's core run imports' events with s.
func (s *Service) Register() {
	s.App.Handle(referral.ImportChunk, s.onChunk)
	s.App.Handle(referral.ImportFinish, s.onFinish)
}

func (s *Service) now() time.Time { return s.App.Clock() }

func (s *Service) chunkBytes() int {
	if s.ChunkBytes > 0 {
		return s.ChunkBytes
	}
	return DefaultChunkBytes
}

// event is a new event of job j, due now.
func (s *Service) event(j dynamo.ImportJob, t referral.EventType, data map[string]string) referral.Event {
	now := s.now()
	return referral.Event{
		ID: ulids.New(now), Partition: j.Partition(),
		Type: t, At: now, Due: now, Data: data,
	}
}

// ValidID reports whether s can be a job's id (a ULID in lower case),
// before any read.
func ValidID(s string) bool { return s == strings.ToLower(s) && ulids.Valid(strings.ToUpper(s)) }

// Start begins an import of a feed in format with opt, sent in parts parts,
// with its first part (part 0): it checks the options, stores the part and
// returns the job, queued when the feed is whole (parts is 1), else
// receiving the other parts (AddPart). Errors: problem.Invalid (the format,
// an option, parts), problem.TooLarge (a part over MaxPartBytes).
func (s *Service) Start(ctx context.Context, format string, opt directory.ImportOptions, parts int, part []byte) (dynamo.ImportJob, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	if parts < 1 || parts > MaxParts {
		return dynamo.ImportJob{}, problem.Invalidf([]problem.FieldError{{Field: "parts",
			Detail: fmt.Sprintf("must be a whole number from 1 to %d (parts of at most %d MB, %d MB in all)", MaxParts, MaxPartBytes>>20, MaxFeedBytes>>20)}}, "bad parts")
	}
	if opt.WithdrawMissing && strings.TrimSpace(opt.Source) == "" {
		return dynamo.ImportJob{}, problem.Invalidf([]problem.FieldError{{Field: "source", Detail: "name the feed to withdraw the groups it no longer carries"}}, "withdraw_missing needs a source")
	}
	// The options are checked as reading a feed checks them: an empty one.
	if _, err := directory.Import(format, strings.NewReader("[]"), opt); err != nil {
		return dynamo.ImportJob{}, err
	}
	if len(part) > MaxPartBytes {
		return dynamo.ImportJob{}, problem.Errorf(problem.TooLarge, "a part is at most %d bytes; send the feed in more parts", MaxPartBytes)
	}
	now := s.now()
	j := dynamo.ImportJob{
		ID: strings.ToLower(ulids.New(now)), Format: format, Options: opt,
		Parts: parts, Status: dynamo.ImportReceiving, CreatedAt: now, UpdatedAt: now, TTL: now.Add(jobKept).Unix(),
	}
	if err := s.App.Referrals.PutImportPart(ctx, j.ID, 0, part, now.Add(dataKept).Unix()); err != nil {
		return j, err
	}
	s.App.Log.InfoContext(ctx, "import started", "import", j.ID, "format", format, "parts", parts, "bytes", len(part))
	j.Received, j.Bytes = []int{0}, len(part)
	if j.AllReceived() {
		return s.read(ctx, j)
	}
	if err := s.App.Referrals.SaveImport(ctx, dynamo.ImportChange{Job: j}); err != nil {
		return j, err
	}
	j.Version++
	return j, nil
}

// AddPart stores part n of a job's feed; the last part queues the job. A
// part received before is not stored again: the answer is the job as it is.
// Errors: problem.NotFound (no such job), problem.Invalid (n is not one of
// its parts), problem.Conflict (the job no longer takes parts),
// problem.TooLarge (a part over MaxPartBytes, or a feed over MaxFeedBytes).
func (s *Service) AddPart(ctx context.Context, id string, n int, part []byte) (dynamo.ImportJob, error) {
	if !ValidID(id) {
		return dynamo.ImportJob{}, problem.Errorf(problem.NotFound, "import not found")
	}
	if len(part) > MaxPartBytes {
		return dynamo.ImportJob{}, problem.Errorf(problem.TooLarge, "a part is at most %d bytes; send the feed in more parts", MaxPartBytes)
	}
	stored := false
	for attempt := 0; ; attempt++ {
		j, err := s.App.Referrals.ImportJobOf(ctx, id)
		if err != nil {
			return j, err
		}
		if n < 0 || n >= j.Parts {
			return j, problem.Invalidf([]problem.FieldError{{Field: "part", Detail: fmt.Sprintf("must be from 1 to %d: this import has %d parts, part 0 came with its start", j.Parts-1, j.Parts)}}, "no such part")
		}
		for _, r := range j.Received {
			if r == n {
				return j, nil
			}
		}
		if j.Status != dynamo.ImportReceiving {
			return j, problem.Errorf(problem.Conflict, "the import is %s: it takes no more parts", j.Status)
		}
		if j.Bytes+len(part) > MaxFeedBytes {
			return j, problem.Errorf(problem.TooLarge, "a feed is at most %d bytes in all", MaxFeedBytes)
		}
		if !stored {
			if err := s.App.Referrals.PutImportPart(ctx, id, n, part, s.now().Add(dataKept).Unix()); err != nil {
				return j, err
			}
			stored = true
		}
		next := j
		next.Received = append(append([]int(nil), j.Received...), n)
		next.Bytes += len(part)
		next.UpdatedAt = s.now()
		if next.AllReceived() {
			next, err = s.read(ctx, next)
		} else {
			err = s.App.Referrals.SaveImport(ctx, dynamo.ImportChange{Job: next})
			next.Version++
		}
		if problem.Is(err, problem.Conflict) && attempt < 5 {
			continue // another part came meanwhile: read the job again
		}
		return next, err
	}
}

// read reads the whole feed of j, whose last part just came, as the
// synchronous import reads one, stores its groups in chunks, and records
// the job as running with the event that stores the first chunk (or, for a
// feed without groups, the finish). A feed that cannot be read at all fails
// the job, with the reason (a byte offset, never content). If the request
// dies on the way, nothing counts the last part: sending it again reads the
// feed again and writes the same chunks.
func (s *Service) read(ctx context.Context, j dynamo.ImportJob) (dynamo.ImportJob, error) {
	feed, err := s.App.Referrals.ImportFeed(ctx, j.ID)
	if err != nil {
		return j, err
	}
	opt := j.Options
	opt.MaxBytes = MaxFeedBytes
	res, err := directory.Import(j.Format, bytes.NewReader(feed), opt)
	ch := dynamo.ImportChange{Job: j}
	ch.Job.UpdatedAt = s.now()
	if code := problem.CodeOf(err); err != nil && code != problem.Internal {
		ch.Job.Status, ch.Job.Error, ch.Job.FinishedAt = dynamo.ImportFailed, problem.BodyOf(err).Detail, s.now()
		s.App.Log.WarnContext(ctx, "import failed", "import", j.ID, "code", string(code))
	} else {
		if err != nil {
			return j, err
		}
		chunks, err := cut(res.Groups, s.chunkBytes())
		if err != nil {
			return j, err
		}
		ttl := s.now().Add(dataKept).Unix()
		for _, c := range chunks {
			if err := s.App.Referrals.PutImportChunk(ctx, j.ID, c, ttl); err != nil {
				return j, err
			}
		}
		ch.Job.Status, ch.Job.Chunks, ch.Job.GroupsTotal = dynamo.ImportRunning, len(chunks), len(res.Groups)
		ch.Job.Skipped, ch.Job.SkippedCount = res.Skipped, len(res.Skipped)
		if z := res.InferredZone; z.Timezone != "" {
			z.Rows = z.Rows[:min(len(z.Rows), dynamo.MaxImportListed)]
			ch.Job.InferredTimezone = &z
		}
		if len(res.Groups) > 0 {
			ch.Job.Options.Source = res.Groups[0].Source // as the feed's groups carry it
		}
		ch.Events = []referral.Event{s.next(ch.Job, 0)}
	}
	if err := s.App.Referrals.SaveImport(ctx, ch); err != nil {
		return j, err
	}
	s.drop(ctx, j.ID, "raw")
	ch.Job.Version++
	return ch.Job, nil
}

// Job returns a job. Errors: problem.NotFound.
func (s *Service) Job(ctx context.Context, id string) (dynamo.ImportJob, error) {
	if !ValidID(id) {
		return dynamo.ImportJob{}, problem.Errorf(problem.NotFound, "import not found")
	}
	return s.App.Referrals.ImportJobOf(ctx, id)
}

// jobOf reads an event's job; done is true when the event has nothing to do
// (the job is gone, or is past what the event is for), and it is finished.
func (s *Service) jobOf(ctx context.Context, ev referral.Event, status string) (dynamo.ImportJob, bool, error) {
	id := strings.TrimPrefix(ev.Partition, dynamo.ImportPartition(""))
	j, err := s.App.Referrals.ImportJobOf(ctx, id)
	if problem.Is(err, problem.NotFound) || (err == nil && j.Status != status) {
		return j, true, s.App.Referrals.Finish(ctx, ev)
	}
	return j, false, err
}

// save writes a step of a job; when another worker wrote the job meanwhile
// (the same event delivered twice), the event is finished and nothing else
// is written.
func (s *Service) save(ctx context.Context, ch dynamo.ImportChange) error {
	err := s.App.Referrals.SaveImport(ctx, ch)
	if problem.Is(err, problem.Conflict) && ch.Done != nil {
		return s.App.Referrals.Finish(ctx, *ch.Done)
	}
	return err
}

// next is the event after chunk n of j: the next chunk, or the finish.
func (s *Service) next(j dynamo.ImportJob, n int) referral.Event {
	if n < j.Chunks {
		return s.event(j, referral.ImportChunk, map[string]string{"chunk": strconv.Itoa(n)})
	}
	return s.event(j, referral.ImportFinish, nil)
}

// onChunk stores one chunk of a running job's groups (each with its
// listing-check schedule, as app.StoreGroups stores them), then counts it
// and starts the next chunk, or the finish, in one transaction. Storing a
// chunk again (after a crash before its count) writes the same groups: they
// are counted as updated.
func (s *Service) onChunk(ctx context.Context, ev referral.Event) error {
	j, done, err := s.jobOf(ctx, ev, dynamo.ImportRunning)
	if done || err != nil {
		return err
	}
	n, err := strconv.Atoi(ev.Data["chunk"])
	if err != nil || n != j.NextChunk {
		return s.App.Referrals.Finish(ctx, ev) // a chunk counted already
	}
	c, err := s.App.Referrals.ImportChunkOf(ctx, j.ID, n)
	if err != nil {
		return err
	}
	var groups []directory.Group
	if err := json.Unmarshal(c.Groups, &groups); err != nil {
		return fmt.Errorf("chunk %d of import %s: %w", n, j.ID, err)
	}
	imported, updated, skipped, err := s.App.StoreGroups(ctx, groups)
	if err != nil {
		return err
	}
	for _, sk := range skipped {
		sk.Index += c.Offset
		j.Skipped = append(j.Skipped, sk)
	}
	j.SkippedCount += len(skipped)
	j.Imported += imported
	j.Updated += updated
	j.GroupsDone += len(groups)
	j.NextChunk = n + 1
	j.UpdatedAt = s.now()
	return s.save(ctx, dynamo.ImportChange{Job: j, Events: []referral.Event{s.next(j, n+1)}, Done: &ev})
}

// onFinish withdraws, for a job that asked for it, the groups of its source
// that the feed no longer carries (as the synchronous import does: a feed
// that yields no group withdraws nothing), and marks the job done.
func (s *Service) onFinish(ctx context.Context, ev referral.Event) error {
	j, done, err := s.jobOf(ctx, ev, dynamo.ImportRunning)
	if done || err != nil {
		return err
	}
	if j.Options.WithdrawMissing && j.GroupsTotal > 0 {
		keep, err := s.App.Referrals.ImportGroupIDs(ctx, j.ID)
		if err != nil {
			return err
		}
		withdrawn, err := s.App.Directory.WithdrawMissing(ctx, j.Options.Source, keep, app.WithdrawnReason)
		if err != nil {
			return err
		}
		j.Withdrawn, j.WithdrawnCount = withdrawn, len(withdrawn)
	}
	j.Status, j.UpdatedAt, j.FinishedAt = dynamo.ImportDone, s.now(), s.now()
	if err := s.save(ctx, dynamo.ImportChange{Job: j, Done: &ev}); err != nil {
		return err
	}
	s.drop(ctx, j.ID, "chunk")
	s.App.Log.InfoContext(ctx, "groups imported", "import", j.ID, "format", j.Format, "imported", j.Imported,
		"updated", j.Updated, "skipped", j.SkippedCount, "withdrawn", j.WithdrawnCount)
	return nil
}

// drop deletes a job's feed or groups once used; what it cannot delete, TTL
// does.
func (s *Service) drop(ctx context.Context, id, what string) {
	if err := s.App.Referrals.DropImportData(ctx, id, what); err != nil {
		s.App.Log.WarnContext(ctx, "import data left to expire", "import", id, "what", what, "error", err.Error())
	}
}

// cut splits groups into chunks whose JSON is at most max bytes (a group
// larger than that makes a chunk of its own).
func cut(groups []directory.Group, max int) ([]dynamo.ImportChunk, error) {
	var out []dynamo.ImportChunk
	var buf bytes.Buffer
	var ids []string
	start := 0
	flush := func(end int) {
		if len(ids) == 0 {
			return
		}
		buf.WriteByte(']')
		out = append(out, dynamo.ImportChunk{Seq: len(out), Offset: start, Groups: bytes.Clone(buf.Bytes()), IDs: ids})
		buf.Reset()
		ids, start = nil, end
	}
	for i, g := range groups {
		b, err := json.Marshal(g)
		if err != nil {
			return nil, fmt.Errorf("group %d: %w", i, err)
		}
		if len(ids) > 0 && buf.Len()+len(b)+2 > max {
			flush(i)
		}
		if len(ids) == 0 {
			buf.WriteByte('[')
		} else {
			buf.WriteByte(',')
		}
		buf.Write(b)
		ids = append(ids, g.ID)
	}
	flush(len(groups))
	return out, nil
}

// View is a job as the admin API shows it.
type View struct {
	ID             string           `json:"id"`
	Status         string           `json:"status"`
	Format         string           `json:"format"`
	Source         string           `json:"source,omitempty"`
	Parts          int              `json:"parts"`
	PartsReceived  int              `json:"parts_received"`
	GroupsTotal    int              `json:"groups_total"`
	GroupsDone     int              `json:"groups_done"`
	Imported       int              `json:"imported"`
	Updated        int              `json:"updated"`
	SkippedCount   int              `json:"skipped_count"`
	Skipped        []directory.Skip `json:"skipped"`
	WithdrawnCount int              `json:"withdrawn_count"`
	Withdrawn      []string         `json:"withdrawn"`
	// InferredTimezone is the zone given to meetings whose rows named none
	// (the one the feed's located meetings agree on), and those rows (the
	// first 1,000).
	InferredTimezone *directory.InferredZone `json:"inferred_timezone,omitempty"`
	Error            string                  `json:"error,omitempty"`
	CreatedAt        time.Time               `json:"created_at"`
	UpdatedAt        time.Time               `json:"updated_at"`
	FinishedAt       *time.Time              `json:"finished_at"`
	Links            map[string]string       `json:"links"`
}

// ViewOf returns the view of j.
func ViewOf(j dynamo.ImportJob) View {
	v := View{
		ID: j.ID, Status: j.Status, Format: j.Format, Source: j.Options.Source, Parts: j.Parts, PartsReceived: len(j.Received),
		GroupsTotal: j.GroupsTotal, GroupsDone: j.GroupsDone, Imported: j.Imported, Updated: j.Updated,
		SkippedCount: j.SkippedCount, Skipped: j.Skipped, WithdrawnCount: j.WithdrawnCount, Withdrawn: j.Withdrawn,
		InferredTimezone: j.InferredTimezone, Error: j.Error, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
		Links: map[string]string{"self": "/v1/admin/imports/" + j.ID},
	}
	if v.Skipped == nil {
		v.Skipped = []directory.Skip{}
	}
	if v.Withdrawn == nil {
		v.Withdrawn = []string{}
	}
	if !j.FinishedAt.IsZero() {
		v.FinishedAt = &j.FinishedAt
	}
	return v
}
