package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cell returns a location at a geohash cell's centre, as Parse stores it.
func cell(postal, country, hash string) referral.Location {
	lat, lon := geo.Center(hash)
	return referral.Location{PostalCode: postal, Country: country, Geohash: hash, Lat: lat, Lon: lon}
}

func TestParseGood(t *testing.T) {
	tests := []struct {
		name, contentType, fixture string
		want                       referral.Intake
	}{
		{
			name: "native, every field", contentType: "application/json", fixture: "native-full.json",
			want: referral.Intake{
				ExternalID: "EHR-ORDER-123",
				Patient: referral.Patient{GivenName: "Ana", FamilyName: "Diaz", Email: "ana@example.org",
					Phone: "+14155550100", Mobile: true, Language: "es", PreferredChannel: "sms"},
				Location: cell("94110", "US", "9q8yy2"),
				Topics:   []string{"alcohol"},
				Preferences: referral.Preferences{
					Formats: []string{"in-person", "online", "hybrid"}, Spirituality: "secular",
					Languages: []string{"es", "en"}, Days: []string{"mon", "wed"}, Times: []string{"evening"},
					Accessibility: []string{"wheelchair"}, Audience: []string{"women"},
				},
				Clinician: referral.Clinician{Name: "Dr. Jan Rivera", Email: "rivera@clinic.example"},
			},
		},
		{
			name: "native, minimal, codes only, ZIP+4", contentType: "application/json; charset=UTF-8", fixture: "native-minimal.json",
			want: referral.Intake{
				Patient:   referral.Patient{GivenName: "Sam", Email: "sam@example.org", Language: "en"},
				Location:  cell("10025", "US", "dr72hg"),
				Topics:    []string{"depression", "grief"},
				Clinician: referral.Clinician{Name: "Dr. Lee", Email: "lee@clinic.example"},
			},
		},
		{
			name: "FHIR ServiceRequest with contained Patient and Practitioner", contentType: "application/fhir+json", fixture: "fhir-servicerequest-contained.json",
			want: referral.Intake{
				ExternalID: "ORD-2024-0042",
				Patient: referral.Patient{GivenName: "Colin", FamilyName: "Abbas", Email: "colin.abbas@example.org",
					Phone: "+19185550123", Mobile: true, Language: "en"},
				Location:  cell("74048", "US", "9yebxr"),
				Topics:    []string{"gambling"},
				Clinician: referral.Clinician{Name: "Dr Jan Water", Email: "jan.water@deerland.org"},
			},
		},
		{
			name: "FHIR Bundle with ICD-10-CM and SNOMED CT codes and a PractitionerRole", contentType: "application/fhir+json; fhirVersion=4.0", fixture: "fhir-bundle-codes.json",
			want: referral.Intake{
				ExternalID: "ORD-2024-0043",
				Patient: referral.Patient{GivenName: "COLIN", FamilyName: "BAXTER", Phone: "+19185550123",
					Language: "es-MX"},
				Location:  cell("74048", "US", "9yebxr"),
				Topics:    []string{"alcohol", "family-alcohol", "family-drugs"},
				Clinician: referral.Clinician{Name: "Dr Jan Water", Email: "jan.water@deerland.org"},
			},
		},
		{
			name: "FHIR transaction Bundle with note and supportingInfo", contentType: "application/fhir+json;charset=utf-8", fixture: "fhir-bundle-note.json",
			want: referral.Intake{
				Patient: referral.Patient{GivenName: "Maria", FamilyName: "Lopez", Email: "maria.lopez@example.org",
					Phone: "+15125550142", Mobile: true, Language: "es", PreferredChannel: "email"},
				Location:  cell("78701", "US", "9v6kpy"),
				Topics:    []string{"anxiety", "depression"},
				Clinician: referral.Clinician{Name: "Dr. Ruth Okafor", Email: "r.okafor@clinic.example"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.contentType, readFixture(t, tt.fixture))
			if err != nil {
				t.Fatalf("Parse: %v (%+v)", err, problem.BodyOf(err))
			}
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("Parse =\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// The point a clinic sends is never kept: only its cell's centre.
func TestLocationIsCoarse(t *testing.T) {
	body := strings.Replace(string(readFixture(t, "native-full.json")), `"lat": 37.75, "lon": -122.41`, `"lat": 37.751234, "lon": -122.409876`, 1)
	got, err := Parse("application/json", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got.Location.Lat == 37.751234 || got.Location.Lon == -122.409876 {
		t.Errorf("the exact point was stored: %+v", got.Location)
	}
	if d := geo.DistanceKm(got.Location.Lat, got.Location.Lon, 37.751234, -122.409876); d > 1 {
		t.Errorf("stored centre is %.2f km from the point; want the point's own cell", d)
	}
}

// Nothing clinical survives into the Intake: no code, no note, no display,
// no unrelated resource.
func TestNoClinicalDataInIntake(t *testing.T) {
	forbidden := []string{
		"F10", "f10", "7200002", "Z63", "z634", "35489007", "18085000", "f411", "F41", "F11", "410606002",
		"467771000124109", "icd-10", "snomed", "2.16.840", "relapse", "divorce", "overdose", "Overdose",
		"Alcoholism", "dependence", "Depressive", "889911", "1032702", "Congress", "Mountain View", "Meadow",
		"1987-02-20", "1979-04-11", "Garcia", "maria.old", "PharmD", "Better Health Clinic", "Spanish",
	}
	for _, f := range []struct{ file, ct string }{
		{"native-full.json", MediaNative}, {"native-minimal.json", MediaNative},
		{"fhir-servicerequest-contained.json", MediaFHIR}, {"fhir-bundle-codes.json", MediaFHIR},
		{"fhir-bundle-note.json", MediaFHIR},
	} {
		t.Run(f.file, func(t *testing.T) {
			got, err := Parse(f.ct, readFixture(t, f.file))
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range forbidden {
				if strings.Contains(string(b), s) {
					t.Errorf("marshalled Intake holds %q: %s", s, b)
				}
			}
		})
	}
}

// nativeBase is a valid native referral that bad cases change.
const nativeBase = `{
  "external_id": "EHR-77",
  "patient": {"given_name": "Anabel", "family_name": "Quintero", "email": "anabel.q@example.org",
    "phone": "+14155550100", "preferred_language": "es", "postal_code": "94110", "country": "US",
    "location": {"lat": 37.75, "lon": -122.41}},
  "needs": ["alcohol"],
  "reason_codes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}],
  "preferences": {"formats": ["online"], "days": ["mon"]},
  "clinician": {"name": "Dr. Jan Rivera", "email": "rivera@clinic.example"}
}`

// values the caller sent that no error may repeat.
var sentValues = []string{"Anabel", "Quintero", "anabel.q", "+1415", "F10.20", "J45", "EHR-77", "rivera@", "Rivera", "Colin", "colin.abbas", "918"}

// native returns nativeBase changed by edits: "a.b=<json>" sets a field,
// "-a.b" deletes it.
func native(t testing.TB, edits ...string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(nativeBase), &m); err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		path, val, set := strings.Cut(strings.TrimPrefix(e, "-"), "=")
		keys := strings.Split(path, ".")
		parent := m
		for _, k := range keys[:len(keys)-1] {
			next, ok := parent[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				parent[k] = next
			}
			parent = next
		}
		last := keys[len(keys)-1]
		if !set {
			delete(parent, last)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(val), &v); err != nil {
			t.Fatalf("edit %q: %v", e, err)
		}
		parent[last] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fhirSR returns a FHIR ServiceRequest with the given contained Patient
// (JSON) and extra top-level elements.
func fhirSR(patient, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"resourceType": "ServiceRequest", "status": "active", "intent": "order",
  "contained": [%s, {"resourceType": "Practitioner", "id": "dr", "name": [{"text": "Dr Jan Water"}],
    "telecom": [{"system": "email", "value": "jan.water@deerland.org"}]}],
  "subject": {"reference": "#pat"}, "requester": {"reference": "#dr"}%s}`, patient, extra)
}

const (
	testPatient = `{"resourceType": "Patient", "id": "pat", "name": [{"given": ["Colin"], "family": "Abbas"}],
  "telecom": [{"system": "email", "value": "colin.abbas@example.org"}], "address": [{"postalCode": "74048"}]}`
	testReason = `"reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}]}]`
)

func TestParseBad(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		code        problem.Code
		field       string // for Invalid: a field the error must name
	}{
		// Media type, size, syntax.
		{"text/plain", "text/plain", nativeBase, problem.UnsupportedMedia, ""},
		{"no content type", "", nativeBase, problem.UnsupportedMedia, ""},
		{"xml", "application/xml", nativeBase, problem.UnsupportedMedia, ""},
		{"latin-1 charset", "application/json; charset=iso-8859-1", nativeBase, problem.UnsupportedMedia, ""},
		{"form", "application/x-www-form-urlencoded", "a=b", problem.UnsupportedMedia, ""},
		{"FHIR STU3", "application/fhir+json; fhirVersion=3.0", fhirSR(testPatient, testReason), problem.UnsupportedMedia, ""},
		{"bad media type syntax", "application/json; charset", nativeBase, problem.UnsupportedMedia, ""},
		{"oversized", "application/json", `{"x":"` + strings.Repeat("a", MaxBody) + `"}`, problem.TooLarge, ""},
		{"malformed JSON", "application/json", `{"patient": {"given_name": "Anabel",}}`, problem.Malformed, ""},
		{"truncated JSON", "application/json", nativeBase[:len(nativeBase)/2], problem.Malformed, ""},
		{"trailing garbage", "application/json", nativeBase + " garbage", problem.Malformed, ""},
		{"two objects", "application/json", nativeBase + nativeBase, problem.Malformed, ""},
		{"top-level array", "application/json", `[` + nativeBase + `]`, problem.Malformed, ""},
		{"top-level null", "application/json", `null`, problem.Malformed, ""},
		{"empty body", "application/json", ``, problem.Malformed, ""},
		{"not UTF-8", "application/json", "{\"patient\": {\"given_name\": \"\xff\xfe\"}}", problem.Malformed, ""},
		{"nested too deep", "application/json", `{"notes":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, problem.Malformed, ""},
		{"FHIR malformed", "application/fhir+json", `{"resourceType": "ServiceRequest"`, problem.Malformed, ""},

		// Unknown fields, at every level.
		{"unknown: notes", "application/json", native(t, `notes="Relapsed twice since March"`), problem.Invalid, "notes"},
		{"unknown: diagnosis", "application/json", native(t, `diagnosis="F10.20 alcohol dependence"`), problem.Invalid, "diagnosis"},
		{"unknown: history", "application/json", native(t, `history=["detox 2021"]`), problem.Invalid, "history"},
		{"unknown: patient.ssn", "application/json", native(t, `patient.ssn="123-45-6789"`), problem.Invalid, "patient.ssn"},
		{"unknown: patient.diagnosis", "application/json", native(t, `patient.diagnosis="J45"`), problem.Invalid, "patient.diagnosis"},
		{"unknown: patient.location.accuracy", "application/json", native(t, `patient.location.accuracy=5`), problem.Invalid, "patient.location.accuracy"},
		{"unknown: preferences.notes", "application/json", native(t, `preferences.notes="quiet room"`), problem.Invalid, "preferences.notes"},
		{"unknown: clinician.npi", "application/json", native(t, `clinician.npi="1234567890"`), problem.Invalid, "clinician.npi"},
		{"unknown: reason_codes[0].display", "application/json",
			native(t, `reason_codes=[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F10.20","display":"Alcohol dependence"}]`),
			problem.Invalid, "reason_codes[0].display"},
		{"unknown: field name in another case", "application/json", strings.Replace(nativeBase, `"patient"`, `"Patient"`, 1), problem.Invalid, "Patient"},
		{"repeated key", "application/json", strings.Replace(nativeBase, `"given_name": "Anabel",`, `"given_name": "Anabel", "given_name": "Anabel",`, 1), problem.Invalid, "patient.given_name"},

		// Wrong JSON types.
		{"given_name a number", "application/json", native(t, `patient.given_name=5`), problem.Invalid, "patient.given_name"},
		{"needs a string", "application/json", native(t, `needs="alcohol"`), problem.Invalid, "needs"},
		{"lat a string", "application/json", native(t, `patient.location.lat="37.75"`), problem.Invalid, "patient.location.lat"},
		{"lat beyond float64", "application/json", strings.Replace(nativeBase, `"lat": 37.75`, `"lat": 1e400`, 1), problem.Invalid, "patient.location.lat"},
		{"patient an array", "application/json", native(t, `patient=[]`), problem.Invalid, "patient"},

		// Missing required fields.
		{"no given_name", "application/json", native(t, `-patient.given_name`), problem.Invalid, "patient.given_name"},
		{"blank given_name", "application/json", native(t, `patient.given_name="   "`), problem.Invalid, "patient.given_name"},
		{"no email and no phone", "application/json", native(t, `-patient.email`, `-patient.phone`), problem.Invalid, "patient.email"},
		{"no postal code and no location", "application/json", native(t, `-patient.postal_code`, `-patient.location`), problem.Invalid, "patient.postal_code"},
		{"no needs and no reason codes", "application/json", native(t, `-needs`, `-reason_codes`), problem.Invalid, "needs"},
		{"empty needs and reason codes", "application/json", native(t, `needs=[]`, `reason_codes=[]`), problem.Invalid, "needs"},
		{"no clinician name", "application/json", native(t, `-clinician.name`), problem.Invalid, "clinician.name"},
		{"no clinician email", "application/json", native(t, `-clinician.email`), problem.Invalid, "clinician.email"},
		{"no clinician", "application/json", native(t, `-clinician`), problem.Invalid, "clinician.email"},
		{"reason code without code", "application/json", native(t, `reason_codes=[{"system":"http://snomed.info/sct"}]`), problem.Invalid, "reason_codes[0].code"},
		{"location without lon", "application/json", native(t, `-patient.location.lon`), problem.Invalid, "patient.location.lon"},

		// Bad values.
		{"bad email", "application/json", native(t, `patient.email="anabel.q-at-example.org"`), problem.Invalid, "patient.email"},
		{"phone not in E.164 form", "application/json", native(t, `patient.phone="415-555-0100"`), problem.Invalid, "patient.phone"},
		{"phone not a real number", "application/json", native(t, `patient.phone="+15555555555"`), problem.Invalid, "patient.phone"},
		{"bad language", "application/json", native(t, `patient.preferred_language="xx-notalang"`), problem.Invalid, "patient.preferred_language"},
		{"undetermined language", "application/json", native(t, `patient.preferred_language="und"`), problem.Invalid, "patient.preferred_language"},
		{"unknown US ZIP", "application/json", native(t, `patient.postal_code="00000"`), problem.Invalid, "patient.postal_code"},
		{"ZIP with letters", "application/json", native(t, `patient.postal_code="ABCDE"`, `-patient.location`), problem.Invalid, "patient.postal_code"},
		{"postal code abroad without location", "application/json", native(t, `patient.postal_code="06600"`, `patient.country="MX"`, `-patient.location`), problem.Invalid, "patient.location"},
		{"country not ISO", "application/json", native(t, `patient.country="USA"`), problem.Invalid, "patient.country"},
		{"lat above 90", "application/json", native(t, `patient.location.lat=91`), problem.Invalid, "patient.location.lat"},
		{"lon below -180", "application/json", native(t, `patient.location.lon=-181`), problem.Invalid, "patient.location.lon"},
		{"unknown topic", "application/json", native(t, `needs=["smoking"]`), problem.Invalid, "needs[0]"},
		{"topic in another case", "application/json", native(t, `needs=["alcohol","Grief"]`), problem.Invalid, "needs[1]"},
		{"unmapped code and no needs", "application/json", native(t, `-needs`, `reason_codes=[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"J45.909"}]`), problem.Invalid, "reason_codes[0].code"},
		{"second code unmapped and no needs", "application/json", native(t, `-needs`, `reason_codes=[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F10.20"},{"system":"http://snomed.info/sct","code":"195967001"}]`), problem.Invalid, "reason_codes[1].code"},
		{"unknown code system and no needs", "application/json", native(t, `-needs`, `reason_codes=[{"system":"http://loinc.org","code":"J45"}]`), problem.Invalid, "reason_codes[0].system"},
		{"bad format", "application/json", native(t, `preferences.formats=["in person"]`), problem.Invalid, "preferences.formats[0]"},
		{"bad spirituality", "application/json", native(t, `preferences.spirituality="religious"`), problem.Invalid, "preferences.spirituality"},
		{"bad day", "application/json", native(t, `preferences.days=["monday"]`), problem.Invalid, "preferences.days[0]"},
		{"bad time", "application/json", native(t, `preferences.times=["night"]`), problem.Invalid, "preferences.times[0]"},
		{"bad accessibility", "application/json", native(t, `preferences.accessibility=["ramp"]`), problem.Invalid, "preferences.accessibility[0]"},
		{"bad audience", "application/json", native(t, `preferences.audience=["everyone"]`), problem.Invalid, "preferences.audience[0]"},
		{"bad preference language", "application/json", native(t, `preferences.languages=["es","zz-zz-zz"]`), problem.Invalid, "preferences.languages[1]"},
		{"too many needs", "application/json", native(t, `needs=`+`["alcohol"`+strings.Repeat(`,"grief"`, 16)+`]`), problem.Invalid, "needs"},
		{"given_name too long", "application/json", native(t, `patient.given_name="`+strings.Repeat("a", 101)+`"`), problem.Invalid, "patient.given_name"},
		{"given_name with a line break", "application/json", native(t, `patient.given_name="Anabel\r\nBcc: x@example.org"`), problem.Invalid, "patient.given_name"},
		{"external_id too long", "application/json", native(t, `external_id="`+strings.Repeat("9", 129)+`"`), problem.Invalid, "external_id"},
		{"bad clinician email", "application/json", native(t, `clinician.email="rivera"`), problem.Invalid, "clinician.email"},

		// FHIR.
		{"FHIR without a Patient", "application/fhir+json", string(readFixture(t, "fhir-no-patient.json")), problem.Invalid, "ServiceRequest.subject"},
		{"FHIR subject is a Practitioner", "application/fhir+json",
			strings.Replace(fhirSR(testPatient, testReason), `"subject": {"reference": "#pat"}`, `"subject": {"reference": "#dr"}`, 1), problem.Invalid, "ServiceRequest.subject"},
		{"FHIR with nothing mappable", "application/fhir+json",
			fhirSR(testPatient, `"category": [{"coding": [{"system": "http://snomed.info/sct", "code": "410606002"}]}], "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J45.909"}]}]`),
			problem.Invalid, "ServiceRequest.reasonCode"},
		{"FHIR other resource", "application/fhir+json", testPatient, problem.Invalid, "resourceType"},
		{"FHIR searchset Bundle", "application/fhir+json", `{"resourceType": "Bundle", "type": "searchset", "entry": []}`, problem.Invalid, "Bundle.type"},
		{"FHIR Bundle without a ServiceRequest", "application/fhir+json",
			`{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ` + testPatient + `}]}`, problem.Invalid, "Bundle.entry"},
		{"FHIR Bundle with two ServiceRequests", "application/fhir+json",
			`{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ` + fhirSR(testPatient, testReason) + `}, {"resource": ` + fhirSR(testPatient, testReason) + `}]}`,
			problem.Invalid, "Bundle.entry"},
		{"FHIR Patient without telecom", "application/fhir+json",
			fhirSR(`{"resourceType": "Patient", "id": "pat", "name": [{"given": ["Colin"]}], "address": [{"postalCode": "74048"}]}`, testReason), problem.Invalid, "Patient.telecom"},
		{"FHIR Patient with only an invalid phone", "application/fhir+json",
			fhirSR(`{"resourceType": "Patient", "id": "pat", "name": [{"given": ["Colin"]}], "telecom": [{"system": "phone", "value": "555-555-5555"}], "address": [{"postalCode": "74048"}]}`, testReason),
			problem.Invalid, "Patient.telecom"},
		{"FHIR Patient with an unknown ZIP", "application/fhir+json",
			fhirSR(strings.Replace(testPatient, "74048", "00000", 1), testReason), problem.Invalid, "Patient.address"},
		{"FHIR Patient without a given name", "application/fhir+json",
			fhirSR(strings.Replace(testPatient, `"given": ["Colin"], `, ``, 1), testReason), problem.Invalid, "Patient.name"},
		{"FHIR Patient.name not an array", "application/fhir+json",
			fhirSR(strings.Replace(testPatient, `"name": [{"given": ["Colin"], "family": "Abbas"}]`, `"name": {"given": ["Colin"]}`, 1), testReason), problem.Invalid, "Patient.name"},
		{"FHIR requester without email", "application/fhir+json",
			strings.Replace(fhirSR(testPatient, testReason), `"requester": {"reference": "#dr"}`, `"requester": {"display": "Dr Jan Water"}`, 1), problem.Invalid, "ServiceRequest.requester"},
		{"FHIR no requester", "application/fhir+json",
			strings.Replace(fhirSR(testPatient, testReason), `, "requester": {"reference": "#dr"}`, ``, 1), problem.Invalid, "ServiceRequest.requester"},
		{"FHIR bad language", "application/fhir+json",
			fhirSR(strings.Replace(testPatient, `"address"`, `"communication": [{"language": {"coding": [{"code": "qq-notreal"}]}}], "address"`, 1), testReason), problem.Invalid, "Patient.communication"},
		{"native body sent as FHIR", "application/fhir+json", nativeBase, problem.Invalid, "resourceType"},
		{"FHIR body sent as native", "application/json", fhirSR(testPatient, testReason), problem.Invalid, "resourceType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.contentType, []byte(tt.body))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", got)
			}
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error %T is not a *problem.Error: %v", err, err)
			}
			if pe.Code != tt.code {
				t.Fatalf("code = %s, want %s (%v %+v)", pe.Code, tt.code, err, pe.Fields)
			}
			if !reflect.DeepEqual(got, referral.Intake{}) {
				t.Errorf("Parse returned a non-zero Intake with an error")
			}
			if tt.code == problem.Invalid {
				if !slices.ContainsFunc(pe.Fields, func(f problem.FieldError) bool { return f.Field == tt.field }) {
					t.Errorf("fields %+v do not name %q", pe.Fields, tt.field)
				}
				for _, f := range pe.Fields {
					if f.Detail == "" {
						t.Errorf("field %q has no detail", f.Field)
					}
				}
			} else if len(pe.Fields) > 0 {
				t.Errorf("a %s error lists fields: %+v", pe.Code, pe.Fields)
			}
			doc, _ := json.Marshal(problem.BodyOf(err))
			for _, v := range append(sentValues, "Relapsed", "123-45-6789", "detox", "quiet room", "1234567890", "Bcc") {
				if strings.Contains(string(doc), v) {
					t.Errorf("error body repeats a sent value %q: %s", v, doc)
				}
			}
		})
	}
}

// One answer lists every failing field, not just the first.
func TestParseListsEveryField(t *testing.T) {
	body := native(t, `notes="x"`, `patient.ssn="1"`, `-patient.given_name`, `patient.email="bad"`,
		`patient.location.lat=100`, `needs=["nope"]`, `preferences.days=["someday"]`, `-clinician.email`)
	_, err := Parse("application/json", []byte(body))
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Code != problem.Invalid {
		t.Fatalf("Parse = %v, want Invalid", err)
	}
	want := []string{"notes", "patient.ssn", "patient.given_name", "patient.email", "patient.location.lat",
		"needs[0]", "preferences.days[0]", "clinician.email"}
	var got []string
	for _, f := range pe.Fields {
		got = append(got, f.Field)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("fields %q lack %q", got, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %q, want exactly %q", got, want)
	}
}

// A syntax error says where it is.
func TestMalformedGivesPosition(t *testing.T) {
	body := "{\n  \"patient\": {\n    \"given_name\": \"Anabel\" \"x\"\n  }\n}"
	_, err := Parse("application/json", []byte(body))
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Code != problem.Malformed {
		t.Fatalf("Parse = %v, want Malformed", err)
	}
	if !strings.Contains(pe.Message, "line 3") {
		t.Errorf("message %q does not give line 3", pe.Message)
	}
	if strings.Contains(pe.Message, "Anabel") || strings.Contains(pe.Message, `"x"`) {
		t.Errorf("message %q repeats content", pe.Message)
	}
}

func TestNormalization(t *testing.T) {
	body := native(t, `patient.preferred_language="ES-mx"`, `patient.country="us"`, `patient.given_name="  Anabel  "`,
		`needs=["alcohol","grief","alcohol"]`, `preferences.languages=["EN","es-419"]`, `-patient.location`,
		`patient.postal_code="94110-2001"`, `-reason_codes`)
	got, err := Parse("application/json", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got.Patient.Language != "es-MX" || got.Patient.GivenName != "Anabel" || got.Location.Country != "US" ||
		got.Location.PostalCode != "94110" || !slices.Equal(got.Topics, []string{"alcohol", "grief"}) ||
		!slices.Equal(got.Preferences.Languages, []string{"en", "es-419"}) {
		t.Errorf("Parse = %+v", got)
	}
	// An unmapped code alongside needs is dropped, not an error.
	body = native(t, `reason_codes=[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"J45.909"}]`)
	if got, err = Parse("application/json", []byte(body)); err != nil || !slices.Equal(got.Topics, []string{"alcohol"}) {
		t.Errorf("Parse with an unmapped code and needs = %+v, %v", got.Topics, err)
	}
	// A location abroad with a point: kept as the cell, with the country.
	body = native(t, `patient.postal_code="06600"`, `patient.country="MX"`, `patient.location={"lat":19.42,"lon":-99.16}`)
	if got, err = Parse("application/json", []byte(body)); err != nil || got.Location.Country != "MX" || got.Location.PostalCode != "06600" || len(got.Location.Geohash) != 6 {
		t.Errorf("Parse abroad = %+v, %v", got.Location, err)
	}
}

func BenchmarkParseNative(b *testing.B) {
	body := readFixture(b, "native-full.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(MediaNative, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFHIR(b *testing.B) {
	body := readFixture(b, "fhir-bundle-codes.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(MediaFHIR, body); err != nil {
			b.Fatal(err)
		}
	}
}

// checkOutcome is what every fuzz input must give: an Intake that holds the
// minimum and whose location is a cell, or a *problem.Error of a known code.
func checkOutcome(t *testing.T, got referral.Intake, err error) {
	if err != nil {
		var pe *problem.Error
		if !errors.As(err, &pe) {
			t.Fatalf("error %T is not a *problem.Error: %v", err, err)
		}
		switch pe.Code {
		case problem.Malformed, problem.Invalid, problem.TooLarge:
		default:
			t.Fatalf("unexpected code %s", pe.Code)
		}
		return
	}
	if got.Patient.GivenName == "" || (got.Patient.Email == "" && got.Patient.Phone == "") ||
		len(got.Topics) == 0 || len(got.Location.Geohash) != 6 || got.Clinician.Email == "" {
		t.Fatalf("accepted an incomplete Intake: %+v", got)
	}
}

func FuzzParseNative(f *testing.F) {
	for _, name := range []string{"native-full.json", "native-minimal.json"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte(nativeBase))
	f.Add([]byte(`{"patient":{"given_name":"A","phone":"+14155550100","location":{"lat":0,"lon":0}},"needs":["grief"],"clinician":{"name":"B","email":"b@example.org"}}`))
	f.Add([]byte(`{"notes": [[[{}]]]}`))
	f.Add([]byte(`{} x`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := Parse(MediaNative, body)
		checkOutcome(t, got, err)
	})
}

func FuzzParseFHIR(f *testing.F) {
	for _, name := range []string{"fhir-servicerequest-contained.json", "fhir-bundle-codes.json", "fhir-bundle-note.json", "fhir-no-patient.json"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte(fhirSR(testPatient, testReason)))
	f.Add([]byte(`{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": null}, {"fullUrl": "x"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := Parse(MediaFHIR, body)
		checkOutcome(t, got, err)
	})
}

// TestFromForm: a clinic page's referral passes the native rules, may carry
// no contact, reads a phone number as people write it, and names each
// failing field by its native path.
func TestFromForm(t *testing.T) {
	staff := referral.Clinician{Name: "Jan Rivera", Email: "rivera@clinic.example"}
	in, err := FromForm(Form{GivenName: " Ana ", PostalCode: "94110", Topic: "alcohol", Clinician: staff})
	if err != nil {
		t.Fatalf("no contact: %v", err)
	}
	if in.Patient.GivenName != "Ana" || in.Patient.Email != "" || in.Patient.Phone != "" || in.Topics[0] != "alcohol" || in.Location.Geohash == "" || in.Patient.Language != "en" {
		t.Errorf("intake %+v", in)
	}
	in, err = FromForm(Form{GivenName: "Ana", Phone: "(415) 555-0100", PostalCode: "94110", Topic: "grief", Language: "es", Clinician: staff})
	if err != nil {
		t.Fatal(err)
	}
	if in.Patient.Phone != "+14155550100" || !in.Patient.Mobile || in.Patient.Language != "es" {
		t.Errorf("phone %q mobile %v language %q", in.Patient.Phone, in.Patient.Mobile, in.Patient.Language)
	}
	_, err = FromForm(Form{Email: "not an address", Phone: "12", PostalCode: "00000", Topic: "astrology",
		Formats: []string{"radio"}, Spirituality: "mystic", Accessibility: []string{"moat"}, Clinician: staff})
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Code != problem.Invalid {
		t.Fatalf("bad form: %v", err)
	}
	got := map[string]bool{}
	for _, fe := range pe.Fields {
		got[fe.Field] = true
		if strings.Contains(fe.Detail, "astrology") || strings.Contains(fe.Detail, "not an address") {
			t.Errorf("%s repeats the value: %s", fe.Field, fe.Detail)
		}
	}
	for _, f := range []string{"patient.given_name", "patient.email", "patient.phone", "patient.postal_code", "needs[0]", "preferences.formats[0]", "preferences.spirituality", "preferences.accessibility[0]"} {
		if !got[f] {
			t.Errorf("no error for %s (got %v)", f, got)
		}
	}
	if _, err := FromForm(Form{GivenName: "Ana", PostalCode: "94110", Clinician: staff}); err == nil {
		t.Error("a form without a topic was taken")
	}
}
