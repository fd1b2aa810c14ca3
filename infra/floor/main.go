// Command floor is the smallest useful aws-lambda-go function: it answers every
// invocation with {"ok":true}. It is built with the same flags as handoff's
// functions and gives infra/cmd/coldstart the cold-start floor that the real
// functions are compared against.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

type answer struct {
	OK bool `json:"ok"`
}

func handle(_ context.Context, _ json.RawMessage) (answer, error) {
	return answer{OK: true}, nil
}

func main() {
	lambda.Start(handle)
}
