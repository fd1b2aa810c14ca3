package apptest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/handoff-health/handoff/shared/apigw"
	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/sesevents"
	"github.com/handoff-health/handoff/shared/smsevents"
	"github.com/handoff-health/handoff/shared/testenv"
)

// The sample events are signed and timed for this clinic and moment (see
// events/README.md).
const (
	sampleSecret = "whsec_aGFuZG9mZi1zYW1wbGUtc2VjcmV0LW5vdC1mb3ItdXNl"
	sampleAdmin  = "sample-admin-token-not-real"
	sampleAPI    = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
	// sampleJWKS is the public half of the sample EHR key that signed the
	// assertion of ehr-token.json.
	sampleJWKS = `{"keys":[{"use":"sig","kty":"EC","kid":"sample-ec-1","crv":"P-384","alg":"ES384","x":"h09Q6KFvXL6YRT-wNDtKOAZxTLAgAFyM7fM09ms_qnN3Gmp678ixoydKSJ6f7kP6","y":"O5U3kzvScFeMtny7PVWuBY9uOwoCLjp_0J5BHuSTSppwUvuDsznw9FyNwLnUfyGE"}]}`
)

var sampleTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestSampleEvents hands every sample event in events/ to its function's
// handler, as `sam local invoke` would, and checks the answer.
func TestSampleEvents(t *testing.T) {
	// The sample events are addressed to the sample API's host: the
	// token endpoint's assertion names it as its aud.
	h := apptest.New(t, func(c *config.Config) { c.AdminToken, c.PublicURL = sampleAdmin, sampleAPI })
	h.SetNow(sampleTime)
	ctx := context.Background()
	if err := h.App.Clinics.Create(ctx, dynamo.Clinic{
		ID: "clinic-demo", Name: "Sample Clinic", ContactEmail: "desk@clinic.example",
		APIKeyHash: "unused", WebhookSecret: sampleSecret, CreatedAt: sampleTime, JWKS: sampleJWKS,
	}); err != nil {
		t.Fatal(err)
	}
	h.PutGroup(apptest.SampleGroup("mission-a", 37.7599, -122.4148), "mission-a")
	srv := &httpapi.Server{App: h.App, Log: h.App.Log, Room: h.Room}
	api := map[string]apigw.Handler{
		"clinic":  {HTTP: srv.Clinic()},
		"intake":  {HTTP: srv.Intake()},
		"consent": {HTTP: srv.Consent()},
		"respond": {HTTP: srv.Respond()},
		"admin":   {HTTP: srv.Admin()},
		"ehr":     {HTTP: h.EHR.Handler()},
	}
	// What each API sample gets: a real answer, never a 5xx.
	want := map[string]int{
		"intake-post-referral.json": 202, // signed with the sample secret at the sample time
		"intake-get-referral.json":  401, // its api key is not the clinic's
		"consent-get.json":          404, // an unknown token
		"clinic-get.json":           200, // the sign-in page
		"clinic-qr.json":            404, // an unknown QR link
		"consent-post.json":         404,
		"respond-get.json":          404,
		"respond-post.json":         404,
		"admin-create-clinic.json":  201,
		"admin-match.json":          200,
		"admin-healthz.json":        200,
		"ehr-token.json":            200, // signed by the sample key at the sample time
		"ehr-fhir-metadata.json":    200,
	}
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fn, _, _ := strings.Cut(name, "-")
			switch fn {
			case "intake", "consent", "respond", "admin", "ehr", "clinic":
				var ev events.APIGatewayV2HTTPRequest
				if err := json.Unmarshal(raw, &ev); err != nil {
					t.Fatal(err)
				}
				handler := api[fn]
				if name == "admin-create-clinic.json" {
					// The sample clinic exists above (made with the sample
					// secret); creating it is shown on a fresh system.
					fresh := apptest.New(t, func(c *config.Config) { c.AdminToken = sampleAdmin })
					handler = apigw.Handler{HTTP: (&httpapi.Server{App: fresh.App, Log: fresh.App.Log}).Admin()}
				}
				// Served as the function the template routes the event's
				// route to.
				fn := h.Functions.ForRoute(ev.RequestContext.HTTP.Method, ev.RawPath)
				if fn == "" {
					t.Fatalf("no function of the template serves %s %s", ev.RequestContext.HTTP.Method, ev.RawPath)
				}
				res, err := handler.Handle(apptest.As(ctx, fn), ev)
				if err != nil {
					t.Fatal(err)
				}
				if w, ok := want[name]; !ok || res.StatusCode != w {
					t.Fatalf("status %d, want %d: %s", res.StatusCode, w, res.Body)
				}
			case "dispatch":
				fctx := h.SweepContext()
				if strings.Contains(string(raw), `"Records"`) {
					fctx = h.StreamContext()
				}
				out, err := h.Dispatcher.Handle(fctx, raw)
				if err != nil {
					t.Fatal(err)
				}
				if r, ok := out.(dynamoResponse); ok && len(r.BatchItemFailures) > 0 {
					t.Fatalf("batch failures: %+v", r.BatchItemFailures)
				}
			case "sesevents":
				var ev events.SNSEvent
				if err := json.Unmarshal(raw, &ev); err != nil {
					t.Fatal(err)
				}
				hd := &sesevents.Handler{App: h.App, Log: h.App.Log}
				if err := hd.Handle(h.TopicContext("SesEventsTopic"), ev); err != nil {
					t.Fatal(err)
				}
			case "smsevents":
				var ev events.SNSEvent
				if err := json.Unmarshal(raw, &ev); err != nil {
					t.Fatal(err)
				}
				hd := &smsevents.Handler{App: h.App, Log: h.App.Log}
				if err := hd.Handle(h.TopicContext("SmsEventsTopic"), ev); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("no function for sample %s", name)
			}
		})
	}
	// The sample referral went through: its consent email is out.
	h.Settle()
	if len(h.Mails()) == 0 {
		t.Fatal("the sample referral sent no consent email")
	}
}

type dynamoResponse = events.DynamoDBEventResponse
