package directory

import (
	"errors"

	"github.com/handoff-health/handoff/shared/problem"
)

func asProblem(err error, pe **problem.Error) bool { return errors.As(err, pe) }
