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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *token == "" {
		return errors.New("usage: handoff import -token ADMIN_TOKEN -format meeting-guide -topic alcohol [-contact-email x@y] FILE")
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
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
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
