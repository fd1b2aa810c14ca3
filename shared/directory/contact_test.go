package directory

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/handoff-health/handoff/shared/problem"
)

// TestContactPhoneAndTexts: a contact's phone is E.164 (a national number
// is read in the listing's country), texts needs a phone, and each bad
// value is a field error that names the field and repeats no value.
func TestContactPhoneAndTexts(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(g *Group)
		wantPhone string
		fields    []string
	}{
		{name: "E.164 as given", edit: func(g *Group) { g.Contact.Phone, g.Contact.Texts = "+14155550100", true }, wantPhone: "+14155550100"},
		{name: "national number in the listing's country", edit: func(g *Group) { g.Contact.Phone = "(312) 555-0142" }, wantPhone: "+13125550142"},
		{name: "international number with spaces", edit: func(g *Group) { g.Contact.Phone = "+44 20 7946 0958" }, wantPhone: "+442079460958"},
		{name: "no phone, no texts", edit: func(g *Group) {}, wantPhone: ""},
		{name: "texts without a phone", edit: func(g *Group) { g.Contact.Texts = true }, fields: []string{"contact.texts"}},
		{name: "not a number", edit: func(g *Group) { g.Contact.Phone = "call the hall" }, fields: []string{"contact.phone"}},
		{name: "unassigned area code", edit: func(g *Group) { g.Contact.Phone = "+15555550100" }, fields: []string{"contact.phone"}},
		{name: "national number of no known country", edit: func(g *Group) {
			g.Formats, g.Location, g.JoinInstructions = []string{Online}, Location{}, "Write to the contact."
			g.Contact.Phone = "312 555 0142"
		}, fields: []string{"contact.phone"}},
		{name: "office email", edit: func(g *Group) { g.Office = Office{Name: "Central Office", Email: "not an address"} }, fields: []string{"office.email"}},
		{name: "office link", edit: func(g *Group) { g.Office = Office{Name: "Central Office", URL: "ftp://x.example"} }, fields: []string{"office.url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := validGroup()
			tt.edit(&g)
			g.Normalize()
			err := g.Validate()
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if g.Contact.Phone != tt.wantPhone {
					t.Errorf("phone %q, want %q", g.Contact.Phone, tt.wantPhone)
				}
				return
			}
			var pe *problem.Error
			if !asProblem(err, &pe) || pe.Code != problem.Invalid {
				t.Fatalf("err = %v, want Invalid", err)
			}
			var got []string
			for _, f := range pe.Fields {
				got = append(got, f.Field)
				if strings.Contains(f.Detail, g.Contact.Phone) && g.Contact.Phone != "" {
					t.Errorf("detail %q repeats the value", f.Detail)
				}
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("fields %v, want %v", got, tt.fields)
			}
		})
	}
}

// TestKeepTexts: a listing written without saying keeps the agreement of
// the same contact, never one of a new contact.
func TestKeepTexts(t *testing.T) {
	agreed := Contact{Name: "Sam", Email: "Sam@Groups.example", Phone: "+13125550142", Texts: true}
	tests := []struct {
		name    string
		in, old Contact
		want    Contact
	}{
		{name: "same contact, feed gives no phone", in: Contact{Name: "Sam", Email: "sam@groups.example"}, old: agreed,
			want: Contact{Name: "Sam", Email: "sam@groups.example", Phone: "+13125550142", Texts: true}},
		{name: "same contact, feed gives another phone", in: Contact{Name: "Sam", Email: "sam@groups.example", Phone: "+13125550199"}, old: agreed,
			want: Contact{Name: "Sam", Email: "sam@groups.example", Phone: "+13125550142", Texts: true}},
		{name: "a new contact agreed to nothing", in: Contact{Name: "Lee", Email: "lee@groups.example", Phone: "+13125550199"}, old: agreed,
			want: Contact{Name: "Lee", Email: "lee@groups.example", Phone: "+13125550199"}},
		{name: "no agreement to keep", in: Contact{Name: "Sam", Email: "sam@groups.example"}, old: Contact{Name: "Sam", Email: "sam@groups.example", Phone: "+13125550142"},
			want: Contact{Name: "Sam", Email: "sam@groups.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			c.KeepTexts(tt.old)
			if c != tt.want {
				t.Errorf("got %+v, want %+v", c, tt.want)
			}
		})
	}
}

