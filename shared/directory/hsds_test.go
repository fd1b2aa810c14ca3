package directory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/problem"
)

func importHSDSFile(t *testing.T, name string, opt ImportOptions) Result {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "hsds", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ImportHSDS(f, opt)
	if err != nil {
		t.Fatalf("import %s: %v", name, err)
	}
	return res
}

func TestImportHSDSFiles(t *testing.T) {
	const (
		noTopic = "no topic (give topic for the import, or taxonomy terms that name one)"
		noWay   = "no location and no way to attend online"
		noPlace = "no place for an in-person service (latitude/longitude missing or out of range, and no US postal code)"
	)
	tests := []struct {
		name    string
		file    string
		topic   string
		groups  int
		reasons map[string]int
	}{
		{name: "full service", file: "service_full.json", topic: "anxiety", groups: 1, reasons: map[string]int{}},
		{name: "full service without a topic", file: "service_full.json", groups: 0, reasons: map[string]int{noTopic: 1}},
		{name: "service list", file: "service_list.json", topic: "anxiety", groups: 0, reasons: map[string]int{noWay: 1}},
		{name: "service at location", file: "service_at_location_full.json", topic: "anxiety", groups: 1, reasons: map[string]int{}},
		{name: "service at location list", file: "service_at_location_list.json", topic: "anxiety", groups: 0, reasons: map[string]int{noPlace: 1}},
		{name: "organization", file: "organization_full.json", topic: "anxiety", groups: 1, reasons: map[string]int{}},
		{name: "a location alone", file: "location.json", topic: "anxiety", groups: 0, reasons: map[string]int{"no service in the row": 1}},
		{name: "support groups by taxonomy", file: "support-groups.json", groups: 3,
			reasons: map[string]int{"the service is defunct": 1, noTopic: 1}},
		{name: "support groups with a topic", file: "support-groups.json", topic: "grief", groups: 4,
			reasons: map[string]int{"the service is defunct": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := importHSDSFile(t, tt.file, ImportOptions{Topic: tt.topic})
			if len(res.Groups) != tt.groups || !mapsEqual(reasonCounts(res.Skipped), tt.reasons) {
				t.Fatalf("groups %d, skipped %v; want %d, %v", len(res.Groups), reasonCounts(res.Skipped), tt.groups, tt.reasons)
			}
			for _, g := range res.Groups {
				if err := g.Validate(); err != nil {
					t.Errorf("group %s: %v", g.ID, err)
				}
			}
		})
	}
}

