// Package metrics writes CloudWatch metrics in the Embedded Metric Format: one
// JSON line per metric, on the function's output, which CloudWatch Logs turns
// into a metric of the "handoff" namespace. Dimensions are fixed words (the
// function, a channel, a refusal's problem code): never an id, a name or
// anything a patient gave.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of handoff's metrics.
const Namespace = "handoff"

// Units.
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
	Seconds      = "Seconds"
)

// Emitter writes metrics to W (the Lambda's stdout). The zero value, or a nil
// *Emitter, writes nothing.
type Emitter struct {
	W        io.Writer
	Function string // the Function dimension
	Now      func() time.Time

	mu sync.Mutex
}

// Emit writes one metric with its dimensions (each a fixed word) beside the
// Function dimension.
func (e *Emitter) Emit(name string, value float64, unit string, dims ...string) {
	if e == nil || e.W == nil {
		return
	}
	keys := []string{"Function"}
	line := map[string]any{"Function": e.Function, name: value}
	for i := 0; i+1 < len(dims); i += 2 {
		keys = append(keys, dims[i])
		line[dims[i]] = dims[i+1]
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	line["_aws"] = map[string]any{
		"Timestamp": now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{keys},
			"Metrics":    []any{map[string]string{"Name": name, "Unit": unit}},
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.W.Write(append(b, '\n'))
}