// TestImportOffices: a Meeting Guide feed's entity_* fields and an HSDS
// organization become the group's office; contact phones are E.164 or
// dropped; no import agrees to texts.
func TestImportOffices(t *testing.T) {
	atlanta := importFeed(t, atlantaFeed, ImportOptions{Topic: "alcohol", Fellowship: "aa", ContactEmail: feedContact})
	withOffice := 0
	for _, g := range atlanta.Groups {
		if g.Office.IsZero() {
			continue
		}
		withOffice++
		// As the feed gives them: the phone is no dialable number, kept as written.
		if g.Office != (Office{Name: "Site Group", Email: "admin@test.com", Phone: "555-555-4567", URL: "http://site.com"}) {
			t.Errorf("%s: office %+v", g.Name, g.Office)
		}
	}
	if withOffice != 4 { // the groups of the four rows that name the entity
		t.Errorf("%d groups with an office, want 4", withOffice)
	}

	times := importFeed(t, meetingsFeed("tsml-ui-times.json"), ImportOptions{Topic: "alcohol", ContactEmail: feedContact})
	for _, g := range times.Groups {
		// contact_1_phone "123-456-7890" cannot be dialled: dropped, not the row.
		if g.Contact.Phone != "" || g.Contact.Texts {
			t.Errorf("%s: contact %+v", g.Name, g.Contact)
		}
	}
	for _, g := range append(atlanta.Groups, times.Groups...) {
		if g.Contact.Texts {
			t.Errorf("%s: an import agreed to texts", g.Name)
		}
	}

	org := importHSDSFile(t, "organization_full.json", ImportOptions{Topic: "anxiety"})
	if len(org.Groups) == 0 {
		t.Fatal("no group from the organization")
	}
	for _, g := range org.Groups {
		want := Office{Name: "Example Organization Inc.", Email: "email@example.com", Phone: "+44 1234 234567", URL: "http://example.com"}
		if g.Office != want {
			t.Errorf("%s: office %+v, want %+v", g.Name, g.Office, want)
		}
	}
	support := importHSDSFile(t, "support-groups.json", ImportOptions{})
	if g := groupNamed(t, support.Groups, "Grupo de Apoyo para Cuidadores"); g.Office != (Office{Name: "Red de Cuidadores", Email: "cuidadores@groups.example"}) {
		t.Errorf("cuidadores office %+v", g.Office)
	}
	if g := groupNamed(t, support.Groups, "Westside Grief Support Circle"); g.Contact.Phone != "+13125550142" || g.Contact.Texts {
		t.Errorf("grief circle contact %+v", g.Contact)
	}
}

// TestImportHSDSServicePhone: a contact without a number of its own gets
// the service's, and a location's when the service has none.
func TestImportHSDSServicePhone(t *testing.T) {
	feed := `[{"id": "s1", "name": "Lakeview Peer Circle", "email": "circle@groups.example",
	  "phones": [{"number": "not a number"}, {"number": "(773) 555-0107"}],
	  "service_at_locations": [{"id": "sl1", "location": {"id": "l1", "latitude": 41.94, "longitude": -87.65,
	    "phones": [{"number": "+1 773 555 0199"}],
	    "addresses": [{"address_1": "1 W Addison", "city": "Chicago", "state_province": "IL", "postal_code": "60613", "country": "US"}]},
	    "schedules": [{"freq": "WEEKLY", "byday": "MO", "opens_at": "18:00", "closes_at": "19:00"}]}]},
	 {"id": "s2", "name": "Uptown Peer Circle", "email": "uptown@groups.example",
	  "service_at_locations": [{"id": "sl2", "location": {"id": "l2", "latitude": 41.97, "longitude": -87.66,
	    "phones": [{"number": "773.555.0108"}],
	    "addresses": [{"address_1": "1 W Lawrence", "city": "Chicago", "state_province": "IL", "postal_code": "60640"}]},
	    "schedules": [{"freq": "WEEKLY", "byday": "TU", "opens_at": "18:00", "closes_at": "19:00"}]}]}]`
	res, err := ImportHSDS(strings.NewReader(feed), ImportOptions{Topic: "depression"})
	if err != nil || len(res.Groups) != 2 {
		t.Fatalf("import: %v, %d groups, skipped %v", err, len(res.Groups), res.Skipped)
	}
	if p := res.Groups[0].Contact.Phone; p != "+17735550107" {
		t.Errorf("service phone: %q", p)
	}
	if p := res.Groups[1].Contact.Phone; p != "+17735550108" {
		t.Errorf("location phone (country from the state): %q", p)
	}
}

