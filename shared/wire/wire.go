// Package wire builds handoff's core from the environment, once per process:
// the Lambdas' main functions and the local stack share it, so they run the
// same code with the same settings.
package wire

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/config"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/outbound"
	"github.com/handoff-health/handoff/shared/seal"
)

// AWS is the AWS configuration and the per-service endpoint overrides.
type AWS struct {
	Config aws.Config
	// Endpoints are AWS_ENDPOINT_URL_<SERVICE> overrides, by service
	// (DYNAMODB, SESV2, KMS).
	Endpoints map[string]string
}

// Endpoint returns the override for a service, or nil.
func (a AWS) Endpoint(service string) *string {
	if u, ok := a.Endpoints[service]; ok {
		return aws.String(u)
	}
	return nil
}

// AWSFromEnv builds the AWS configuration from the standard environment
// variables a Lambda runs with (AWS_REGION and the function's credentials in
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), and honours
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>. It reads no files and makes
// no calls, which keeps the Lambdas' start-up short and their binaries small
// (the SDK's full loader links the STS, SSO and OIDC clients).
func AWSFromEnv(getenv func(string) string) (AWS, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		return AWS{}, errors.New("AWS_REGION is not set")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return AWS{}, errors.New("AWS credentials are not in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	}
	a := AWS{
		Config: aws.Config{
			Region:      region,
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))),
		},
		Endpoints: map[string]string{},
	}
	if u := getenv("AWS_ENDPOINT_URL"); u != "" {
		a.Config.BaseEndpoint = aws.String(u)
	}
	for _, svc := range []string{"DYNAMODB", "SESV2", "KMS", "PINPOINT_SMS_VOICE_V2"} {
		if u := getenv("AWS_ENDPOINT_URL_" + svc); u != "" {
			a.Endpoints[svc] = u
		}
	}
	return a, nil
}

// Options adjust what Build makes.
type Options struct {
	// DynamoDB options applied to the client (e.g. a call counter).
	DynamoDB []func(*dynamodb.Options)
	// Sealer replaces the one the configuration names.
	Sealer seal.Sealer
	// Mailer sends email; only the dispatcher sends any (see shared/ses.New).
	Mailer func(AWS) app.Mailer
	// Texter sends texts; only the dispatcher sends any (see shared/eum.New).
	// It is used when the deployment has a texting number.
	Texter func(AWS) app.Texter
}

// Build reads the AWS configuration from the environment (no network) and
// builds the core. Secrets held in Secrets Manager are read at first use, not
// here (the link key is derived at first use).
func Build(_ context.Context, cfg config.Config, log *slog.Logger, opt Options) (*app.App, error) {
	a, err := AWSFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return BuildWith(a, cfg, log, opt)
}

// BuildWith builds the core from a given AWS configuration.
func BuildWith(a AWS, cfg config.Config, log *slog.Logger, opt Options) (*app.App, error) {
	ddbOpts := append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		if u := a.Endpoint("DYNAMODB"); u != nil {
			o.BaseEndpoint = u
		}
	}}, opt.DynamoDB...)
	ddb := dynamodb.NewFromConfig(a.Config, ddbOpts...)
	kmsClient := func() *kms.Client {
		return kms.NewFromConfig(a.Config, func(o *kms.Options) {
			if u := a.Endpoint("KMS"); u != nil {
				o.BaseEndpoint = u
			}
		})
	}
	sealer := opt.Sealer
	if sealer == nil {
		switch {
		case cfg.SealKey != "":
			k, err := seal.ParseLocalKey(cfg.SealKey)
			if err != nil {
				return nil, fmt.Errorf("HANDOFF_SEAL_KEY: %w", err)
			}
			sealer = k
		case cfg.KMSKeyID != "":
			sealer = seal.NewKMS(kmsClient(), cfg.KMSKeyID)
		default:
			return nil, errors.New("set HANDOFF_KMS_KEY_ID (AWS) or HANDOFF_SEAL_KEY (a base64 32-byte key, local use) to seal personal data")
		}
	}
	var mailer app.Mailer = noMail{}
	if opt.Mailer != nil {
		mailer = opt.Mailer(a)
	}
	core := &app.App{
		Config:    cfg,
		Referrals: &dynamo.Referrals{DB: ddb, Table: cfg.ReferralsTable, Sealer: sealer, Retention: cfg.Retention},
		Clinics:   &dynamo.Clinics{DB: ddb, Table: cfg.DirectoryTable, Sealer: sealer},
		Directory: &dynamo.Directory{DB: ddb, Table: cfg.DirectoryTable},
		Mailer:    mailer,
		Poster:    outbound.NewPoster(cfg.LoopbackPublicURL()),
		Log:       log,
	}
	if opt.Texter != nil && cfg.Texts() {
		core.Texter = opt.Texter(a)
	}
	linkKey := func(context.Context) (string, error) { return cfg.LinkKey, nil }
	if cfg.LinkKey == "" && cfg.LinkKeyID != "" {
		linkKey = linkKeyFromKMS(kmsClient(), cfg.LinkKeyID)
	}
	core.LinkKey = checkedLinkKey(linkKey)
	return core, nil
}

// checkedLinkKey turns a link key's source into App.LinkKey: a key shorter
// than 32 characters is an error.
func checkedLinkKey(linkKey func(context.Context) (string, error)) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		k, err := linkKey(ctx)
		if err != nil {
			return nil, err
		}
		if len(k) < 32 {
			return nil, errors.New("the link key must be at least 32 characters (HANDOFF_LINK_KEY, or HANDOFF_LINK_KEY_ID for a KMS HMAC key)")
		}
		return []byte(k), nil
	}
}

// LinkKeyFromKMS is App.LinkKey as a Lambda derives it from the KMS HMAC key
// keyID (HANDOFF_LINK_KEY_ID): one GenerateMac at first use, then kept for
// the process. A harness that serves several functions from one process
// makes one per function, as each Lambda has its own.
func LinkKeyFromKMS(api *kms.Client, keyID string) func(context.Context) ([]byte, error) {
	return checkedLinkKey(linkKeyFromKMS(api, keyID))
}

// noMail is the mailer of functions that never send email.
type noMail struct{}

func (noMail) Send(context.Context, sesMessage) (string, error) {
	return "", errors.New("this function does not send email")
}

// linkKeyFromKMS derives the link key at first use: the MAC, under a KMS HMAC
// key, of a fixed message. Every instance derives the same key, no secret is
// stored anywhere, and KMS is called once per process.
func linkKeyFromKMS(api *kms.Client, keyID string) func(context.Context) (string, error) {
	var (
		mu  sync.Mutex
		val string
	)
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if val != "" {
			return val, nil
		}
		out, err := api.GenerateMac(ctx, &kms.GenerateMacInput{
			KeyId: aws.String(keyID), MacAlgorithm: kmstypes.MacAlgorithmSpecHmacSha256,
			Message: []byte("handoff link key v1"),
		})
		if err != nil {
			return "", fmt.Errorf("derive the link key: %w", err)
		}
		val = base64.RawStdEncoding.EncodeToString(out.Mac)
		return val, nil
	}
}

// RandomKey returns a new random key of 52 URL-safe characters (260 bits),
// for keys a local stack makes for itself.
func RandomKey() string {
	return rand.Text() + rand.Text()
}
