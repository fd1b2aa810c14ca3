package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Items of the EHR surface in ReferralsTable: a SMART launch's pending
// state between the redirect to the EHR and its callback, and the jti of
// each CDS Hooks JWT, both with an expires_at, so TTL removes them; and the
// index of open referrals by the patient's key (a keyed hash of the EHR's
// patient id), written with the referral and deleted when it closes.

const (
	launchPrefix     = "LAUNCH#"
	launchSK         = "LAUNCH"
	hookJTIPrefix    = "HOOKJTI#"
	hookJTISK        = "JTI"
	patientKeyPrefix = "PATKEY#"
)

// patientKeyKey is the index item of a referral's patient key: one
// partition per clinic and key, one item per open referral. nil for a
// referral without one.
func patientKeyKey(r *referral.Referral) map[string]types.AttributeValue {
	if r.PatientKey == "" {
		return nil
	}
	return key(patientKeyPrefix+r.ClinicID+"#"+r.PatientKey, refPrefix+r.ID)
}

// patientKeyItem is the index item Create writes, nil for a referral
// without a patient key or one created closed.
func patientKeyItem(r *referral.Referral) map[string]types.AttributeValue {
	k := patientKeyKey(r)
	if k == nil || !r.Status.Open() {
		return nil
	}
	return k
}

// HasOpenReferral reports whether the clinic has an open referral for the
// patient its EHR knows by patientKey: one Query of the key's partition,
// one item at most read.
func (s *Referrals) HasOpenReferral(ctx context.Context, clinicID, patientKey string) (bool, error) {
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.Table, KeyConditionExpression: aws.String("PK = :pk"), Limit: aws.Int32(1),
		ProjectionExpression:      aws.String("PK"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(patientKeyPrefix + clinicID + "#" + patientKey)},
	})
	if err != nil {
		return false, fmt.Errorf("look for an open referral: %w", err)
	}
	return len(out.Items) > 0, nil
}

// PutLaunchState keeps a SMART launch's pending state (opaque here: the
// caller's record, holding no patient data) under the hash of its state
// parameter until exp. A hash already present is a conflict (state values are
// random: it never happens by chance).
func (s *Referrals) PutLaunchState(ctx context.Context, stateHash string, record []byte, exp time.Time) error {
	item := key(launchPrefix+stateHash, launchSK)
	item["record"] = &types.AttributeValueMemberB{Value: record}
	item["expires_at"] = num(exp.Unix())
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if conditionFailed(err) {
		return problem.Errorf(problem.Conflict, "launch state already kept")
	}
	if err != nil {
		return fmt.Errorf("put launch state: %w", err)
	}
	return nil
}

// TakeLaunchState returns a launch's pending state and deletes it in the same
// call, so a state is good for one callback: a second take, like a take of a
// state never kept or past its expiry (TTL deletes late), is NotFound.
func (s *Referrals) TakeLaunchState(ctx context.Context, stateHash string, now time.Time) ([]byte, error) {
	out, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.Table, Key: key(launchPrefix+stateHash, launchSK),
		ConditionExpression:       aws.String("attribute_exists(PK) AND expires_at > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
		ReturnValues:              types.ReturnValueAllOld,
	})
	if conditionFailed(err) {
		return nil, notFound("launch state")
	}
	if err != nil {
		return nil, fmt.Errorf("take launch state: %w", err)
	}
	rec, ok := out.Attributes["record"].(*types.AttributeValueMemberB)
	if !ok {
		return nil, notFound("launch state")
	}
	return rec.Value, nil
}

// SeenHookJTI records a CDS Hooks JWT's jti for its client until an hour past
// exp (TTL then removes it), and reports whether it was recorded before: a
// replay. The record is keyed by a hash of the pair, whatever their length.
func (s *Referrals) SeenHookJTI(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	sum := sha256.Sum256([]byte(strconv.Itoa(len(clientID)) + ":" + clientID + jti))
	return s.seenOnce(ctx, key(hookJTIPrefix+hex.EncodeToString(sum[:]), hookJTISK), exp, "record hook jti")
}
