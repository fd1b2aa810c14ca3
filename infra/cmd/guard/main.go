// Command guard checks template.yaml as AWS's own policy rules see it: it
// has cfn-lint apply the SAM transform (cfn-lint -I logs the transformed
// template; it is written to build/template.transformed.json), then runs
// cfn-guard with every Control Tower proactive control (the cfn-guard binary
// and rules of the pinned npm package @cdklabs/cdk-validator-cfnguard) on
// the result. Rules whose resource types the stack does not have skip
// themselves, so a resource type added to the template is checked by its
// controls without a change here. Each finding must be fixed in the
// template or waived, with its reason, in infra/guard/waivers.yaml; guard
// fails on an unwaived finding and on a waiver that matches nothing.
//
// Usage (make lint runs it):
//
//	go run ./infra/cmd/guard [-template template.yaml] [-waivers infra/guard/waivers.yaml]
//
// Without cfn-lint or the npm package it says how to install them and exits
// 0, or 1 under CI=true.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "guard:", err)
		os.Exit(1)
	}
}

// errMissing is a tool guard needs that is not installed.
type errMissing struct{ what string }

func (e errMissing) Error() string { return e.what }

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("guard", flag.ContinueOnError)
	tmpl := fs.String("template", "template.yaml", "the SAM template")
	waiversPath := fs.String("waivers", filepath.Join("infra", "guard", "waivers.yaml"), "the waivers file")
	out := fs.String("out", filepath.Join("build", "template.transformed.json"), "where to write the transformed template")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root := filepath.Dir(*tmpl)
	findings, controls, err := evaluate(root, *tmpl, *out)
	var missing errMissing
	if errors.As(err, &missing) {
		if os.Getenv("CI") == "true" {
			return fmt.Errorf("CI=true: %w", err)
		}
		fmt.Fprintln(stdout, "guard skipped:", err)
		return nil
	}
	if err != nil {
		return err
	}
	ws, err := readWaivers(*waiversPath)
	if err != nil {
		return err
	}
	unwaived, unused := apply(findings, ws)
	report(stdout, findings, controls)
	var fails []string
	for _, f := range unwaived {
		fails = append(fails, fmt.Sprintf("unwaived: %s %s on %s: %s", f.Control, f.Rule, f.Resource, f.Message))
	}
	for _, w := range unused {
		fails = append(fails, fmt.Sprintf("waiver matches no finding (remove it): %s on %s", w.Rule, strings.Join(w.Resources, ", ")))
	}
	if len(fails) > 0 {
		for _, f := range fails {
			fmt.Fprintln(stdout, "  "+f)
		}
		return fmt.Errorf("%d unwaived finding(s) or stale waiver(s); fix the template or waive them with a reason in %s", len(fails), *waiversPath)
	}
	fmt.Fprintf(stdout, "ok: %d finding(s), each waived with its reason in %s\n", len(findings), *waiversPath)
	return nil
}

// finding is one rule failing on one resource.
type finding struct {
	Rule, Control, Resource, Message string
	Waiver                           *waiver
}

// evaluate transforms the template and runs every Control Tower rule on it.
// It also returns how many controls ran.
func evaluate(root, tmpl, out string) ([]finding, int, error) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		return nil, 0, errMissing{"cfn-lint is not installed (pipx install cfn-lint==1.51.0, the version .ci/run pins): it applies the SAM transform"}
	}
	pkg := filepath.Join(root, "infra", "ses", "node_modules", "@cdklabs", "cdk-validator-cfnguard")
	osDir, arch := "ubuntu", "x86_64"
	if runtime.GOOS == "darwin" {
		osDir = "macos"
	}
	if runtime.GOARCH == "arm64" {
		arch = "aarch64"
	}
	guard := filepath.Join(pkg, "bin", osDir, arch, "cfn-guard")
	rules := filepath.Join(pkg, "rules", "control-tower", "cfn-guard")
	if _, err := os.Stat(guard); err != nil {
		return nil, 0, errMissing{"cfn-guard is not installed: run `make node_modules` (npm ci in infra/ses)"}
	}
	transformed, err := transform(lint, tmpl)
	if err != nil {
		return nil, 0, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, 0, err
	}
	if err := os.WriteFile(out, transformed, 0o644); err != nil {
		return nil, 0, err
	}
	controls, err := controlsOf(rules)
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(guard, "validate", "-d", out, "-r", rules, "-o", "sarif", "-S", "none", "-z")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	sarif, err := cmd.Output()
	var exit *exec.ExitError
	// cfn-guard exits 19 when a rule fails, 0 when all pass.
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 19) {
		return nil, 0, fmt.Errorf("cfn-guard: %w\n%s", err, stderr.Bytes())
	}
	findings, err := parseSARIF(sarif, controls)
	return findings, len(controls), err
}

