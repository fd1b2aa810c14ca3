package dynamo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// ListIndexKey is a clinic's partition in clinic-index for its list of
// referrals, however they came (a webhook, a FHIR Task, the clinic's
// pages), keyed by creation time.
func ListIndexKey(clinicID string) string { return "REFS#" + clinicID }

// listKey is a referral's sort key in its clinic's list.
func listKey(r *referral.Referral) string { return timeKey(r.CreatedAt) + "#" + r.ID }

// listSK is the sort key, in a FHIR-created referral's partition, of the
// item that lists it: its own item's index keys serve the Task search. It
// lives and expires with the referral (ExpireReferral).
const listSK = "LIST"

// listItem is the item that puts a FHIR-created referral in its clinic's
// list, or nil for any other (whose own item is listed).
func listItem(r *referral.Referral) map[string]types.AttributeValue {
	if r.Source != "fhir" {
		return nil
	}
	return map[string]types.AttributeValue{
		"PK": str(refPrefix + r.ID), "SK": str(listSK),
		"GSI2PK": str(ListIndexKey(r.ClinicID)), "GSI2SK": str(listKey(r)),
	}
}

// ClinicPage is one page of a clinic's referrals, newest first, and the
// creation key to continue before ("" when there is no more).
type ClinicPage struct {
	Referrals []*referral.Referral
	Before    string
}

// ClinicReferrals lists up to limit (at most 100) of a clinic's referrals,
// however they came, newest first, created before before (a ClinicPage's
// Before, or "" for the newest): one Query of clinic-index (keys only)
// and one BatchGetItem of the referrals (their contact opened, for the
// given name). Errors: problem.Invalid for a before this did not give;
// problem.Unavailable when the batch read stays unfinished.
func (s *Referrals) ClinicReferrals(ctx context.Context, clinicID, before string, limit int) (ClinicPage, error) {
	cond := "GSI2PK = :pk"
	values := map[string]types.AttributeValue{":pk": str(ListIndexKey(clinicID))}
	if before != "" {
		if _, err := time.Parse(sortableTime, strings.SplitN(before, "#", 2)[0]); err != nil || !strings.Contains(before, "#") {
			return ClinicPage{}, problem.Invalidf([]problem.FieldError{{Field: "before", Detail: "is not a page of this list"}}, "The page is not valid.")
		}
		cond += " AND GSI2SK < :before"
		values[":before"] = str(before)
	}
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.Table, IndexName: aws.String(clinicIndex), ScanIndexForward: aws.Bool(false),
		KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: values, Limit: aws.Int32(int32(limit)),
	})
	if err != nil {
		return ClinicPage{}, fmt.Errorf("list clinic referrals: %w", err)
	}
	var (
		page ClinicPage
		ids  []string
		last string
	)
	for _, item := range out.Items {
		sk, _ := item["GSI2SK"].(*types.AttributeValueMemberS)
		if sk == nil {
			continue
		}
		id := sk.Value[strings.LastIndexByte(sk.Value, '#')+1:]
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
		last = sk.Value
	}
	if len(out.LastEvaluatedKey) > 0 {
		page.Before = last
	}
	if len(ids) == 0 {
		return page, nil
	}
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = refKey(id)
	}
	got := map[string]*referral.Referral{}
	req := map[string]types.KeysAndAttributes{s.Table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt == 5 {
			return ClinicPage{}, fmt.Errorf("list clinic referrals: %w", problem.Errorf(problem.Unavailable, "the list could not be read whole; try again"))
		}
		res, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return ClinicPage{}, fmt.Errorf("list clinic referrals: %w", err)
		}
		for _, item := range res.Responses[s.Table] {
			if s.expired(item) {
				continue
			}
			r, err := s.fromItem(ctx, item)
			if err != nil {
				return ClinicPage{}, fmt.Errorf("list clinic referrals: %w", err)
			}
			got[r.ID] = r
		}
		req = res.UnprocessedKeys
	}
	for _, id := range ids {
		if r, ok := got[id]; ok && r.ClinicID == clinicID {
			page.Referrals = append(page.Referrals, r)
		}
	}
	return page, nil
}

// PutToken stores a link token of its own (a referral's QR link), with no
// other change.
func (s *Referrals) PutToken(ctx context.Context, t Token) error {
	item, err := marshal(t, tokenPrefix+t.Hash, "TOK")
	if err != nil {
		return fmt.Errorf("put token: %w", err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if err != nil {
		return fmt.Errorf("put token: %w", err)
	}
	return nil
}

// OpenOnce marks a one-opening link token opened at at, once, and writes
// ev (the opening's effect) in the same transaction. Errors: problem.Gone
// for a second opening, or a token that is gone.
func (s *Referrals) OpenOnce(ctx context.Context, hash string, at time.Time, ev referral.Event) error {
	put, err := s.eventPut(ev, 0)
	if err != nil {
		return fmt.Errorf("open link: %w", err)
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.Table, Key: key(tokenPrefix+hash, "TOK"),
			UpdateExpression:          aws.String("SET opened_at = :t"),
			ConditionExpression:       aws.String("attribute_exists(PK) AND attribute_not_exists(opened_at)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(at.UTC().Format(time.RFC3339Nano))},
		}},
		put,
	}})
	if cancelledBy(err, 0) || transactionConflict(err) {
		return problem.Errorf(problem.Gone, "this link was used already")
	}
	if err != nil {
		return fmt.Errorf("open link: %w", err)
	}
	return nil
}

// QRLink is a referral's current QR link: its number (the link token is
// derived from the referral and it) and the token's hash. It lives in the
// referral's partition (SK "QR").
type QRLink struct {
	Seq  int    `json:"seq"`
	Hash string `json:"hash"`
}

const qrSK = "QR"

// QRLink returns a referral's current QR link and its token's record, or a
// problem.NotFound error when it has none.
func (s *Referrals) QRLink(ctx context.Context, referralID string) (QRLink, Token, error) {
	var l QRLink
	if err := s.get(ctx, refPrefix+referralID, qrSK, &l); err != nil {
		return QRLink{}, Token{}, err
	}
	t, err := s.Token(ctx, l.Hash)
	if err != nil {
		return QRLink{}, Token{}, err
	}
	return l, t, nil
}

// IssueQR makes t, a link token of kind "qr", the referral's current QR
// link number seq, in one transaction, while the current one is still prev
// (0: none). Errors: problem.Conflict when another was issued meanwhile.
func (s *Referrals) IssueQR(ctx context.Context, t Token, seq, prev int) error {
	tok, err := marshal(t, tokenPrefix+t.Hash, "TOK")
	if err != nil {
		return fmt.Errorf("issue qr link: %w", err)
	}
	head, err := marshal(QRLink{Seq: seq, Hash: t.Hash}, refPrefix+t.ReferralID, qrSK)
	if err != nil {
		return fmt.Errorf("issue qr link: %w", err)
	}
	put := &types.Put{TableName: &s.Table, Item: head, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if prev > 0 {
		put.ConditionExpression = aws.String("seq = :prev")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":prev": num(int64(prev))}
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: put},
		{Put: &types.Put{TableName: &s.Table, Item: tok, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	if anyConditionFailed(err) || transactionConflict(err) {
		return problem.Errorf(problem.Conflict, "another QR code was made meanwhile")
	}
	if err != nil {
		return fmt.Errorf("issue qr link: %w", err)
	}
	return nil
}
