// Package local is handoff's whole stack on one machine, offline: the embedded
// DynamoDB-compatible server with both tables created from template.yaml, the
// SES v2 emulator (with SES's mailbox simulator addresses: a message to
// bounce@simulator.amazonses.com comes back as a bounce, as in AWS), the
// phone sink for texts, the very HTTP handlers the Lambdas serve, and the
// sweeper standing in for the table's stream.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/truora/minidyn/server"

	"github.com/handoff-health/handoff/infra/tables"
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dispatch"
	"github.com/handoff-health/handoff/shared/ehrapi"
	"github.com/handoff-health/handoff/shared/eum"
	"github.com/handoff-health/handoff/shared/eum/eumtest"
	"github.com/handoff-health/handoff/shared/httpapi"
	"github.com/handoff-health/handoff/shared/passkey"
	"github.com/handoff-health/handoff/shared/qr"
	"github.com/handoff-health/handoff/shared/room"
	"github.com/handoff-health/handoff/shared/seal"
	"github.com/handoff-health/handoff/shared/ses"
	"github.com/handoff-health/handoff/shared/sesevents"
	"github.com/handoff-health/handoff/shared/smsevents"
	"github.com/handoff-health/handoff/shared/wire"
)

// Default addresses of the embedded services.
const (
	DynamoAddr = "127.0.0.1:8000"
	SESAddr    = "127.0.0.1:8005"
	PhoneAddr  = "127.0.0.1:8006"
	KMSAddr    = "127.0.0.1:8010"
)

// LocalTextingNumber is the texting number of the local stack (a 555-01xx
// number, reserved for fiction).
const LocalTextingNumber = "+12065550100"

// Options configure a stack.
type Options struct {
	Root   string // the repository (template.yaml, infra/ses)
	Getenv func(string) string
	Out    io.Writer // what a person reads: addresses, the admin token, next steps
	Log    *slog.Logger
	// SweepEvery is the sweeper's period (default 250 ms).
	SweepEvery time.Duration
	// DynamoAddr, SESAddr, PhoneAddr and KMSAddr are where the embedded
	// services listen (default DynamoAddr, SESAddr, PhoneAddr and KMSAddr).
	DynamoAddr, SESAddr, PhoneAddr, KMSAddr string
	// Seed loads the demo clinic and directory.
	Seed func(ctx context.Context, a *app.App) (SeedInfo, error)
}

// SeedInfo is what the seed made, to print.
type SeedInfo struct {
	ClinicID      string
	WebhookSecret string
	APIKey        string
	Groups        int
	Lines         []string // extra lines to print
}

// Stack is a running local stack.
type Stack struct {
	App      *app.App
	Room     *room.Room
	Config   config.Config
	Handler  http.Handler
	stop     []func()
	serveErr chan error
	env      map[string]string // what Start set beyond the caller's environment
}

// ErrPortInUse is in the error of Start when an address it was to listen
// on was taken: by another program, or, for a caller that drew free ports,
// by another such draw in the moment before the stack bound it (such a
// caller may start again on fresh ports).
var ErrPortInUse = errors.New("address already in use")

// StartDrawn starts a stack with start, whose options draw free ports, and
// draws again (calls start again), twice at most, while a port it drew was
// taken before the stack bound it (ErrPortInUse).
func StartDrawn(start func() (*Stack, error)) (*Stack, error) {
	s, err := start()
	for try := 1; try < 3 && errors.Is(err, ErrPortInUse); try++ {
		s, err = start()
	}
	return s, err
}

// portError names a taken port and the variable that moves it; it is
// ErrPortInUse.
func portError(addr, variable string) error { return &portTaken{addr, variable} }

type portTaken struct{ addr, variable string }

func (e *portTaken) Error() string {
	return e.addr + " is already in use: stop what listens there or set " + e.variable
}

func (e *portTaken) Is(target error) bool { return target == ErrPortInUse }

func listen(addr, variable string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, portError(addr, variable)
		}
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, variable, err)
	}
	return l, nil
}