// transform returns the SAM-transformed template that cfn-lint logs with -I.
func transform(lint, tmpl string) ([]byte, error) {
	cmd := exec.Command(lint, "-I", "--", tmpl)
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	logs, _ := cmd.CombinedOutput() // lint findings are `make lint`'s cfn-lint step's business
	const marker = "Transformed template: \n"
	i := bytes.LastIndex(logs, []byte(marker))
	if i < 0 {
		return nil, fmt.Errorf("cfn-lint did not log the transformed template:\n%s", logs)
	}
	dec := json.NewDecoder(bytes.NewReader(logs[i+len(marker):]))
	var doc json.RawMessage
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read the transformed template: %w", err)
	}
	return doc, nil
}

var ruleLine = regexp.MustCompile(`(?m)^rule ([a-z0-9_]+) when`)

// controlsOf maps each rule name (upper case, as SARIF gives it) to its
// control id, from the rule files' names (ct-lambda-pr-3.guard is
// CT.LAMBDA.PR.3).
func controlsOf(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".guard") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		control := strings.ToUpper(strings.ReplaceAll(strings.TrimSuffix(filepath.Base(p), ".guard"), "-", "."))
		for _, m := range ruleLine.FindAllStringSubmatch(string(data), -1) {
			out[strings.ToUpper(m[1])] = control
		}
		return nil
	})
	return out, err
}

var resourcePath = regexp.MustCompile(`/Resources/([A-Za-z0-9]+)`)

func parseSARIF(data []byte, controls map[string]string) ([]finding, error) {
	var doc struct {
		Runs []struct {
			Results []struct {
				RuleID  string `json:"ruleId"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read cfn-guard's SARIF: %w", err)
	}
	seen := map[string]bool{}
	var out []finding
	for _, r := range doc.Runs {
		for _, res := range r.Results {
			m := resourcePath.FindStringSubmatch(res.Message.Text)
			if m == nil {
				continue // a rule's summary line, not about one resource
			}
			k := res.RuleID + " " + m[1]
			if seen[k] {
				continue
			}
			seen[k] = true
			msg, _, _ := strings.Cut(res.Message.Text, ". Value traversed")
			out = append(out, finding{Rule: res.RuleID, Control: controls[res.RuleID], Resource: m[1], Message: strings.TrimSpace(msg)})
		}
	}
	slices.SortFunc(out, func(a, b finding) int {
		return strings.Compare(a.Control+a.Resource, b.Control+b.Resource)
	})
	return out, nil
}

// waiver is one entry of the waivers file.
type waiver struct {
	Rule      string   `yaml:"rule"`
	Control   string   `yaml:"control"`
	Resources []string `yaml:"resources"` // logical ids or path.Match patterns
	Reason    string   `yaml:"reason"`
	used      bool
}

func readWaivers(p string) ([]*waiver, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Waivers []*waiver `yaml:"waivers"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	for i, w := range doc.Waivers {
		if w.Rule == "" || len(w.Resources) == 0 || strings.TrimSpace(w.Reason) == "" {
			return nil, fmt.Errorf("%s: waiver %d needs rule, resources and reason", p, i+1)
		}
	}
	return doc.Waivers, nil
}

func apply(findings []finding, ws []*waiver) (unwaived []finding, unused []*waiver) {
	for i := range findings {
		f := &findings[i]
		for _, w := range ws {
			if w.Rule != f.Rule {
				continue
			}
			if slices.ContainsFunc(w.Resources, func(pat string) bool { ok, _ := path.Match(pat, f.Resource); return ok }) {
				w.used = true
				f.Waiver = w
				break
			}
		}
		if f.Waiver == nil {
			unwaived = append(unwaived, *f)
		}
	}
	for _, w := range ws {
		if !w.used {
			unused = append(unused, w)
		}
	}
	return unwaived, unused
}

func report(w io.Writer, findings []finding, controls int) {
	type row struct {
		control, rule string
		resources     []string
		waived        bool
	}
	var rows []*row
	for _, f := range findings {
		var r *row
		for _, x := range rows {
			if x.rule == f.Rule && x.waived == (f.Waiver != nil) {
				r = x
			}
		}
		if r == nil {
			r = &row{control: f.Control, rule: f.Rule, waived: f.Waiver != nil}
			rows = append(rows, r)
		}
		r.resources = append(r.resources, f.Resource)
	}
	fmt.Fprintf(w, "cfn-guard: %d Control Tower proactive controls on the SAM-transformed template; %d finding(s)\n", controls, len(findings))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		state := "waived"
		if !r.waived {
			state = "NOT WAIVED"
		}
		res := strings.Join(r.resources, ", ")
		if len(r.resources) > 4 {
			res = fmt.Sprintf("%d resources (%s, …)", len(r.resources), strings.Join(r.resources[:3], ", "))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.control, strings.ToLower(r.rule), state, res)
	}
	tw.Flush()
}