func TestImportHSDSMapsFields(t *testing.T) {
	full := importHSDSFile(t, "service_full.json", ImportOptions{Topic: "anxiety"})
	sal := importHSDSFile(t, "service_at_location_full.json", ImportOptions{Topic: "anxiety"})
	support := importHSDSFile(t, "support-groups.json", ImportOptions{})

	t.Run("example service: unplaceable location, attended remotely", func(t *testing.T) {
		g := full.Groups[0]
		// latitude 100 is off the globe and "ABC 1234" is no US postal code,
		// so only the remote attendance the schedule describes is left.
		if !slices.Equal(g.Formats, []string{Online}) || g.HasLocation() || !strings.Contains(g.JoinInstructions, "remotely") {
			t.Errorf("formats %v location %+v join %q", g.Formats, g.Location, g.JoinInstructions)
		}
		want := []Meeting{
			{Day: "thu", Time: "10:00", EndTime: "18:00", Timezone: "Etc/GMT-3"},
			{Day: "fri", Time: "10:00", EndTime: "18:00", Timezone: "Etc/GMT-3"},
		}
		if !slices.Equal(g.Meetings, want) || !slices.Equal(g.Languages, []string{"ur"}) {
			t.Errorf("meetings %+v languages %v", g.Meetings, g.Languages)
		}
		// The phone is kept in E.164, and an import never agrees to texts.
		if g.Contact != (Contact{Name: "Ann Persona", Email: "email@example.com", Phone: "+441234234567"}) {
			t.Errorf("contact %+v", g.Contact)
		}
		if g.ID != sal.Groups[0].ID {
			t.Errorf("the same service at the same location gets two ids: %s, %s", g.ID, sal.Groups[0].ID)
		}
	})
	t.Run("a feed time zone wins over the schedule's offset", func(t *testing.T) {
		res := importHSDSFile(t, "service_full.json", ImportOptions{Topic: "anxiety", Timezone: "Europe/London"})
		if tz := res.Groups[0].Meetings[0].Timezone; tz != "Europe/London" {
			t.Errorf("timezone %s", tz)
		}
	})
	t.Run("grief circle in person", func(t *testing.T) {
		g := groupNamed(t, support.Groups, "Westside Grief Support Circle")
		if !slices.Equal(g.Topics, []string{"grief"}) || !slices.Equal(g.Formats, []string{InPerson}) || !slices.Equal(g.Accessibility, []string{"wheelchair"}) {
			t.Errorf("topics %v formats %v accessibility %v", g.Topics, g.Formats, g.Accessibility)
		}
		if !g.HasLocation() || g.Location.Lat != 41.8819 || g.Location.PostalCode != "60651" || g.Location.Region != "IL" {
			t.Errorf("location %+v", g.Location)
		}
		want := []Meeting{{Day: "tue", Time: "18:30", EndTime: "20:00", Timezone: "America/Chicago"}}
		if !slices.Equal(g.Meetings, want) || g.Contact.Email != "robin@groups.example" {
			t.Errorf("meetings %+v contact %+v", g.Meetings, g.Contact)
		}
	})
	t.Run("spanish caregivers online", func(t *testing.T) {
		g := groupNamed(t, support.Groups, "Grupo de Apoyo para Cuidadores")
		if !slices.Equal(g.Topics, []string{"caregivers"}) || !slices.Equal(g.Formats, []string{Online}) || !slices.Equal(g.Languages, []string{"es"}) {
			t.Errorf("topics %v formats %v languages %v", g.Topics, g.Formats, g.Languages)
		}
		if len(g.Meetings) != 2 || g.Meetings[1].Day != "sat" || g.Meetings[0].OnlineURL != "https://meet.example/cuidadores" || g.Meetings[0].Timezone != "Etc/GMT+6" {
			t.Errorf("meetings %+v", g.Meetings)
		}
		if g.Contact.Email != "cuidadores@groups.example" {
			t.Errorf("the organization's email is the contact: %+v", g.Contact)
		}
	})
	t.Run("hybrid cancer group placed by postal code, monthly schedule not listed", func(t *testing.T) {
		g := groupNamed(t, support.Groups, "Mission Cancer Peer Support")
		if !slices.Equal(g.Formats, []string{Hybrid}) || !g.HasLocation() || g.Location.Lat < 37.7 || g.Location.Lat > 37.8 {
			t.Errorf("formats %v location %+v", g.Formats, g.Location)
		}
		if len(g.Meetings) != 0 || g.JoinInstructions == "" {
			t.Errorf("meetings %+v join %q", g.Meetings, g.JoinInstructions)
		}
	})
}

func TestImportHSDSRefuses(t *testing.T) {
	tests := []struct {
		name string
		body string
		code problem.Code
	}{
		{name: "not JSON", body: `{"contents": [`, code: problem.Malformed},
		{name: "a string", body: `"services"`, code: problem.Malformed},
		{name: "bad topic", body: `[]`, code: problem.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := ImportOptions{}
			if tt.code == problem.Invalid {
				opt.Topic = "cheese"
			}
			if _, err := ImportHSDS(strings.NewReader(tt.body), opt); problem.CodeOf(err) != tt.code {
				t.Errorf("err = %v, want %s", err, tt.code)
			}
		})
	}
}

func TestTopicsFromTerm(t *testing.T) {
	tests := []struct {
		term string
		want []string
	}{
		{"Bereavement Support Groups", []string{"grief"}},
		{"Al-Anon", []string{"family-alcohol"}},
		{"Alcoholism Support Groups", []string{"alcohol"}},
		{"Narcotics Anonymous", []string{"drugs"}},
		{"Cancer Support Groups", []string{"cancer"}},
		{"Depression and Bipolar Support", []string{"bipolar", "depression"}},
		{"Caregiver Support Groups", []string{"caregivers"}},
		{"Food Pantries", nil},
	}
	for _, tt := range tests {
		t.Run(tt.term, func(t *testing.T) {
			if got := TopicsFromTerm(tt.term); !slices.Equal(got, tt.want) {
				t.Errorf("TopicsFromTerm(%q) = %v, want %v", tt.term, got, tt.want)
			}
		})
	}
}
