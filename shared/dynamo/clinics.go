package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
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
	JWKS    string `json:"jwks,omitempty"`
	JWKSURL string `json:"jwks_url,omitempty"`
	// SMART app: the EHR that launches handoff for this clinic (its FHIR
	// base URL, the iss of its launches) and the client id it gave handoff.
	SMARTISS      string `json:"smart_iss,omitempty"`
	SMARTClientID string `json:"smart_client_id,omitempty"`
	// SMARTFrameOrigins are the origins of the EHR's pages that may show
	// the launch's pages in a frame (an embedded launch); none, no frame.
	SMARTFrameOrigins []string  `json:"smart_frame_origins,omitempty"`
	APIKeyHash        string    `json:"api_key_hash"`
	WebhookSecret     string    `json:"-"`
	CallbackSecret    string    `json:"-"`
	CreatedAt         time.Time `json:"created_at"`
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
// JWKS URL (the other is cleared). Errors: problem.NotFound (no such
// clinic, or a removed one).
func (s *Clinics) SetFHIRClient(ctx context.Context, id, jwks, jwksURL string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(clinicPrefix+id, "CLINIC"),
		UpdateExpression:    aws.String("SET jwks = :k, jwks_url = :u"),
		ConditionExpression: aws.String("attribute_exists(PK) AND attribute_not_exists(removed_at)"),
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

// SMARTApp is a clinic's registration of the EHR that launches handoff.
type SMARTApp struct {
	ClinicID string `json:"clinic_id"`
	ISS      string `json:"iss"`
	ClientID string `json:"client_id"`
	// FrameOrigins are the origins of the EHR's pages that may frame the
	// launch (Clinic.SMARTFrameOrigins).
	FrameOrigins []string `json:"frame_origins,omitempty"`
}

const smartISSPrefix = "SMARTISS#"

// smartISSKey is the lookup item of an EHR's iss: by the SHA-256 of the iss
// without a trailing slash (an iss may be long; "…/fhir" and "…/fhir/" are
// one EHR).
func smartISSKey(iss string) map[string]types.AttributeValue {
	sum := sha256.Sum256([]byte(strings.TrimRight(iss, "/")))
	return key(smartISSPrefix+hex.EncodeToString(sum[:]), "SMARTISS")
}

// SetSMARTApp registers the EHR that launches handoff for a clinic — its
// iss, the client id it gave handoff and the origins that may frame the
// launch — replacing the clinic's earlier
// one, in one transaction with the iss's lookup item (SMARTAppByISS). An
// iss belongs to one clinic. Errors: problem.NotFound (no such clinic, or a
// removed one), problem.Conflict (another clinic registered this iss, or the
// clinic's registration changed meanwhile).
func (s *Clinics) SetSMARTApp(ctx context.Context, a SMARTApp) error {
	ck := key(clinicPrefix+a.ClinicID, "CLINIC")
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.Table, Key: ck, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK, smart_iss, removed_at"),
	})
	if err != nil {
		return fmt.Errorf("set the SMART app of clinic %s: %w", a.ClinicID, err)
	}
	if out.Item == nil || out.Item["removed_at"] != nil {
		return notFound("clinic")
	}
	var prev struct {
		ISS string `json:"smart_iss"`
	}
	if err := unmarshal(out.Item, &prev); err != nil {
		return fmt.Errorf("set the SMART app of clinic %s: %w", a.ClinicID, err)
	}
	lookup, err := marshal(a, smartISSKey(a.ISS)["PK"].(*types.AttributeValueMemberS).Value, "SMARTISS")
	if err != nil {
		return fmt.Errorf("set the SMART app of clinic %s: %w", a.ClinicID, err)
	}
	cond := "attribute_exists(PK) AND attribute_not_exists(removed_at) AND smart_iss = :prev"
	values := map[string]types.AttributeValue{
		":iss": str(a.ISS), ":client": str(a.ClientID), ":prev": str(prev.ISS),
	}
	// A null list is none (SET, not REMOVE: see ForgetLaunch).
	values[":frames"] = &types.AttributeValueMemberNULL{Value: true}
	if len(a.FrameOrigins) > 0 {
		values[":frames"] = strList(a.FrameOrigins)
	}
	if prev.ISS == "" {
		cond = "attribute_exists(PK) AND attribute_not_exists(removed_at) AND (attribute_not_exists(smart_iss) OR smart_iss = :prev)"
	}
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.Table, Key: ck, ConditionExpression: aws.String(cond),
			UpdateExpression: aws.String("SET smart_iss = :iss, smart_client_id = :client, smart_frame_origins = :frames"), ExpressionAttributeValues: values,
		}},
		{Put: &types.Put{
			TableName: &s.Table, Item: lookup, ConditionExpression: aws.String("attribute_not_exists(PK) OR clinic_id = :clinic"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":clinic": str(a.ClinicID)},
		}},
	}
	if prev.ISS != "" && strings.TrimRight(prev.ISS, "/") != strings.TrimRight(a.ISS, "/") {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.Table, Key: smartISSKey(prev.ISS)}})
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err == nil:
		return nil
	case cancelledBy(err, 1):
		return problem.Errorf(problem.Conflict, "another clinic registered this EHR (iss)")
	case cancelledBy(err, 0), transactionConflict(err):
		return problem.Errorf(problem.Conflict, "the clinic's SMART app changed meanwhile; try again")
	}
	return fmt.Errorf("set the SMART app of clinic %s: %w", a.ClinicID, err)
}

