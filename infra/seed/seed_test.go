package seed_test

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/infra/seed"
	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/topics"
)

func TestGroupsAreValidAndReachNoOne(t *testing.T) {
	gs, err := seed.Groups()
	if err != nil {
		t.Fatal(err)
	}
	bySource, offices := map[string]int{}, 0
	covered := map[string]bool{}
	for _, g := range gs {
		if err := g.Validate(); err != nil {
			t.Errorf("%s: %v", g.ID, err)
		}
		if !strings.HasSuffix(g.Contact.Email, "@groups.example") || g.Contact.Phone != "" {
			t.Errorf("%s: contact %+v is not a placeholder", g.ID, g.Contact)
		}
		if !g.Office.IsZero() && (!strings.HasPrefix(g.Office.Email, "office+") || !strings.HasSuffix(g.Office.Email, "@groups.example") || g.Office.Phone != "" || g.Office.URL != "") {
			t.Errorf("%s: office %+v is not a placeholder", g.ID, g.Office)
		}
		if !g.Office.IsZero() {
			offices++
		}
		bySource[g.Source]++
		for _, tp := range g.Topics {
			covered[tp] = true
		}
	}
	if offices != 4 { // atlantaaa's rows that name their entity
		t.Errorf("%d groups with an office, want 4", offices)
	}
	if bySource["sussexaa"] != 88 || bySource["atlantaaa"] != 5 || bySource["edmontonaa"] != 49 || bySource["demo"] < 70 {
		t.Errorf("groups by source: %v", bySource)
	}
	for _, tp := range topics.All() {
		if !covered[tp.Code] {
			t.Errorf("no demo group for topic %s", tp.Code)
		}
	}
}

// tryRow is one row of README.md's "Postal codes and topics to try".
type tryRow struct {
	postal, topic string
	inPerson      bool
}

func readmeRows(t *testing.T) []tryRow {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []tryRow
	s := bufio.NewScanner(f)
	for s.Scan() {
		cells := strings.Split(s.Text(), "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		unquote := func(c string) string { return strings.Trim(strings.TrimSpace(c), "`") }
		rows = append(rows, tryRow{unquote(cells[1]), unquote(cells[2]), strings.TrimSpace(cells[3]) == "yes"})
	}
	if len(rows) < 15 {
		t.Fatalf("README.md lists %d postal codes and topics to try", len(rows))
	}
	return rows
}

// TestSeedLoadsAndEveryDocumentedSearchFindsGroups loads the demo directory
// into the embedded DynamoDB and runs each search README.md documents.
func TestSeedLoadsAndEveryDocumentedSearchFindsGroups(t *testing.T) {
	gs, err := seed.Groups()
	if err != nil {
		t.Fatal(err)
	}
	db := dynamotest.New(t)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	d := &dynamo.Directory{DB: db.Client, Table: db.Tables.Directory, Now: func() time.Time { return now }}
	imported, updated, skipped, err := d.ImportGroups(context.Background(), gs, dynamo.ImportHooks{})
	if err != nil || imported != len(gs) || updated != 0 || len(skipped) != 0 {
		t.Fatalf("load: imported %d of %d, updated %d, skipped %v, err %v", imported, len(gs), updated, skipped, err)
	}
	for _, row := range readmeRows(t) {
		t.Run(row.postal+" "+row.topic, func(t *testing.T) {
			lat, lon, ok := geo.PostalCentroid("US", row.postal)
			if !ok {
				t.Fatalf("%s is not a known ZIP code", row.postal)
			}
			ms, err := d.Match(context.Background(), directory.Query{
				Topics: []string{row.topic}, Lat: lat, Lon: lon, HasLocation: true, Limit: 3, Now: now,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) == 0 {
				t.Fatal("no group offered")
			}
			inPerson := 0
			for _, m := range ms {
				if !m.Online {
					inPerson++
				}
			}
			for _, m := range ms {
				t.Logf("%s %.1f %v", m.Group.Name, m.DistanceKm, m.Reasons)
			}
			if row.inPerson != (inPerson > 0) {
				t.Errorf("in person nearby: README says %v, got %d of %v", row.inPerson, inPerson, ms)
			}
		})
	}
}

func TestPlaceholderEmail(t *testing.T) {
	long := strings.Repeat("a", 64)
	if e := seed.PlaceholderEmail(long); len(strings.Split(e, "@")[0]) != 64 {
		t.Errorf("local part of %s is longer than 64 bytes", e)
	}
	if e := seed.PlaceholderEmail("chi-clean-start"); e != "contact+chi-clean-start@groups.example" {
		t.Errorf("got %s", e)
	}
}
