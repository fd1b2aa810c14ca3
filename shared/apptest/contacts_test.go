package apptest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/apptest"
)

// putJSON PUTs a listing given as JSON (so a test can leave fields out).
func putJSON(t *testing.T, h *apptest.Harness, id, body string) (int, map[string]any) {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	st, b := h.Admin(http.MethodPut, "/v1/admin/groups/"+id, v)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer %d is not JSON: %s", st, b)
	}
	return st, out
}

func listingContact(g map[string]any) map[string]any { return g["contact"].(map[string]any) }

// TestGroupContactTexts: the operator sets a contact's number (E.164) and
// agreement to texts and the feed's office through the admin API, with
// clear 422s; the answer always carries texts; a PUT without texts and a
// feed's import keep the agreement; the contact changes both on the
// listing page.
func TestGroupContactTexts(t *testing.T) {
	h := apptest.New(t)
	const listing = `{"name": "Mission Tuesday Circle", "topics": ["alcohol"], "model": "twelve-step",
	  "formats": ["in-person"], "languages": ["en"], "source": "admin", "accepting_referrals": true,
	  "meetings": [{"day": "tue", "time": "19:00", "end_time": "20:00", "timezone": "America/Los_Angeles"}],
	  "location": {"lat": 37.76, "lon": -122.42, "postal_code": "94110", "country": "US"},
	  "office": {"name": "San Francisco Intergroup", "email": "office@intergroup.example", "phone": "(415) 674-1821", "url": "https://intergroup.example"},
	  "contact": %s}`
	with := func(contact string) string { return strings.Replace(listing, "%s", contact, 1) }

	st, g := putJSON(t, h, "mtc", with(`{"name": "Sam", "email": "sam@groups.example", "phone": "(415) 555-0142", "texts": true}`))
	if st != http.StatusCreated {
		t.Fatalf("PUT: %d %v", st, g)
	}
	if c := listingContact(g); c["phone"] != "+14155550142" || c["texts"] != true {
		t.Errorf("contact %v", c)
	}
	if o := g["office"].(map[string]any); o["email"] != "office@intergroup.example" || o["phone"] != "(415) 674-1821" {
		t.Errorf("office %v", o)
	}

	t.Run("clear 422s", func(t *testing.T) {
		for _, tc := range []struct{ contact, field string }{
			{`{"name": "Sam", "email": "sam@groups.example", "texts": true}`, "contact.texts"},
			{`{"name": "Sam", "email": "sam@groups.example", "phone": "call the hall"}`, "contact.phone"},
			{`{"name": "Sam", "email": "sam@groups.example", "phone": "+15555550100"}`, "contact.phone"},
			{`{"name": "Sam", "email": "sam@groups.example", "texts": "yes"}`, "contact.texts"},
		} {
			st, p := putJSON(t, h, "mtc", with(tc.contact))
			if st != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d %v", tc.contact, st, p)
				continue
			}
			errs, _ := p["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["field"] != tc.field {
				t.Errorf("%s: errors %v, want one for %s", tc.contact, p["errors"], tc.field)
			}
			if b, _ := json.Marshal(p); strings.Contains(string(b), "call the hall") || strings.Contains(string(b), "+15555550100") {
				t.Errorf("the problem repeats the value: %s", b)
			}
		}
		if c := listingContact(adminGroup(t, h, "mtc")); c["texts"] != true {
			t.Errorf("a refused PUT changed the contact: %v", c)
		}
	})

	t.Run("a PUT without texts keeps the agreement; texts false ends it", func(t *testing.T) {
		st, g := putJSON(t, h, "mtc", with(`{"name": "Sam", "email": "sam@groups.example"}`))
		if st != http.StatusOK || listingContact(g)["texts"] != true || listingContact(g)["phone"] != "+14155550142" {
			t.Fatalf("without texts: %d %v", st, listingContact(g))
		}
		st, g = putJSON(t, h, "mtc", with(`{"name": "Sam", "email": "sam@groups.example", "phone": "+14155550142", "texts": false}`))
		if st != http.StatusOK || listingContact(g)["texts"] != false {
			t.Fatalf("texts false: %d %v", st, listingContact(g))
		}
		if st, g = putJSON(t, h, "mtc", with(`{"name": "Sam", "email": "sam@groups.example", "phone": "+14155550142", "texts": true}`)); st != http.StatusOK || listingContact(g)["texts"] != true {
			t.Fatalf("texts again: %d %v", st, listingContact(g))
		}
	})

	t.Run("a feed's import keeps the agreement and never gives one", func(t *testing.T) {
		feed := `[
		 {"name": "Feed Group", "slug": "feed", "day": 2, "time": "19:00", "address": "1 Valencia St", "state": "CA",
		  "postal_code": "94103", "latitude": 37.77, "longitude": -122.42, "contact_1_name": "Kim",
		  "contact_1_email": "kim@groups.example", "contact_1_phone": "415-555-0177",
		  "entity": "SF Intergroup", "entity_email": "office@intergroup.example", "entity_phone": "+1-415-674-1821"},
		 {"name": "Feed Online", "slug": "feed-online", "day": 3, "time": "19:00", "conference_url": "https://meet.example/x",
		  "contact_1_email": "kim@groups.example"}]`
		imp := func() map[string]any {
			st, _, b := h.Do(http.MethodPost, "/v1/admin/groups/import?format=meeting-guide&topic=alcohol&source=sf-feed", []byte(feed),
				http.Header{"Authorization": {"Bearer " + apptest.AdminToken}, "Content-Type": {"application/json"}})
			if st != http.StatusOK {
				t.Fatalf("import: %d %s", st, b)
			}
			var out map[string]any
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		res := imp()
		if res["imported"] != 2.0 {
			t.Fatalf("import answer %v", res)
		}
		// The online meeting names no zone: it takes the located one's, and the answer says so.
		if z, _ := res["inferred_timezone"].(map[string]any); z["timezone"] != "America/Los_Angeles" {
			t.Errorf("inferred_timezone %v", res["inferred_timezone"])
		}
		id := groupIDNamed(t, h, "sf-feed", "Feed Group")
		g := adminGroup(t, h, id)
		if c := listingContact(g); c["phone"] != "+14155550177" || c["texts"] != false {
			t.Fatalf("imported contact %v", c)
		}
		if o := g["office"].(map[string]any); o["name"] != "SF Intergroup" || o["phone"] != "+1-415-674-1821" {
			t.Errorf("office %v", o)
		}
		// The contact agrees on the listing page; the next import keeps it.
		link := listingLink(t, h, id)
		if st, loc := h.Form(link, url.Values{"action": {"update"}, "accepting_referrals": {"yes"},
			"contact_phone": {"(415) 555-0178"}, "contact_texts": {"yes"}}); st != http.StatusSeeOther || !strings.Contains(loc, "notice=listing-updated") {
			t.Fatalf("update: %d %s", st, loc)
		}
		if c := listingContact(adminGroup(t, h, id)); c["phone"] != "+14155550178" || c["texts"] != true {
			t.Fatalf("after the contact's update: %v", c)
		}
		imp()
		if c := listingContact(adminGroup(t, h, id)); c["phone"] != "+14155550178" || c["texts"] != true {
			t.Errorf("a re-import changed the contact's agreement: %v", c)
		}
		// Unticking on the page ends it; a bad number is a 400 and changes nothing.
		if st, _ := h.Form(link, url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "contact_phone": {"not a phone"}}); st != http.StatusBadRequest {
			t.Errorf("bad number: %d", st)
		}
		if st, _ := h.Form(link, url.Values{"action": {"update"}, "accepting_referrals": {"yes"}, "contact_phone": {"+14155550178"}}); st != http.StatusSeeOther {
			t.Errorf("untick: %d", st)
		}
		if c := listingContact(adminGroup(t, h, id)); c["texts"] != false || c["phone"] != "+14155550178" {
			t.Errorf("after unticking: %v", c)
		}
	})
}

// groupIDNamed finds the id of the group of source named name.
func groupIDNamed(t *testing.T, h *apptest.Harness, source, name string) string {
	t.Helper()
	ids, err := h.App.Directory.SourceGroupIDs(t.Context(), source)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if adminGroup(t, h, id)["name"] == name {
			return id
		}
	}
	t.Fatalf("no group %q of %s among %v", name, source, ids)
	return ""
}
