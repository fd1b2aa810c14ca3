package apptest

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/middleware"

	"github.com/handoff-health/handoff/infra/iamcheck"
	"github.com/handoff-health/handoff/shared/seal"
	"github.com/handoff-health/handoff/shared/seal/kmstest"
	"github.com/handoff-health/handoff/shared/testenv"
	"github.com/handoff-health/handoff/shared/wire"
)

// The harness runs as the template's sample deployment (iamcheck.Sample)
// would: its tables, configuration sets, texting origin and KMS keys have
// the names and ids the template gives them there, every AWS call is
// recorded with the function whose code made it (h.IAM, and the process's
// recorder that `make test` checks against the functions' roles), and each
// function seals and derives its link key through KMS with caches of its
// own, as one Lambda each would.

// iamSetup is what New needs of the template.
type iamSetup struct {
	fns       iamcheck.Functions
	env       map[string]string
	options   []func(*middleware.Stack) error
	recorders []*iamcheck.Recorder
}

// sendsAs records the emails sent from a harness's own address as sent
// from the deployment's MailFrom (see iamcheck.Recorder.SendsAs).
func (s iamSetup) sendsAs(harness, deployed string) {
	for _, r := range s.recorders {
		r.SendsAs(harness, deployed)
	}
}

func loadIAM(t interface {
	Helper()
	Fatalf(string, ...any)
}, root string, h *Harness) iamSetup {
	t.Helper()
	path := filepath.Join(root, "template.yaml")
	tmpl, fns, err := iamcheck.LoadSample(path)
	if err != nil {
		t.Fatalf("read template.yaml: %v", err)
	}
	proc, err := iamcheck.ProcessRecorder(path)
	if err != nil {
		t.Fatalf("record AWS calls: %v", err)
	}
	h.IAM = iamcheck.NewRecorder(tmpl)
	h.Functions = fns
	return iamSetup{fns: fns, env: fns.Environment(), options: []func(*middleware.Stack) error{proc.APIOption, h.IAM.APIOption},
		recorders: []*iamcheck.Recorder{proc, h.IAM}}
}

// perFunction keeps one value per function (by the context's function),
// made on first use, as each Lambda has its own.
type perFunction[T any] struct {
	mu   sync.Mutex
	m    map[string]T
	make func() T
}

func (p *perFunction[T]) of(ctx context.Context) T {
	fn := iamcheck.FunctionOf(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[fn]
	if !ok {
		if p.m == nil {
			p.m = map[string]T{}
		}
		v = p.make()
		p.m[fn] = v
	}
	return v
}

// functionSealer seals with one KMS sealer per function.
type functionSealer struct{ perFunction[*seal.KMS] }

func (s *functionSealer) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	return s.of(ctx).Seal(ctx, plaintext, aad)
}

func (s *functionSealer) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	return s.of(ctx).Open(ctx, sealed, aad)
}

// kmsParts starts local-kms with the template's keys and returns the sealer
// and link key each function uses through it; ok is false when local-kms is
// not installed (outside CI), and the harness then seals with a local key.
func (h *Harness) kmsParts(setup iamSetup) (sealer seal.Sealer, linkKey func(context.Context) ([]byte, error), ok bool) {
	if !kmstest.Available(h.T) && !testenv.CI() {
		return nil, nil, false
	}
	dataKey, macKey := setup.env["HANDOFF_KMS_KEY_ID"], setup.env["HANDOFF_LINK_KEY_ID"]
	k := kmstest.StartKeys(h.T, kmstest.Key{ID: keyID(dataKey)}, kmstest.Key{ID: keyID(macKey), HMAC: true})
	client := kms.New(kms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(k.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		APIOptions:  setup.options,
	})
	s := &functionSealer{}
	s.make = func() *seal.KMS { return seal.NewKMS(client, dataKey) }
	keys := &perFunction[func(context.Context) ([]byte, error)]{make: func() func(context.Context) ([]byte, error) {
		return wire.LinkKeyFromKMS(client, macKey)
	}}
	return s, func(ctx context.Context) ([]byte, error) { return keys.of(ctx)(ctx) }, true
}

// keyID is the key id of a key id or key ARN.
func keyID(s string) string {
	if i := lastSlash(s); i >= 0 {
		return s[i+1:]
	}
	return s
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// As returns ctx marked as the code of the function the template names fn
// (a logical id): the AWS calls made with it are that function's.
func As(ctx context.Context, fn string) context.Context { return iamcheck.WithFunction(ctx, fn) }

// SweepContext is the context a scheduled sweep runs with: the function the
// template's sweep schedule invokes.
func (h *Harness) SweepContext() context.Context {
	return As(context.Background(), h.Functions.ForSchedule(`{"sweep": true}`))
}

// StreamContext is the context a batch of the referrals table's stream is
// handled with: the function the stream invokes.
func (h *Harness) StreamContext() context.Context {
	return As(context.Background(), h.Functions.ForStream("ReferralsTable"))
}

// TopicContext is the context a notification of an SNS topic of the
// template (a logical id, e.g. SesEventsTopic) is handled with.
func (h *Harness) TopicContext(topic string) context.Context {
	return As(context.Background(), h.Functions.ForTopic(topic))
}
