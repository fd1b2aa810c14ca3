package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/seal"
)

// Clinic is a clinic as handoff knows it. Secrets are held opened in memory and
// sealed at rest; the api key only as its SHA-256.
type Clinic struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	ContactEmail     string `json:"contact_email"`
	CallbackURL      string `json:"callback_url,omitempty"`
	CallbackDisabled bool   `json:"callback_disabled,omitempty"` // after a 410
	// ClinicianEmails: whether the referring clinician is emailed on the
	// transitions that matter; nil (a clinic stored before the setting) is
	// the default, see EmailsClinician.
	ClinicianEmails *bool `json:"clinician_emails,omitempty"`
	// SMS: whether handoff may text the clinic's patients (where the
	// deployment texts); nil, a clinic stored before the setting, is yes.
	SMS *bool `json:"sms,omitempty"`
	// FHIR client: the EHR's public keys for SMART Backend Services, inline
	// (a JWKS) or by URL; public keys, not secrets.
	JWKS           string    `json:"jwks,omitempty"`
	JWKSURL        string    `json:"jwks_url,omitempty"`
	APIKeyHash     string    `json:"api_key_hash"`
	WebhookSecret  string    `json:"-"`
	CallbackSecret string    `json:"-"`
	CreatedAt      time.Time `json:"created_at"`
	// RemovedAt is when an operator removed the clinic (see Remove); not
	// stored while zero (omitempty, which the item encoder reads), so a
	// condition can tell a removed clinic by it.
	RemovedAt time.Time `json:"removed_at,omitempty,omitzero"`
	// TTL is when DynamoDB may delete a removed clinic (epoch seconds).
	TTL int64 `json:"expires_at,omitempty"`
}

// TextsPatients reports whether the clinic lets handoff text its patients:
// its setting, else yes. The clinic records by it that its patients agreed to
// texts about their referral.
func (c Clinic) TextsPatients() bool {
	return c.SMS == nil || *c.SMS
}

// EmailsClinician reports whether the clinic's clinicians are emailed: its
// setting, else true unless the clinic takes status webhooks.
func (c Clinic) EmailsClinician() bool {
	if c.ClinicianEmails != nil {
		return *c.ClinicianEmails
	}
	return c.CallbackURL == ""
}

type clinicItem struct {
	Clinic
	Type           string `json:"type"`
	WebhookSecret  []byte `json:"webhook_secret"`
	CallbackSecret []byte `json:"callback_secret,omitempty"`
}

const clinicPrefix = "CLINIC#"

// Clinics stores clinics in DirectoryTable.
type Clinics struct {
	DB     *dynamodb.Client
	Table  string
	Sealer seal.Sealer
}

// Create stores a new clinic; an existing id is a problem.Conflict error.
func (s *Clinics) Create(ctx context.Context, c Clinic) error {
	pk := clinicPrefix + c.ID
	it := clinicItem{Clinic: c, Type: "clinic"}
	var err error
	if it.WebhookSecret, err = s.Sealer.Seal(ctx, []byte(c.WebhookSecret), aadFor(pk, "CLINIC", "webhook_secret")); err != nil {
		return fmt.Errorf("create clinic %s: %w", c.ID, err)
	}
	if c.CallbackSecret != "" {
		if it.CallbackSecret, err = s.Sealer.Seal(ctx, []byte(c.CallbackSecret), aadFor(pk, "CLINIC", "callback_secret")); err != nil {
			return fmt.Errorf("create clinic %s: %w", c.ID, err)
		}
	}
	item, err := marshal(it, pk, "CLINIC")
	if err != nil {
		return fmt.Errorf("create clinic %s: %w", c.ID, err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if conditionFailed(err) {
		return problem.Errorf(problem.Conflict, "a clinic with this id already exists")
	}
	if err != nil {
		return fmt.Errorf("create clinic %s: %w", c.ID, err)
	}
	return nil
}

// Get returns a clinic with its secrets opened, or a problem.NotFound error.
func (s *Clinics) Get(ctx context.Context, id string) (Clinic, error) {
	pk := clinicPrefix + id
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: key(pk, "CLINIC")})
	if err != nil {
		return Clinic{}, fmt.Errorf("get clinic %s: %w", id, err)
	}
	if out.Item == nil {
		return Clinic{}, notFound("clinic")
	}
	var it clinicItem
	if err := unmarshal(out.Item, &it); err != nil {
		return Clinic{}, fmt.Errorf("get clinic %s: %w", id, err)
	}
	c := it.Clinic
	b, err := s.Sealer.Open(ctx, it.WebhookSecret, aadFor(pk, "CLINIC", "webhook_secret"))
	if err != nil {
		return Clinic{}, fmt.Errorf("get clinic %s: webhook secret: %w", id, err)
	}
	c.WebhookSecret = string(b)
	if len(it.CallbackSecret) > 0 {
		b, err := s.Sealer.Open(ctx, it.CallbackSecret, aadFor(pk, "CLINIC", "callback_secret"))
		if err != nil {
			return Clinic{}, fmt.Errorf("get clinic %s: callback secret: %w", id, err)
		}
		c.CallbackSecret = string(b)
	}
	return c, nil
}

