package topics_test

import (
	"fmt"

	"github.com/handoff-health/handoff/shared/topics"
)

func ExampleFromCode() {
	fmt.Println(topics.FromCode(topics.SystemICD10CM, "f10.20"))
	fmt.Println(topics.FromCode("urn:oid:2.16.840.1.113883.6.90", "Z63.72"))
	fmt.Println(topics.FromCode(topics.SystemSNOMED, "35489007"))
	fmt.Println(topics.FromCode(topics.SystemICD10CM, "J45.909"))
	// Output:
	// [alcohol] true
	// [family-alcohol family-drugs] true
	// [depression] true
	// [] false
}