// TestImportMeetingGuideInfersZone: an online meeting with no time zone of
// its own takes the one every located meeting of its feed keeps, and the
// answer says so; when they disagree it is skipped, saying why.
func TestImportMeetingGuideInfersZone(t *testing.T) {
	edge := importFeed(t, meetingsFeed("edge-cases.json"), ImportOptions{Topic: "alcohol", ContactEmail: feedContact})
	g := groupNamed(t, edge.Groups, "Nowhere Online")
	if g.Meetings[0].Timezone != "America/Chicago" {
		t.Errorf("zone %q", g.Meetings[0].Timezone)
	}
	if edge.InferredZone.Timezone != "America/Chicago" || !slices.Equal(edge.InferredZone.Rows, []int{11}) {
		t.Errorf("inferred %+v", edge.InferredZone)
	}

	const twoZones = `[
	 {"name": "Loop", "day": 1, "time": "18:30", "address": "400 S State St", "state": "IL", "postal_code": "60605", "latitude": 41.87, "longitude": -87.62},
	 {"name": "Midtown", "day": 2, "time": "18:30", "address": "1 W 34th St", "state": "NY", "postal_code": "10001", "latitude": 40.75, "longitude": -73.98},
	 {"name": "Anywhere Online", "day": 3, "time": "19:00", "conference_url": "https://meet.example/anywhere"}]`
	res, err := ImportMeetingGuide(strings.NewReader(twoZones), ImportOptions{Topic: "alcohol", ContactEmail: feedContact})
	if err != nil {
		t.Fatal(err)
	}
	want := "no time zone, and the feed's meetings with a place are in 2 time zones (America/Chicago, America/New_York), so this one's cannot be told (give timezone for the feed)"
	if len(res.Skipped) != 1 || res.Skipped[0].Index != 2 || res.Skipped[0].Reason != want {
		t.Errorf("skipped %+v", res.Skipped)
	}
	if res.InferredZone.Timezone != "" || len(res.Groups) != 2 {
		t.Errorf("inferred %+v, %d groups", res.InferredZone, len(res.Groups))
	}

	// The feed's own zone still wins; and with none to agree on, the old reason.
	res, err = ImportMeetingGuide(strings.NewReader(twoZones), ImportOptions{Topic: "alcohol", ContactEmail: feedContact, Timezone: "America/Denver"})
	if err != nil || len(res.Skipped) != 0 || res.InferredZone.Timezone != "" {
		t.Errorf("with a feed zone: %v %+v %+v", err, res.Skipped, res.InferredZone)
	}
	res, err = ImportMeetingGuide(strings.NewReader(`[{"name": "Only Online", "day": 3, "time": "19:00", "conference_url": "https://meet.example/x"}]`),
		ImportOptions{Topic: "alcohol", ContactEmail: feedContact})
	if err != nil || len(res.Skipped) != 1 || res.Skipped[0].Reason != noZoneReason {
		t.Errorf("nothing located: %v %+v", err, res.Skipped)
	}
}

