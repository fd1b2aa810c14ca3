package apptest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/directory"
)

// importResult is the admin import's answer.
type importResult struct {
	Imported, Updated int
	Skipped           []directory.Skip
	Withdrawn         []string
}

// atlantaFeed is the tests' Atlanta Meeting Guide feed, whole and its first
// row alone.
func atlantaFeed(t *testing.T) (feed, firstRow []byte) {
	t.Helper()
	feed, err := os.ReadFile(filepath.Join("..", "..", "infra", "seed", "feeds", "atlantaaa.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(feed, &rows); err != nil {
		t.Fatal(err)
	}
	firstRow, err = json.Marshal(rows[:1])
	if err != nil {
		t.Fatal(err)
	}
	return feed, firstRow
}

// TestImportWithdrawsWhatTheFeedDropped re-imports a real feed (Atlanta's
// Meeting Guide feed) under a named source: the groups it no longer carries
// stop being offered, come back when the feed carries them again, and
// nothing else is touched.
func TestImportWithdrawsWhatTheFeedDropped(t *testing.T) {
	h := apptest.New(t)
	feed, firstRow := atlantaFeed(t)
	importAs := func(t *testing.T, query string, body []byte, want int) importResult {
		t.Helper()
		st, _, b := h.Do(http.MethodPost, "/v1/admin/groups/import?format=meeting-guide&topic=alcohol&fellowship=aa&contact_email="+
			url.QueryEscape("intergroup@aa.example")+query, body,
			http.Header{"Authorization": {"Bearer " + apptest.AdminToken}, "Content-Type": {"application/json"}})
		if st != want {
			t.Fatalf("import%s: %d %s", query, st, b)
		}
		var r importResult
		if st == http.StatusOK {
			if err := json.Unmarshal(b, &r); err != nil || r.Withdrawn == nil {
				t.Fatalf("import answer %s: %v (withdrawn must be a list)", b, err)
			}
		}
		return r
	}
	// offered lists the Atlanta groups the admin match offers.
	offered := func(t *testing.T) []string {
		t.Helper()
		st, b := h.Admin(http.MethodGet, "/v1/admin/match?topic=alcohol&lat=34.0993&lon=-84.5794&limit=20", nil)
		if st != http.StatusOK {
			t.Fatalf("match: %d %s", st, b)
		}
		var m struct{ Matches []directory.Match }
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range m.Matches {
			ids = append(ids, x.Group.ID)
		}
		slices.Sort(ids)
		return ids
	}
	group := func(t *testing.T, id string) directory.Group {
		t.Helper()
		st, b := h.Admin(http.MethodGet, "/v1/admin/groups/"+url.PathEscape(id), nil)
		if st != http.StatusOK {
			t.Fatalf("get %s: %d %s", id, st, b)
		}
		var g directory.Group
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	// A group of another source nearby, which no import may touch.
	other := apptest.SampleGroup("marietta-admin", 34.0993, -84.5794)
	h.PutGroup(other, other.ID)

	full := importAs(t, "&source=atlanta-aa", feed, http.StatusOK)
	all := offered(t)
	// (One of Atlanta's groups meets beyond the match's reach of this point.)
	if full.Imported < 2 || len(full.Withdrawn) != 0 || !slices.Contains(all, other.ID) || len(all) < 3 {
		t.Fatalf("first import %+v; offered %v", full, all)
	}

	t.Run("a smaller feed withdraws the rest of its source", func(t *testing.T) {
		r := importAs(t, "&source=atlanta-aa", firstRow, http.StatusOK)
		if r.Imported+r.Updated != 1 || len(r.Withdrawn) != full.Imported-1 {
			t.Fatalf("import of one row: %+v (first import made %d groups)", r, full.Imported)
		}
		now := offered(t)
		if len(now) > 2 || !slices.Contains(now, other.ID) {
			t.Errorf("offered after the smaller feed: %v", now)
		}
		for _, id := range r.Withdrawn {
			if g := group(t, id); !g.Paused || g.PausedReason != "no longer in its feed" || slices.Contains(now, id) {
				t.Errorf("withdrawn group %s: paused %v (%q), offered %v", id, g.Paused, g.PausedReason, slices.Contains(now, id))
			}
		}
		if g := group(t, other.ID); g.Paused {
			t.Errorf("the admin group was paused: %q", g.PausedReason)
		}
		// Importing it again withdraws nothing more.
		if again := importAs(t, "&source=atlanta-aa", firstRow, http.StatusOK); len(again.Withdrawn) != 0 {
			t.Errorf("second import of one row withdrew %v", again.Withdrawn)
		}
	})

	// keptAll checks an import withdrew nothing and every group is offered.
	keptAll := func(t *testing.T, r importResult) {
		t.Helper()
		if len(r.Withdrawn) != 0 {
			t.Errorf("withdrew %v", r.Withdrawn)
		}
		if now := offered(t); !slices.Equal(now, all) {
			t.Errorf("offered %v, want %v", now, all)
		}
	}

	t.Run("groups come back with the feed", func(t *testing.T) {
		r := importAs(t, "&source=atlanta-aa", feed, http.StatusOK)
		if r.Updated != full.Imported {
			t.Errorf("full feed again: %+v", r)
		}
		keptAll(t, r)
	})

	t.Run("withdraw_missing=false keeps them", func(t *testing.T) {
		keptAll(t, importAs(t, "&source=atlanta-aa&withdraw_missing=false", firstRow, http.StatusOK))
	})

	t.Run("a feed that yields nothing withdraws nothing", func(t *testing.T) {
		keptAll(t, importAs(t, "&source=atlanta-aa", []byte(`[]`), http.StatusOK))
	})

	t.Run("without a source nothing is withdrawn", func(t *testing.T) {
		r := importAs(t, "", firstRow, http.StatusOK)
		if len(r.Withdrawn) != 0 {
			t.Errorf("withdrew %v", r.Withdrawn)
		}
		importAs(t, "&withdraw_missing=true", firstRow, http.StatusUnprocessableEntity)
		importAs(t, "&source=atlanta-aa&withdraw_missing=maybe", firstRow, http.StatusUnprocessableEntity)
		if now := offered(t); !slices.Contains(now, other.ID) || len(now) < len(all) {
			t.Errorf("offered %v, want at least %v", now, all)
		}
	})
}

// TestPutGroupNormalizes PUTs a listing written loosely — codes in capitals
// with spaces, a language in another case, a location given by its ZIP code
// only — and gets it stored tidied, not refused.
func TestPutGroupNormalizes(t *testing.T) {
	h := apptest.New(t)
	g := apptest.SampleGroup("loose", 0, 0)
	g.Topics = []string{" Alcohol ", "alcohol"}
	g.Formats = []string{"In-Person"}
	g.Languages = []string{"ES", " en "}
	g.Spirituality = " Secular "
	g.Location.Lat, g.Location.Lon, g.Location.PostalCode, g.Location.Country = 0, 0, "94110", "US"
	st, b := h.Admin(http.MethodPut, "/v1/admin/groups/loose", g)
	if st != http.StatusCreated {
		t.Fatalf("PUT: %d %s", st, b)
	}
	var got directory.Group
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Topics, []string{"alcohol"}) || !slices.Equal(got.Formats, []string{"in-person"}) ||
		!slices.Equal(got.Languages, []string{"es", "en"}) || got.Spirituality != "secular" ||
		got.Location.Lat < 37.7 || got.Location.Lat > 37.8 {
		t.Errorf("stored %+v %+v %+v %q %+v", got.Topics, got.Formats, got.Languages, got.Spirituality, got.Location)
	}
	// What Normalize cannot read is still refused.
	g.Topics = []string{"astrology"}
	if st, b := h.Admin(http.MethodPut, "/v1/admin/groups/loose", g); st != http.StatusUnprocessableEntity {
		t.Errorf("unknown topic: %d %s", st, b)
	}
}
