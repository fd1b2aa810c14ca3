package intake_test

import (
	"fmt"

	"github.com/handoff-health/handoff/shared/intake"
	"github.com/handoff-health/handoff/shared/problem"
)

func ExampleParse() {
	body := []byte(`{
	  "patient": {"given_name": "Ana", "email": "ana@example.org", "postal_code": "94110"},
	  "reason_codes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}],
	  "clinician": {"name": "Dr. Jan Rivera", "email": "rivera@clinic.example"}
	}`)
	in, err := intake.Parse("application/json", body)
	fmt.Println(in.Topics, in.Location.Geohash, in.Patient.Language, err)

	_, err = intake.Parse("application/json", []byte(`{"patient": {"given_name": "Ana"}, "notes": "…"}`))
	b := problem.BodyOf(err)
	fmt.Println(b.Status, b.Errors[0].Field)
	// Output:
	// [alcohol] 9q8yy2 en <nil>
	// 422 notes
}