// TestImportStripsControlCharacters: no line break, tab or other control
// character a feed writes reaches a stored name, address or any other text,
// so none can add a header to a subject line.
func TestImportStripsControlCharacters(t *testing.T) {
	const evil = "Evil\r\nSubject: you won\r\nBcc: all@example.org"
	mg := `[{"name": "` + jsonEscape(evil) + `", "group": "` + jsonEscape(evil) + `", "day": 1, "time": "19:00",
	  "location": "Hall\tB", "address": "1 Main St\r\nX-Injected: 1", "city": "Chi\u0007cago", "state": "IL",
	  "postal_code": "60605", "latitude": 41.87, "longitude": -87.62, "group_notes": "Line one\nLine two\u0085",
	  "contact_1_name": "Pat\r\nBcc: x@example.org", "contact_1_email": "pat@groups.example",
	  "entity": "Central\r\nOffice", "entity_email": "office@groups.example", "entity_phone": "+1 312\n555 0100"}]`
	res, err := ImportMeetingGuide(strings.NewReader(mg), ImportOptions{Topic: "alcohol"})
	if err != nil || len(res.Groups) != 1 {
		t.Fatalf("meeting guide: %v %+v", err, res.Skipped)
	}
	g := res.Groups[0]
	if g.Name != "Evil Subject: you won Bcc: all@example.org" || g.Location.Address != "1 Main St X-Injected: 1" || g.Contact.Name != "Pat Bcc: x@example.org" {
		t.Errorf("name %q address %q contact %q", g.Name, g.Location.Address, g.Contact.Name)
	}
	noControl(t, "meeting guide", g)

	hsds := `[{"id": "s1", "name": "` + jsonEscape(evil) + `", "description": "Peer\r\nsupport", "email": "s@groups.example",
	  "organization": {"name": "Org\r\nBcc: x@example.org", "email": "org@groups.example"},
	  "service_at_locations": [{"id": "sl1", "contacts": [{"name": "Robin\r\n", "email": "robin@groups.example"}],
	    "location": {"id": "l1", "name": "Hall\r\nB", "latitude": 41.94, "longitude": -87.65,
	    "addresses": [{"address_1": "1 W Addison\r\nSt", "city": "Chicago", "state_province": "IL", "postal_code": "60613", "country": "US"}]},
	    "schedules": [{"freq": "WEEKLY", "byday": "MO", "opens_at": "18:00", "closes_at": "19:00"}]}]}]`
	hres, err := ImportHSDS(strings.NewReader(hsds), ImportOptions{Topic: "depression"})
	if err != nil || len(hres.Groups) != 1 {
		t.Fatalf("hsds: %v %+v", err, hres.Skipped)
	}
	if hg := hres.Groups[0]; hg.Name != "Evil Subject: you won Bcc: all@example.org" || hg.Office.Name != "Org Bcc: x@example.org" {
		t.Errorf("hsds name %q office %+v", hg.Name, hg.Office)
	}
	noControl(t, "hsds", hres.Groups[0])

	// A listing put by the operator: its one-line fields lose them too.
	put := validGroup()
	put.Name, put.Contact.Name, put.Location.Address = evil, "Sam\r\n", "1 Main\tSt"
	put.Normalize()
	noControl(t, "put", put)
}

// noControl fails for every string in v that holds a control character.
func noControl(t *testing.T, what string, v any) {
	t.Helper()
	var walk func(path string, rv reflect.Value)
	walk = func(path string, rv reflect.Value) {
		switch rv.Kind() {
		case reflect.String:
			if strings.ContainsFunc(rv.String(), unicode.IsControl) {
				t.Errorf("%s: %s holds a control character: %q", what, path, rv.String())
			}
		case reflect.Struct:
			for i := range rv.NumField() {
				if rv.Type().Field(i).IsExported() {
					walk(path+"."+rv.Type().Field(i).Name, rv.Field(i))
				}
			}
		case reflect.Slice:
			for i := range rv.Len() {
				walk(path+"[]", rv.Index(i))
			}
		case reflect.Pointer:
			if !rv.IsNil() {
				walk(path, rv.Elem())
			}
		}
	}
	walk("group", reflect.ValueOf(v))
}

func jsonEscape(s string) string {
	r := strings.NewReplacer("\r", `\r`, "\n", `\n`, "\t", `\t`, `"`, `\"`)
	return r.Replace(s)
}