// Start starts everything and returns when the stack can serve.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	s := &Stack{serveErr: make(chan error, 4)}
	defer func() {
		if err != nil {
			s.Stop() // whatever was started before the failure
		}
	}()
	getenv := o.Getenv
	env := map[string]string{}
	set := func(k, v string) { env[k] = v }
	look := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return getenv(k)
	}
	if o.DynamoAddr == "" {
		o.DynamoAddr = DynamoAddr
	}
	if o.SESAddr == "" {
		o.SESAddr = SESAddr
	}
	if o.KMSAddr == "" {
		o.KMSAddr = KMSAddr
	}
	if o.PhoneAddr == "" {
		o.PhoneAddr = PhoneAddr
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = 250 * time.Millisecond
	}
	// The HTTP port first: a taken port is the likeliest mistake.
	cfg0, err := config.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	apiL, err := listen(cfg0.Addr, "HANDOFF_ADDR")
	if err != nil {
		return nil, err
	}
	s.stop = append(s.stop, func() { apiL.Close() })

	// DynamoDB: the embedded server unless an outside endpoint is given.
	if getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" {
		l, err := listen(o.DynamoAddr, "AWS_ENDPOINT_URL_DYNAMODB (to use another DynamoDB endpoint)")
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: server.NewServer(), ReadHeaderTimeout: 10 * time.Second}
		go func() { s.serveErr <- ignoreClosed(srv.Serve(l)) }()
		s.stop = append(s.stop, func() { _ = srv.Close() })
		set("AWS_ENDPOINT_URL_DYNAMODB", "http://"+o.DynamoAddr)
		fmt.Fprintf(o.Out, "  DynamoDB (embedded)  http://%s\n", o.DynamoAddr)
	} else {
		fmt.Fprintf(o.Out, "  DynamoDB             %s\n", getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	}
	// SES: the npm emulator unless an outside endpoint is given.
	localSES := getenv("AWS_ENDPOINT_URL_SESV2") == ""
	if localSES {
		stop, err := startSES(ctx, o.Root, o.SESAddr)
		if err != nil {
			return nil, err
		}
		s.stop = append(s.stop, stop)
		set("AWS_ENDPOINT_URL_SESV2", "http://"+o.SESAddr)
		fmt.Fprintf(o.Out, "  SES emulator         http://%s  (mailbox page; GET /store lists mail as JSON)\n", o.SESAddr)
	} else {
		fmt.Fprintf(o.Out, "  SES                  %s\n", getenv("AWS_ENDPOINT_URL_SESV2"))
	}
	// Texts: the phone sink unless an outside endpoint is given. It serves
	// once the app is built, to bring its delivery events to the app.
	var sink *eumtest.Sink
	var sinkL net.Listener
	if getenv("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2") == "" {
		if sinkL, err = listen(o.PhoneAddr, "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2 (to use another texting endpoint)"); err != nil {
			return nil, err
		}
		s.stop = append(s.stop, func() { sinkL.Close() })
		sink = &eumtest.Sink{Log: o.Log}
		set("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", "http://"+o.PhoneAddr)
		fmt.Fprintf(o.Out, "  phone sink (texts)   http://%s  (texts per number; GET /store lists them as JSON)\n", o.PhoneAddr)
	} else {
		fmt.Fprintf(o.Out, "  texts                %s\n", getenv("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2"))
	}
	if getenv("HANDOFF_SMS_ORIGIN") == "" {
		set("HANDOFF_SMS_ORIGIN", LocalTextingNumber)
	}
	// Local credentials and keys: nothing here is a real secret.
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
	} {
		if getenv(k) == "" {
			set(k, v)
		}
	}
	if getenv("HANDOFF_ADMIN_TOKEN") == "" {
		set("HANDOFF_ADMIN_TOKEN", "adm_"+strings.ToLower(wire.RandomKey()[:32]))
	}
	if getenv("HANDOFF_LINK_KEY") == "" {
		set("HANDOFF_LINK_KEY", wire.RandomKey())
	}
	if getenv("HANDOFF_SEAL_KEY") == "" && getenv("HANDOFF_KMS_KEY_ID") == "" {
		// Seal through KMS as in AWS, with local-kms when it is installed.
		stop, url, keyID, err := startKMS(ctx, o.Root, o.KMSAddr)
		switch {
		case err != nil:
			return nil, err
		case keyID != "":
			s.stop = append(s.stop, stop)
			set("AWS_ENDPOINT_URL_KMS", url)
			set("HANDOFF_KMS_KEY_ID", keyID)
			fmt.Fprintf(o.Out, "  KMS (local-kms)      %s\n", url)
		default:
			_, key, err := seal.NewRandomLocalKey()
			if err != nil {
				return nil, err
			}
			set("HANDOFF_SEAL_KEY", key)
			o.Log.Info("local-kms is not installed (make tools): sealing with an in-memory key")
		}
	}
	cfg, err := config.FromEnv(look)
	if err != nil {
		return nil, err
	}
	s.Config = cfg
	s.env = env

	// Tables from template.yaml's own definitions.
	aw, err := wire.AWSFromEnv(look)
	if err != nil {
		return nil, err
	}
	a, err := wire.BuildWith(aw, cfg, o.Log, wire.Options{DynamoDB: []func(*dynamodb.Options){localDynamo},
		Mailer: func(aw wire.AWS) app.Mailer {
			return ses.New(aw.Config, aw.Endpoint("SESV2"), cfg.MailFrom, cfg.SESConfigurationSet)
		},
		Texter: func(aw wire.AWS) app.Texter {
			return eum.New(aw.Config, aw.Endpoint("PINPOINT_SMS_VOICE_V2"), cfg.SMSOrigin, cfg.SMSConfigurationSet)
		}})
	if err != nil {
		return nil, err
	}
	// One due-index shard here: the embedded server keeps an item's old index
	// entry when the item is rewritten without the index key, so every shard's
	// Query reads every event ever written, and the sweeper runs four times a
	// second. (A deployment spreads the index; see dynamo.DefaultDueShards.)
	a.Referrals.DueShards = 1
	dispatch.Effects(a) // the effects of the events the packages beside the core write
	s.App = a
	if localSES {
		// The emulator's mailbox, with SES's mailbox simulator addresses.
		sim := &mailboxSimulator{next: a.Mailer, notify: (&sesevents.Handler{App: a, Log: o.Log}).Handle, after: time.Second, log: o.Log}
		a.Mailer = sim
		s.stop = append(s.stop, sim.wait)
	}
	if sink != nil {
		h := &smsevents.Handler{App: a, Log: o.Log}
		sink.Notify = h.Handle
		srv := &http.Server{Handler: sink, ReadHeaderTimeout: 10 * time.Second}
		go func() { s.serveErr <- ignoreClosed(srv.Serve(sinkL)) }()
		s.stop = append(s.stop, func() { _ = srv.Close(); sink.Wait() })
	}
	defs, err := tables.Load(filepath.Join(o.Root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, func(ctx context.Context) error {
		return tables.EnsureTables(ctx, a.Referrals.DB, defs.Tables)
	}); err != nil {
		return nil, fmt.Errorf("create tables: %w", err)
	}
	if len(defs.Skipped) > 0 {
		o.Log.Info("the local DynamoDB server does not support these template settings; they apply in AWS only",
			"skipped", strings.Join(defs.Skipped, "; "))
	}

	var seeded SeedInfo
	if o.Seed != nil {
		if seeded, err = o.Seed(ctx, a); err != nil {
			return nil, fmt.Errorf("seed the demo data: %w", err)
		}
	}

	keys, err := passkey.New(room.Origin(cfg.PublicURL), "handoff")
	if err != nil {
		return nil, err
	}
	rm := room.New(a, keys, qr.SVG)
	s.Room = rm
	srv := &httpapi.Server{App: a, Log: o.Log, Room: rm}
	ehrSurface := ehrapi.New(a, o.Log)
	s.Handler = ehrSurface.With(srv.All())
	hs := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.serveErr <- ignoreClosed(hs.Serve(apiL)) }()
	s.stop = append(s.stop, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	})

	dctx, cancel := context.WithCancel(context.Background())
	d := &dispatch.Dispatcher{App: a, Log: o.Log}
	done := make(chan struct{})
	go func() { d.Loop(dctx, o.SweepEvery); close(done) }()
	s.stop = append(s.stop, func() { cancel(); <-done })

	fmt.Fprintf(o.Out, "  API and pages        %s  (listening on %s)\n", cfg.PublicURL, cfg.Addr)
	fmt.Fprintf(o.Out, "  admin token          %s\n", cfg.AdminToken)
	if seeded.ClinicID != "" {
		fmt.Fprintf(o.Out, "  demo clinic          %s (%d demo groups)\n", seeded.ClinicID, seeded.Groups)
		fmt.Fprintf(o.Out, "    webhook_secret     %s\n", seeded.WebhookSecret)
		fmt.Fprintf(o.Out, "    api_key            %s\n", seeded.APIKey)
	}
	for _, l := range seeded.Lines {
		fmt.Fprintln(o.Out, l)
	}
	return s, nil
}

