// Package eum is handoff's adapter to AWS End User Messaging SMS
// (pinpointsmsvoicev2): it sends one transactional text from the deployment's
// texting number.
package eum

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/pinpointsmsvoicev2"
	"github.com/aws/aws-sdk-go-v2/service/pinpointsmsvoicev2/types"
	"github.com/aws/smithy-go"

	"github.com/handoff-health/handoff/shared/sms"
)

// Sender sends through End User Messaging SMS.
type Sender struct {
	// send is the client's SendTextMessage: holding the method rather than
	// the client keeps the client's other operations out of the binary.
	send func(context.Context, *pinpointsmsvoicev2.SendTextMessageInput, ...func(*pinpointsmsvoicev2.Options)) (*pinpointsmsvoicev2.SendTextMessageOutput, error)
	// Origin is the texting number: a pool id or a phone number's id or ARN.
	Origin           string
	ConfigurationSet string // optional
}

// NewSender returns a Sender that sends through api from origin.
func NewSender(api *pinpointsmsvoicev2.Client, origin, configurationSet string) *Sender {
	return &Sender{send: api.SendTextMessage, Origin: origin, ConfigurationSet: configurationSet}
}

// New returns a Sender for the given AWS configuration; endpoint, when not
// nil, overrides the service's (AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2).
func New(cfg aws.Config, endpoint *string, origin, configurationSet string) *Sender {
	api := pinpointsmsvoicev2.NewFromConfig(cfg, func(o *pinpointsmsvoicev2.Options) {
		if endpoint != nil {
			o.BaseEndpoint = endpoint
		}
	})
	return NewSender(api, origin, configurationSet)
}

// Send sends t as a transactional text and returns the service's message id.
// A refusal for the number (opted out, not a number that takes texts, its
// country blocked) is an *sms.Unreachable; a throttling refusal wraps
// ErrThrottled; another refusal wraps a smithy.APIError with the service's
// code but not its message, which can name the number.
func (s *Sender) Send(ctx context.Context, t sms.Text) (string, error) {
	in := &pinpointsmsvoicev2.SendTextMessageInput{
		DestinationPhoneNumber: aws.String(t.To),
		OriginationIdentity:    aws.String(s.Origin),
		MessageBody:            aws.String(t.Body),
		MessageType:            types.MessageTypeTransactional,
		Context:                t.Context,
	}
	if s.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(s.ConfigurationSet)
	}
	out, err := s.send(ctx, in)
	if err != nil {
		return "", classify(err)
	}
	return aws.ToString(out.MessageId), nil
}

func classify(err error) error {
	var ce *types.ConflictException
	if errors.As(err, &ce) && ce.Reason == types.ConflictExceptionReasonDestinationPhoneNumberOptedOut {
		return &sms.Unreachable{Reason: string(ce.Reason)}
	}
	var ve *types.ValidationException
	if errors.As(err, &ve) {
		switch ve.Reason {
		case types.ValidationExceptionReasonDestinationCountryBlocked,
			types.ValidationExceptionReasonInvalidParameter,
			types.ValidationExceptionReasonPhoneNumberCannotBeOptedIn:
			// INVALID_PARAMETER on SendTextMessage is the destination
			// number: the other parameters are handoff's own.
			return &sms.Unreachable{Reason: string(ve.Reason)}
		}
	}
	var te *types.ThrottlingException
	var qe *types.ServiceQuotaExceededException
	if errors.As(err, &te) || errors.As(err, &qe) {
		return fmt.Errorf("send text: %w", sms.ErrThrottled)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("send text: %w", &smithy.GenericAPIError{Code: ae.ErrorCode(), Fault: ae.ErrorFault()})
	}
	return fmt.Errorf("send text: %w", err)
}