// SMARTAppByISS returns the registration of the EHR an iss names (with or
// without a trailing slash), or a problem.NotFound error: one GetItem.
func (s *Clinics) SMARTAppByISS(ctx context.Context, iss string) (SMARTApp, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: smartISSKey(iss)})
	if err != nil {
		return SMARTApp{}, fmt.Errorf("find the SMART app: %w", err)
	}
	if out.Item == nil {
		return SMARTApp{}, notFound("SMART app")
	}
	var a SMARTApp
	if err := unmarshal(out.Item, &a); err != nil {
		return SMARTApp{}, fmt.Errorf("find the SMART app: %w", err)
	}
	return a, nil
}

// SeenAssertion records a client assertion's jti until exp, and reports
// whether it was recorded before (a replay).
func (s *Referrals) SeenAssertion(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	return s.seenOnce(ctx, key("JTI#"+clientID+"#"+jti, "JTI"), exp, "record assertion")
}

// seenOnce writes item (a token's key) unless it is there, to expire an
// hour past exp (TTL then removes it), and reports whether it was there: a
// replay. Other errors are wrapped with what.
func (s *Referrals) seenOnce(ctx context.Context, item map[string]types.AttributeValue, exp time.Time, what string) (bool, error) {
	item["expires_at"] = num(exp.Add(time.Hour).Unix())
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if conditionFailed(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
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
// referrals' pages and emails still name: it deletes the lookup of the EHR
// that launches handoff for it (so a launch from that EHR is refused as an
// unregistered one's) and the other items of the clinic's partition (FHIR
// Subscriptions, their endpoints, counts and event numbers, the staff list),
// then rewrites the clinic with its name, its texting setting and a new
// webhook secret (unusable, the caller's: nobody holds it), without its api
// key, contact, callback, clinician emails, FHIR client keys or SMART app,
// and with removed_at and a TTL (ttl, epoch seconds); a removed clinic takes
// no new keys, SMART app or staff. Removing a removed clinic changes nothing.
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
	// The EHR's launch lookup, while it still names this clinic, and the
	// partition's other items first: a failure leaves the clinic as it was,
	// and removing again finishes the job.
	if it.SMARTISS != "" {
		_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &s.Table, Key: smartISSKey(it.SMARTISS), ConditionExpression: aws.String("clinic_id = :c"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(id)},
		})
		if err != nil && !conditionFailed(err) {
			return Clinic{}, fmt.Errorf("remove clinic %s: %w", id, err)
		}
	}
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