// Env returns, as NAME=value lines, the variables Start chose beyond the
// caller's environment — endpoints, local credentials and keys — so another
// process configured with them talks to the same services.
func (s *Stack) Env() []string {
	out := make([]string, 0, len(s.env))
	for k, v := range s.env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// Err returns a channel that receives a server's failure.
func (s *Stack) Err() <-chan error { return s.serveErr }

// Stop stops everything Start started, in reverse order.
func (s *Stack) Stop() {
	for i := len(s.stop) - 1; i >= 0; i-- {
		s.stop[i]()
	}
	s.stop = nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// waitFor retries f briefly while a just-started server comes up.
func waitFor(ctx context.Context, f func(context.Context) error) error {
	var err error
	for range 50 {
		if err = f(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}

// startSES runs the SES emulator from infra/ses and waits for it.
func startSES(ctx context.Context, root, addr string) (func(), error) {
	bin := filepath.Join(root, "infra", "ses", "node_modules", ".bin", "aws-ses-v2-local")
	if _, err := os.Stat(bin); err != nil {
		return nil, errors.New("the SES emulator is not installed: run `make node_modules` (npm ci in infra/ses; needs Node 20)")
	}
	l, err := listen(addr, "AWS_ENDPOINT_URL_SESV2 (to use another SES endpoint)")
	if err != nil {
		return nil, err
	}
	l.Close()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--host", host, "--port", port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the SES emulator: %w", err)
	}
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health-check")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, errors.New("the SES emulator did not answer within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// localDynamo skips response checksum validation, which the embedded server's
// error answers do not carry.
func localDynamo(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true }

// startKMS runs local-kms from build/tools, when installed, and creates the
// data key. keyID is "" when local-kms is not installed.
func startKMS(ctx context.Context, root, addr string) (stop func(), url, keyID string, err error) {
	bin := filepath.Join(root, "build", "tools", "local-kms")
	if _, err := os.Stat(bin); err != nil {
		return nil, "", "", nil
	}
	l, err := listen(addr, "HANDOFF_SEAL_KEY or HANDOFF_KMS_KEY_ID (to seal without local-kms)")
	if err != nil {
		return nil, "", "", err
	}
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "handoff-kms-")
	if err != nil {
		return nil, "", "", err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port, "KMS_DATA_PATH="+dir, "KMS_REGION=us-east-1", "KMS_ACCOUNT_ID=111122223333")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, "", "", fmt.Errorf("start local-kms: %w", err)
	}
	stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	url = "http://" + addr
	client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	err = waitFor(ctx, func(ctx context.Context) error {
		out, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("handoff local data key")})
		if err == nil {
			keyID = aws.ToString(out.KeyMetadata.KeyId)
		}
		return err
	})
	if err != nil {
		stop()
		return nil, "", "", fmt.Errorf("create the local KMS key: %w", err)
	}
	return stop, url, keyID, nil
}
