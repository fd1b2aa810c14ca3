// Package dispatch delivers events to their effects: from a DynamoDB stream
// batch (in AWS) and from the sweeper, which finds pending events that are due
// (in AWS every minute as a fallback and for scheduled deadlines; locally, every
// few hundred milliseconds, as the only path).
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/dynamo"
)

// Dispatcher runs events.
type Dispatcher struct {
	App *app.App
	Log *slog.Logger
	Now func() time.Time
	// Batch is how many due events one sweep takes (default 100).
	Batch int32
	// Workers is how many referrals are worked on at once (default 4).
	Workers int
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Stats counts one batch's outcomes.
type Stats struct {
	Ran, Failed int
}

// run runs one event; on failure it reschedules the event with backoff (or at
// the time the effect asked for). It returns an error only when the event
// could not even be rescheduled.
func (d *Dispatcher) run(ctx context.Context, ref dynamo.EventRef) (bool, error) {
	err := d.App.RunEvent(ctx, ref.Partition, ref.EventID)
	if err == nil {
		return true, nil
	}
	if at, ok := app.RetryAt(err); ok {
		if rerr := d.App.RetryAt(ctx, ref, at); rerr != nil {
			return false, rerr
		}
		return false, nil
	}
	if !errors.Is(err, app.ErrBusy) {
		d.Log.WarnContext(ctx, "event failed; will retry", "referral", ref.Partition, "event", ref.EventID, "error", safeError(err))
	}
	if rerr := d.App.Retry(ctx, ref, 0); rerr != nil {
		return false, rerr
	}
	return false, nil
}

// safeError keeps the operation names of an error chain, which handoff builds
// from ids, event types and SDK messages only.
func safeError(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// runAll runs refs, one referral's events in order, several referrals at once.
func (d *Dispatcher) runAll(ctx context.Context, refs []dynamo.EventRef) (Stats, map[string]bool) {
	byRef := map[string][]dynamo.EventRef{}
	var order []string
	for _, r := range refs {
		if _, ok := byRef[r.Partition]; !ok {
			order = append(order, r.Partition)
		}
		byRef[r.Partition] = append(byRef[r.Partition], r)
	}
	workers := d.Workers
	if workers <= 0 {
		workers = 4
	}
	var (
		mu     sync.Mutex
		st     Stats
		failed = map[string]bool{}
		wg     sync.WaitGroup
		sem    = make(chan struct{}, workers)
	)
	for _, id := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(list []dynamo.EventRef) {
			defer wg.Done()
			defer func() { <-sem }()
			for _, r := range list {
				ok, err := d.run(ctx, r)
				mu.Lock()
				if ok {
					st.Ran++
				} else {
					st.Failed++
				}
				if err != nil {
					failed[r.EventID] = true
				}
				mu.Unlock()
			}
		}(byRef[id])
	}
	wg.Wait()
	return st, failed
}

// Sweep runs the pending events that are due, one batch.
func (d *Dispatcher) Sweep(ctx context.Context) (Stats, error) {
	batch := d.Batch
	if batch <= 0 {
		batch = 100
	}
	// A shard that could not be read does not hold back the others' events.
	refs, err := d.App.Referrals.Due(ctx, d.now(), batch)
	st, _ := d.runAll(ctx, refs)
	return st, err
}

// HandleStream runs the pending events a DynamoDB stream batch carries and
// reports, as partial batch failures, only the records whose event could not
// even be rescheduled (an effect's own failure is rescheduled in the table).
func (d *Dispatcher) HandleStream(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var refs []dynamo.EventRef
	seq := map[string]string{}
	for _, rec := range ev.Records {
		img := rec.Change.NewImage
		pk, sk := img["PK"].String(), img["SK"].String()
		if rec.EventName == "REMOVE" || !strings.HasPrefix(sk, "EVT#") || img["GSI1PK"].IsNull() {
			continue
		}
		if _, ok := img["GSI1PK"]; !ok {
			continue
		}
		r := dynamo.EventRef{Partition: strings.TrimPrefix(pk, "REF#"), EventID: strings.TrimPrefix(sk, "EVT#")}
		refs = append(refs, r)
		seq[r.EventID] = rec.Change.SequenceNumber
	}
	_, failed := d.runAll(ctx, refs)
	var resp events.DynamoDBEventResponse
	for id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq[id]})
	}
	return resp, nil
}

// Handle is the Lambda entry point: a DynamoDB stream batch, or the
// schedule's `{"sweep": true}`.
func (d *Dispatcher) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records []json.RawMessage `json:"Records"`
		Sweep   bool              `json:"sweep"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	if len(probe.Records) > 0 {
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return d.HandleStream(ctx, ev)
	}
	// A schedule: sweep until nothing is due or the time is nearly up.
	total := Stats{}
	for range 50 {
		st, err := d.Sweep(ctx)
		if err != nil {
			return nil, err
		}
		total.Ran += st.Ran
		total.Failed += st.Failed
		if st.Ran+st.Failed == 0 {
			break
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 10*time.Second {
			break
		}
	}
	d.Log.InfoContext(ctx, "sweep done", "ran", total.Ran, "failed", total.Failed)
	return total, nil
}

// Loop sweeps every interval until ctx ends: the local stack's stand-in for
// the stream.
func (d *Dispatcher) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for range 20 {
			st, err := d.Sweep(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.Log.WarnContext(ctx, "sweep failed", "error", safeError(err))
				}
				break
			}
			if st.Ran+st.Failed == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