// SetFHIRClient registers a clinic's FHIR client keys: an inline JWKS or a
// JWKS URL (the other is cleared). Errors: problem.NotFound.
func (s *Clinics) SetFHIRClient(ctx context.Context, id, jwks, jwksURL string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(clinicPrefix+id, "CLINIC"),
		UpdateExpression:    aws.String("SET jwks = :k, jwks_url = :u"),
		ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": &types.AttributeValueMemberS{Value: jwks}, ":u": &types.AttributeValueMemberS{Value: jwksURL},
		},
	})
	if conditionFailed(err) {
		return notFound("clinic")
	}
	if err != nil {
		return fmt.Errorf("set the FHIR client of clinic %s: %w", id, err)
	}
	return nil
}

// SeenAssertion records a client assertion's jti until exp, and reports
// whether it was recorded before (a replay).
func (s *Referrals) SeenAssertion(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	item := key("JTI#"+clientID+"#"+jti, "JTI")
	item["expires_at"] = num(exp.Add(time.Hour).Unix())
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if conditionFailed(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("record assertion: %w", err)
	}
	return false, nil
}

// DisableCallback stops status webhooks to a clinic (its endpoint answered 410).
func (s *Clinics) DisableCallback(ctx context.Context, id string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(clinicPrefix+id, "CLINIC"),
		UpdateExpression:          aws.String("SET callback_disabled = :t"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if err != nil {
		return fmt.Errorf("disable callback of clinic %s: %w", id, err)
	}
	return nil
}

// Remove ends a removed clinic's access and keeps only what its open
// referrals' pages and emails still name: it deletes the other items of the
// clinic's partition (FHIR Subscriptions and their event numbers), then
// rewrites the clinic with its name, its texting setting and a new webhook
// secret (unusable, the caller's: nobody holds it), without its api key,
// contact, callback, clinician emails or FHIR client keys, and with removed_at
// and a TTL (ttl, epoch seconds). Removing a removed clinic changes nothing.
// It returns the clinic as removed, or a problem.NotFound error.
func (s *Clinics) Remove(ctx context.Context, id, unusableSecret string, at time.Time, ttl int64) (Clinic, error) {
	pk := clinicPrefix + id
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: key(pk, "CLINIC"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Clinic{}, fmt.Errorf("remove clinic %s: %w", id, err)
	}
	if out.Item == nil {
		return Clinic{}, notFound("clinic")
	}
	var it clinicItem
	if err := unmarshal(out.Item, &it); err != nil {
		return Clinic{}, fmt.Errorf("remove clinic %s: %w", id, err)
	}
	if !it.RemovedAt.IsZero() {
		return it.Clinic, nil
	}
	// The partition's other items first: a failure leaves the clinic as it
	// was, and removing again finishes the job.
	in := &dynamodb.QueryInput{
		TableName: &s.Table, KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ProjectionExpression:      aws.String("PK, SK"),
	}
	for {
		page, err := s.DB.Query(ctx, in)
		if err != nil {
			return Clinic{}, fmt.Errorf("remove clinic %s: %w", id, err)
		}
		for _, item := range page.Items {
			if sk, _ := item["SK"].(*types.AttributeValueMemberS); sk == nil || sk.Value == "CLINIC" {
				continue
			}
			if _, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.Table, Key: map[string]types.AttributeValue{"PK": item["PK"], "SK": item["SK"]}}); err != nil {
				return Clinic{}, fmt.Errorf("remove clinic %s: %w", id, err)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	kept := Clinic{ID: id, Name: it.Name, SMS: it.SMS, ClinicianEmails: new(false), CreatedAt: it.CreatedAt, RemovedAt: at.UTC(), TTL: ttl}
	next := clinicItem{Clinic: kept, Type: "clinic"}
	if next.WebhookSecret, err = s.Sealer.Seal(ctx, []byte(unusableSecret), aadFor(pk, "CLINIC", "webhook_secret")); err != nil {
		return Clinic{}, fmt.Errorf("remove clinic %s: %w", id, err)
	}
	item, err := marshal(next, pk, "CLINIC")
	if err != nil {
		return Clinic{}, fmt.Errorf("remove clinic %s: %w", id, err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table, Item: item, ConditionExpression: aws.String("attribute_exists(PK)"),
	})
	if conditionFailed(err) {
		return Clinic{}, notFound("clinic")
	}
	if err != nil {
		return Clinic{}, fmt.Errorf("remove clinic %s: %w", id, err)
	}
	return kept, nil
}
