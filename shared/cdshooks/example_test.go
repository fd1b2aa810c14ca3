package cdshooks_test

import (
	"fmt"

	"github.com/handoff-health/handoff/shared/cdshooks"
)

func ExampleCardFor() {
	c := cdshooks.CardFor("https://handoff.example/launch")
	fmt.Println(c.Indicator, c.Source.Label)
	fmt.Println(c.Summary)
	fmt.Println(c.Links[0].Type, c.Links[0].URL)
	// Output:
	// info handoff
	// Peer support may help: refer to a self-help group, the form filled in from the chart
	// smart https://handoff.example/launch
}

func ExamplePatientKey() {
	key := []byte("a key of the deployment's own")
	a := cdshooks.PatientKey(key, "clinic-1", "pat-53234")
	b := cdshooks.PatientKey(key, "clinic-2", "pat-53234")
	fmt.Println(len(a), a == b)
	// Output:
	// 64 false
}

func ExampleServiceURL() {
	fmt.Println(cdshooks.ServiceURL("https://handoff.example/"))
	// Output:
	// https://handoff.example/cds-services/handoff-peer-support
}
