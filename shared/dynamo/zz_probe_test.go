package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/dynamo"
)

func BenchmarkProbe(b *testing.B) {
	start := time.Now()
	db := benchDirectory(b, 1000)
	b.Logf("load %s", time.Since(start))
	d := &dynamo.Directory{DB: db.Client, Table: db.Tables.Directory}
	q := loopQuery()
	for range 3 {
		t := time.Now()
		_, st, err := d.Candidates(context.Background(), q)
		b.Logf("candidates %s %+v %v", time.Since(t), st, err)
	}
}
