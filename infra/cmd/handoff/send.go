package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/webhook"
)

// send signs a referral file (Standard Webhooks v1) and POSTs it.
func send(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:3000", "the stack's base URL")
	clinic := fs.String("clinic", "demo-clinic", "the clinic id")
	secret := fs.String("secret", os.Getenv("HANDOFF_WEBHOOK_SECRET"), "the clinic's webhook secret (whsec_…; or HANDOFF_WEBHOOK_SECRET)")
	id := fs.String("id", "", "the webhook-id (default: a new one, so each send is a new referral)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: handoff send -clinic ID -secret whsec_… FILE.json")
	}
	body, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	key, err := webhook.ParseSecret(*secret)
	if err != nil {
		return fmt.Errorf("-secret: %w", err)
	}
	ctype := "application/json"
	var probe struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(body, &probe) == nil && probe.ResourceType != "" {
		ctype = "application/fhir+json"
	}
	if *id == "" {
		*id = "msg_" + strings.ToLower(rand.Text())
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(*base, "/")+"/v1/clinics/"+*clinic+"/referrals", bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range webhook.SignHeaders(key, *id, time.Now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", ctype)
	resp, out, err := call(req, 1<<20)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s, webhook-id %s)\n%s\n", resp.Status, ctype, *id, bytes.TrimSpace(out))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("the referral was not accepted (%d)", resp.StatusCode)
	}
	return nil
}
