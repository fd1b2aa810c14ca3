// Package ses is handoff's adapter to Amazon SES v2: it sends one email, text and
// HTML, with its attachments (SES v2 Simple content with Attachments: SES
// builds the MIME message), from the configured address.
package ses

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/handoff-health/handoff/shared/mail"
)

// Message is one email (see shared/mail).
type Message = mail.Message

// Sender sends through SES v2.
type Sender struct {
	// send is the client's SendEmail: holding the method rather than the client
	// keeps the client's other operations out of the binary.
	send             func(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
	From             string
	ConfigurationSet string // optional
}

// NewSender returns a Sender that sends through api.
func NewSender(api *sesv2.Client, from, configurationSet string) *Sender {
	return &Sender{send: api.SendEmail, From: from, ConfigurationSet: configurationSet}
}

// ErrThrottled is returned (wrapped) when SES refuses for rate or quota: the
// caller should retry later.
var ErrThrottled = errors.New("ses: throttled")

// Send sends m, with its attachments, and returns SES's message id. A throttling refusal wraps
// ErrThrottled; another refusal wraps a smithy.APIError with SES's error code
// but not its message, which can name the recipient; other failures wrap the
// SDK's error. None carries the message's content or address.
func (s *Sender) Send(ctx context.Context, m Message) (string, error) {
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(s.From),
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: aws.String("UTF-8")},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(m.Text), Charset: aws.String("UTF-8")},
				Html: &types.Content{Data: aws.String(m.HTML), Charset: aws.String("UTF-8")},
			},
		}},
	}
	for _, a := range m.Attachments {
		// SES builds the MIME message (Simple content with attachments);
		// base64 keeps any file intact whatever its bytes.
		in.Content.Simple.Attachments = append(in.Content.Simple.Attachments, types.Attachment{
			FileName: aws.String(a.Name), RawContent: a.Data, ContentType: aws.String(a.ContentType),
			ContentDisposition:      types.AttachmentContentDispositionAttachment,
			ContentTransferEncoding: types.AttachmentContentTransferEncodingBase64,
		})
	}
	if s.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(s.ConfigurationSet)
	}
	for k, v := range m.Tags {
		in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String(k), Value: aws.String(v)})
	}
	out, err := s.send(ctx, in)
	if err != nil {
		var tm *types.TooManyRequestsException
		var le *types.LimitExceededException
		var ae smithy.APIError
		if errors.As(err, &tm) || errors.As(err, &le) || (errors.As(err, &ae) && ae.ErrorCode() == "Throttling") {
			return "", fmt.Errorf("send email: %w", ErrThrottled)
		}
		if ae != nil {
			// SES's message may name the recipient (MessageRejected for an
			// unverified or suppressed address): keep only its code.
			return "", fmt.Errorf("send email: %w", &smithy.GenericAPIError{Code: ae.ErrorCode(), Fault: ae.ErrorFault()})
		}
		return "", fmt.Errorf("send email: %w", err)
	}
	return aws.ToString(out.MessageId), nil
}

// New returns a Sender for the given AWS configuration; endpoint, when not
// nil, overrides SES's (AWS_ENDPOINT_URL_SESV2).
func New(cfg aws.Config, endpoint *string, from, configurationSet string) *Sender {
	api := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) {
		if endpoint != nil {
			o.BaseEndpoint = endpoint
		}
	})
	return NewSender(api, from, configurationSet)
}
