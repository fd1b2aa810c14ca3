package fhir

import "github.com/handoff-health/handoff/shared/problem"

// OperationOutcome is an R4 OperationOutcome.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one issue of an OperationOutcome.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// issueCodes maps handoff's problem codes to OperationOutcome issue codes.
var issueCodes = map[problem.Code]string{
	problem.Malformed: "structure", problem.Unauthorized: "login", problem.Forbidden: "forbidden",
	problem.NotFound: "not-found", problem.MethodNotAllowed: "not-supported", problem.Conflict: "conflict",
	problem.TooLarge: "too-costly", problem.UnsupportedMedia: "not-supported", problem.Invalid: "invalid",
	problem.Unavailable: "transient", problem.Internal: "exception", problem.PreconditionFailed: "multiple-matches",
	problem.TooManyRequests: "throttled", problem.Gone: "not-found",
}

// OutcomeOf is the OperationOutcome of an error handoff answers: one issue
// per failing field (its element as the expression), else one with the
// problem's detail. An internal error shows no cause (problem.BodyOf).
func OutcomeOf(err error) OperationOutcome {
	body := problem.BodyOf(err)
	code, ok := issueCodes[problem.CodeOf(err)]
	if !ok {
		code = "processing" // an issue always has a code
	}
	oo := OperationOutcome{ResourceType: "OperationOutcome"}
	for _, f := range body.Errors {
		oo.Issue = append(oo.Issue, Issue{Severity: "error", Code: code, Diagnostics: f.Detail, Expression: []string{f.Field}})
	}
	if len(oo.Issue) == 0 {
		oo.Issue = append(oo.Issue, Issue{Severity: "error", Code: code, Diagnostics: body.Detail})
	}
	return oo
}
