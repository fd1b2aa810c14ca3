package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/handoff-health/handoff/shared/directory"
)

// importFeed reads a feed locally and PUTs each group through the admin API,
// with a progress line.
func importFeed(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:3000", "the stack's base URL")
	token := fs.String("token", os.Getenv("HANDOFF_ADMIN_TOKEN"), "the admin token (or HANDOFF_ADMIN_TOKEN)")
	format := fs.String("format", "meeting-guide", "meeting-guide or hsds")
	var opt directory.ImportOptions
	fs.StringVar(&opt.Topic, "topic", "", "the topic of every group in the feed (e.g. alcohol)")
	fs.StringVar(&opt.Fellowship, "fellowship", "", "aa, na, smart, … (sets model and spirituality defaults)")
	fs.StringVar(&opt.ContactEmail, "contact-email", "", "contact email for groups the feed gives none")
	fs.StringVar(&opt.Source, "source", "", "a name for the feed (default: from the format)")
	withdraw := fs.Bool("withdraw-missing", false, "withdraw the source's groups the feed no longer carries (needs -source; sends the feed whole to the import endpoint, without a progress line)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *token == "" {
		return errors.New("usage: handoff import -token ADMIN_TOKEN -format meeting-guide -topic alcohol [-contact-email x@y] [-source NAME [-withdraw-missing]] FILE")
	}
	if *withdraw && opt.Source == "" {
		return errors.New("-withdraw-missing needs -source: the name that tells this feed's groups from others'")
	}
	if *withdraw {
		return importWhole(strings.TrimRight(*base, "/"), *token, *format, opt, fs.Arg(0), stdout)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := directory.Import(*format, f, opt)
	if err != nil {
		return err
	}
	total := len(res.Groups)
	var created, updated int
	for i, g := range res.Groups {
		body, err := json.Marshal(g)
		if err != nil {
			return err
		}
		req, err := http.NewRequest(http.MethodPut, strings.TrimRight(*base, "/")+"/v1/admin/groups/"+url.PathEscape(g.ID), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+*token)
		req.Header.Set("Content-Type", "application/json")
		resp, msg, err := call(req, 4096)
		if err != nil {
			return err
		}
		switch resp.StatusCode {
		case http.StatusCreated:
			created++
		case http.StatusOK:
			updated++
		default:
			res.Skipped = append(res.Skipped, directory.Skip{Index: i, Reason: fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(msg))})
		}
		if (i+1)%25 == 0 || i+1 == total {
			fmt.Fprintf(stderr, "\rimported %d/%d groups", i+1, total)
		}
	}
	fmt.Fprintln(stderr)
	fmt.Fprintf(stdout, "created %d, updated %d, skipped %d\n", created, updated, len(res.Skipped))
	for _, s := range res.Skipped {
		fmt.Fprintf(stdout, "  row %d: %s\n", s.Index, s.Reason)
	}
	return nil
}

// importWhole posts the feed to the import endpoint, which imports it and
// withdraws the source's groups it no longer carries, and prints the answer.
func importWhole(base, token, format string, opt directory.ImportOptions, path string, stdout io.Writer) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	q := url.Values{"format": {format}, "source": {opt.Source}, "withdraw_missing": {"true"}}
	for k, v := range map[string]string{"topic": opt.Topic, "fellowship": opt.Fellowship, "contact_email": opt.ContactEmail} {
		if v != "" {
			q.Set(k, v)
		}
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/admin/groups/import?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	fmt.Fprintf(stdout, "sending %d bytes to the import endpoint…\n", len(body))
	resp, answer, err := call(req, 1<<20)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("import: %d %s", resp.StatusCode, bytes.TrimSpace(answer))
	}
	var res struct {
		Imported, Updated int
		Skipped           []directory.Skip
		Withdrawn         []string
	}
	if err := json.Unmarshal(answer, &res); err != nil {
		return fmt.Errorf("import: unreadable answer: %w", err)
	}
	fmt.Fprintf(stdout, "created %d, updated %d, skipped %d, withdrawn %d\n", res.Imported, res.Updated, len(res.Skipped), len(res.Withdrawn))
	for _, s := range res.Skipped {
		fmt.Fprintf(stdout, "  row %d: %s\n", s.Index, s.Reason)
	}
	for _, id := range res.Withdrawn {
		fmt.Fprintf(stdout, "  withdrawn: %s\n", id)
	}
	return nil
}
