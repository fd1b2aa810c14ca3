package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestEmit checks a line against the Embedded Metric Format's rules: the
// _aws root with a Timestamp, one directive naming the namespace, the
// dimension sets and the metric, and each dimension and metric a member of
// the line.
func TestEmit(t *testing.T) {
	var b bytes.Buffer
	e := &Emitter{W: &b, Function: "dispatch", Now: func() time.Time { return time.UnixMilli(1767323167890) }}
	e.Emit("MessagesSent", 1, Count, "Channel", "sms")
	var line struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function, Channel string
		MessagesSent      float64
	}
	if err := json.Unmarshal(b.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	d := line.AWS.CloudWatchMetrics
	if line.AWS.Timestamp != 1767323167890 || len(d) != 1 || d[0].Namespace != "handoff" ||
		len(d[0].Dimensions) != 1 || len(d[0].Dimensions[0]) != 2 || d[0].Dimensions[0][1] != "Channel" ||
		len(d[0].Metrics) != 1 || d[0].Metrics[0].Name != "MessagesSent" || d[0].Metrics[0].Unit != "Count" ||
		line.Function != "dispatch" || line.Channel != "sms" || line.MessagesSent != 1 {
		t.Errorf("not an EMF line: %s", b.String())
	}
	var nilE *Emitter
	nilE.Emit("X", 1, Count) // a nil emitter writes nothing and does not panic
}
