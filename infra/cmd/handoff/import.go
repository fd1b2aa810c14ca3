package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/imports"
)

// importFeed sends a feed to the asynchronous import (POST /v1/admin/imports,
// then a PUT per part), follows the job with a progress bar, and prints its
// answer. A feed of any size up to the import's limit goes this way: parts
// of -part-size bytes keep each request under a Lambda's payload limit, and
// the stack stores the groups chunk by chunk, in the background.
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
	fs.StringVar(&opt.Timezone, "timezone", "", "the IANA time zone of meetings whose rows name none")
	fs.StringVar(&opt.Language, "language", "", "the language of meetings whose rows name none (default en)")
	withdraw := fs.Bool("withdraw-missing", false, "withdraw the source's groups the feed no longer carries (needs -source)")
	partSize := fs.Int("part-size", 4<<20, "the most bytes one request carries (at most 5 MiB)")
	poll := fs.Duration("poll", 500*time.Millisecond, "how often to read the import's progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *token == "" {
		return errors.New("usage: handoff import -token ADMIN_TOKEN -format meeting-guide -topic alcohol [-contact-email x@y] [-source NAME [-withdraw-missing]] FILE")
	}
	if *withdraw && opt.Source == "" {
		return errors.New("-withdraw-missing needs -source: the name that tells this feed's groups from others'")
	}
	if *partSize < 1 || *partSize > 5<<20 {
		return errors.New("-part-size must be from 1 to 5242880 bytes")
	}
	feed, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	q := url.Values{"format": {*format}, "withdraw_missing": {strconv.FormatBool(*withdraw)}}
	for k, v := range map[string]string{"topic": opt.Topic, "fellowship": opt.Fellowship, "contact_email": opt.ContactEmail,
		"source": opt.Source, "timezone": opt.Timezone, "language": opt.Language} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var parts [][]byte
	for len(feed) > *partSize {
		parts, feed = append(parts, feed[:*partSize]), feed[*partSize:]
	}
	parts = append(parts, feed)
	q.Set("parts", strconv.Itoa(len(parts)))
	c := &adminClient{base: strings.TrimRight(*base, "/"), token: *token}
	var job imports.View // the job as GET /v1/admin/imports/{id} shows it
	if err := c.send(http.MethodPost, "/v1/admin/imports?"+q.Encode(), parts[0], &job); err != nil {
		return err
	}
	for i := 1; i < len(parts); i++ {
		fmt.Fprintf(stderr, "\rsending part %d of %d", i+1, len(parts))
		if err := c.send(http.MethodPut, fmt.Sprintf("/v1/admin/imports/%s/parts/%d", job.ID, i), parts[i], &job); err != nil {
			return err
		}
	}
	for job.Status != "done" && job.Status != "failed" {
		fmt.Fprintf(stderr, "\r%s", progressBar(job, 30))
		time.Sleep(*poll)
		if err := c.send(http.MethodGet, "/v1/admin/imports/"+job.ID, nil, &job); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "\r%s\n", progressBar(job, 30))
	if job.Status == "failed" {
		return fmt.Errorf("import %s failed: %s", job.ID, job.Error)
	}
	line := fmt.Sprintf("created %d, updated %d, skipped %d", job.Imported, job.Updated, job.SkippedCount)
	if *withdraw {
		line += fmt.Sprintf(", withdrawn %d", job.WithdrawnCount)
	}
	fmt.Fprintln(stdout, line)
	for _, s := range job.Skipped {
		fmt.Fprintf(stdout, "  row %d: %s\n", s.Index, s.Reason)
	}
	if n := job.SkippedCount - len(job.Skipped); n > 0 {
		fmt.Fprintf(stdout, "  … and %d more skipped\n", n)
	}
	for _, id := range job.Withdrawn {
		fmt.Fprintf(stdout, "  withdrawn: %s\n", id)
	}
	if n := job.WithdrawnCount - len(job.Withdrawn); n > 0 {
		fmt.Fprintf(stdout, "  … and %d more withdrawn\n", n)
	}
	return nil
}

// progressBar draws a job's progress in width cells: the groups stored of
// those the feed holds, once it is read.
func progressBar(j imports.View, width int) string {
	switch {
	case j.Status == "receiving":
		return fmt.Sprintf("import %s: %d of %d parts received", j.ID, j.PartsReceived, j.Parts)
	case j.GroupsTotal == 0:
		return fmt.Sprintf("import %s: %s, no groups", j.ID, j.Status)
	}
	filled := j.GroupsDone * width / j.GroupsTotal
	return fmt.Sprintf("[%s%s] %d/%d groups %3d%%", strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		j.GroupsDone, j.GroupsTotal, j.GroupsDone*100/j.GroupsTotal)
}

// adminClient sends admin API requests.
type adminClient struct{ base, token string }

// send sends one request and reads its JSON answer into into; an answer
// outside 2xx is an error with its status and problem detail (see exchange).
func (c *adminClient) send(method, path string, body []byte, into any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream") // a part of the feed, cut anywhere
	}
	if err := exchange(req, into); err != nil {
		return fmt.Errorf("%s %s: %w", method, strings.SplitN(path, "?", 2)[0], err)
	}
	return nil
}
