// Package dynamo is handoff's adapter to Amazon DynamoDB: the referral store
// (referrals, routes, events, tokens, idempotency records, the effect ledger) and
// the directory store (groups, their match index, clinics).
//
// Item layout is documented in docs/DATA.md; key schemas live only in
// template.yaml. Every store method wraps its errors with the operation and key,
// and returns a problem.NotFound error, never nil, for a missing item.
package dynamo

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// Tables names the two tables.
type Tables struct {
	Referrals string
	Directory string
}

// Counter counts DynamoDB calls by operation and the items they read, through
// SDK middleware. It is safe for concurrent use. The zero value is ready.
type Counter struct {
	mu    sync.Mutex
	calls map[string]int
	items map[string]int
}

// Count is one operation's totals.
type Count struct {
	Operation string
	Calls     int
	Items     int // items read (GetItem found, Query/Scan ScannedCount, BatchGet/TransactGet responses)
}

// Snapshot returns the totals so far, sorted by operation.
func (c *Counter) Snapshot() []Count {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Count, 0, len(c.calls))
	for op, n := range c.calls {
		out = append(out, Count{Operation: op, Calls: n, Items: c.items[op]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Operation < out[j].Operation })
	return out
}

// Totals returns all calls and all items read.
func (c *Counter) Totals() (calls, items int) {
	for _, n := range c.Snapshot() {
		calls += n.Calls
		items += n.Items
	}
	return calls, items
}

// Calls returns the number of calls of one operation (e.g. "Query").
func (c *Counter) Calls(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

// Reset clears the totals.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.items = nil, nil
}

// String renders the totals as "Op=calls/items" pairs.
func (c *Counter) String() string {
	var b strings.Builder
	for i, n := range c.Snapshot() {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(n.Operation)
		b.WriteString("=")
		b.WriteString(itoa(n.Calls))
		b.WriteString("/")
		b.WriteString(itoa(n.Items))
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

func (c *Counter) add(op string, items int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls, c.items = map[string]int{}, map[string]int{}
	}
	c.calls[op]++
	c.items[op] += items
}

// itemsRead tells how many items a response read.
func itemsRead(out any) int {
	switch o := out.(type) {
	case *dynamodb.GetItemOutput:
		if o.Item != nil {
			return 1
		}
	case *dynamodb.QueryOutput:
		return int(max(o.ScannedCount, o.Count)) // the embedded server sets only Count
	case *dynamodb.ScanOutput:
		return int(max(o.ScannedCount, o.Count))
	case *dynamodb.BatchGetItemOutput:
		n := 0
		for _, items := range o.Responses {
			n += len(items)
		}
		return n
	case *dynamodb.TransactGetItemsOutput:
		return len(o.Responses)
	}
	return 0
}

// Middleware returns an SDK option that counts every call (each attempt's final
// result) into c.
func (c *Counter) Middleware() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("handoffCount",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleInitialize(ctx, in)
					c.add(middleware.GetOperationName(ctx), itemsRead(out.Result))
					return out, md, err
				}), middleware.After)
		})
	}
}

// NewClient builds a DynamoDB client from cfg. The endpoint comes from the
// standard AWS_ENDPOINT_URL_DYNAMODB variable when set (the SDK reads it); extra
// options (a Counter's Middleware, say) are applied last.
func NewClient(cfg aws.Config, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, opts...)
}
