package dynamo

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/textlimit"
)

// The texts a patient's number got are counted in one item per number in
// ReferralsTable (see docs/DATA.md): its key is an HMAC of the number, never
// the number, and it holds the instants of the last texts and the claims
// that took them. Every text to a patient takes its slot here first
// (TakeText): the one place handoff's text limits are kept.
const (
	textsPrefix = "TEXTS#"
	textsSK     = "TEXTS"
	// textClaims is how many claims an item remembers: a retried send finds
	// its own among them.
	textClaims = 8
	// textsKept is how long a number's record lives after its last text:
	// past the longest window counted (seven days), it limits nothing.
	textsKept = 8 * 24 * time.Hour
	// takeAttempts bounds the tries of a take that lost a race.
	takeAttempts = 5
)

// TextRequest is one text to a patient's number that asks for a slot.
type TextRequest struct {
	// Number is the patient's phone number (E.164). It is hashed with the
	// key; it is never stored.
	Number string
	// Claim names this send for good (e.g. "<event id>/sms"): taking the
	// slot again with the same claim, as a retry of the same effect does,
	// counts once. Ids only.
	Claim string
	// Now is the moment of the send; Zone the patient's time zone (days and
	// hours are counted in it; UTC when nil).
	Now  time.Time
	Zone *time.Location
	// Latest is the last moment the text is of use (zero: none); Email
	// tells that the patient can be emailed instead (see textlimit.Decide).
	Latest time.Time
	Email  bool
}

// textsItem is a number's record as stored.
type textsItem struct {
	Type    string   `json:"type"`
	Sends   []int64  `json:"sends"`  // unix seconds, oldest first
	Claims  []string `json:"claims"` // the claims that took them, oldest first
	Version int      `json:"version"`
	Expires int64    `json:"expires_at"`
}

// TextKey is the partition key of a number's record: an HMAC-SHA256 of the
// number under key (the deployment's link key), so the table never holds
// the number and no one without the key can tell whose record it is.
func TextKey(key []byte, number string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("text-limit|" + number))
	return textsPrefix + hex.EncodeToString(m.Sum(nil))
}

// TakeText asks p (textlimit.Default when zero) whether the text of req may
// go now to its number and, when it may, takes the slot: the send is
// recorded with its claim in a write conditional on the record as read, so
// two sends at once cannot both take the last slot (the one that loses
// reads again and is told to wait). A claim already recorded is a retry of
// a send that took its slot: SendNow again, counted once. Any other answer
// records nothing: textlimit.Wait (send at Decision.At), ByEmail or Skip.
// key is the HMAC key numbers are hashed with (see TextKey).
//
// It costs one consistent GetItem and, when the text may go, one PutItem
// (1 WCU; its item is under 1 KB). It returns a problem.Invalid error for a
// request without a number or a claim, a problem.Conflict error when other
// sends to the number keep winning, and wrapped DynamoDB errors.
func (s *Referrals) TakeText(ctx context.Context, key []byte, p textlimit.Policy, req TextRequest) (textlimit.Decision, error) {
	if req.Number == "" || req.Claim == "" || len(key) == 0 {
		return textlimit.Decision{}, problem.Errorf(problem.Invalid, "a text's slot needs a number, a claim and a key")
	}
	if p == (textlimit.Policy{}) {
		p = textlimit.Default
	}
	pk := TextKey(key, req.Number)
	for range takeAttempts {
		it, found, err := s.loadTexts(ctx, pk, req.Now)
		if err != nil {
			return textlimit.Decision{}, fmt.Errorf("take text slot: %w", err)
		}
		if slices.Contains(it.Claims, req.Claim) {
			return textlimit.Decision{Kind: textlimit.SendNow}, nil
		}
		sends := make(textlimit.Sends, len(it.Sends))
		for i, u := range it.Sends {
			sends[i] = time.Unix(u, 0)
		}
		d := p.Decide(sends, req.Now, req.Zone, req.Latest, req.Email)
		if d.Kind != textlimit.SendNow {
			return d, nil
		}
		next := textsItem{Type: "texts", Version: it.Version + 1, Expires: req.Now.Add(textsKept).Unix()}
		for _, t := range sends.Keep(req.Now.Truncate(time.Second), max(p.PerWeek, 1)) {
			next.Sends = append(next.Sends, t.Unix())
		}
		next.Claims = append(slices.Clone(it.Claims), req.Claim)
		if len(next.Claims) > textClaims {
			next.Claims = next.Claims[len(next.Claims)-textClaims:]
		}
		err = s.putTexts(ctx, pk, next, it.Version, found)
		if conditionFailed(err) {
			continue // another send to the number won: read again
		}
		if err != nil {
			return textlimit.Decision{}, fmt.Errorf("take text slot: %w", err)
		}
		return d, nil
	}
	return textlimit.Decision{}, problem.Errorf(problem.Conflict, "Other texts to the same number were being sent at the same time; try again.")
}

// ReleaseText gives back the slot claim took, for a text that was never
// delivered to the network (the send failed for good before it left):
// the send and its claim leave the record, conditionally as TakeText
// writes. Releasing a claim the record does not hold does nothing. Errors
// as TakeText's.
func (s *Referrals) ReleaseText(ctx context.Context, key []byte, number, claim string) error {
	pk := TextKey(key, number)
	for range takeAttempts {
		it, found, err := s.loadTexts(ctx, pk, time.Time{})
		if err != nil {
			return fmt.Errorf("release text slot: %w", err)
		}
		i := slices.Index(it.Claims, claim)
		if !found || i < 0 {
			return nil
		}
		// The claim's send is the one at the same distance from the end.
		j := len(it.Sends) - (len(it.Claims) - i)
		next := it
		next.Version++
		next.Claims = slices.Delete(slices.Clone(it.Claims), i, i+1)
		if j >= 0 && j < len(it.Sends) {
			next.Sends = slices.Delete(slices.Clone(it.Sends), j, j+1)
		}
		err = s.putTexts(ctx, pk, next, it.Version, true)
		if conditionFailed(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("release text slot: %w", err)
		}
		return nil
	}
	return problem.Errorf(problem.Conflict, "Other texts to the same number were being sent at the same time; try again.")
}

// loadTexts reads a number's record. A record whose time ran out by now
// (zero: never) holds nothing that still counts: it reads as empty, with
// its version, which still guards the write.
func (s *Referrals) loadTexts(ctx context.Context, pk string, now time.Time) (textsItem, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: key(pk, textsSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return textsItem{}, false, err
	}
	if out.Item == nil {
		return textsItem{}, false, nil
	}
	var it textsItem
	if err := unmarshal(out.Item, &it); err != nil {
		return textsItem{}, false, err
	}
	if !now.IsZero() && it.Expires > 0 && it.Expires <= now.Unix() {
		return textsItem{Version: it.Version}, true, nil
	}
	return it, true, nil
}

// putTexts writes a number's record if it is still at version (or, when it
// was not found, still absent).
func (s *Referrals) putTexts(ctx context.Context, pk string, it textsItem, version int, found bool) error {
	item, err := marshal(it, pk, textsSK)
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}
	if found {
		in.ConditionExpression = aws.String("version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": num(int64(version))}
	} else {
		in.ConditionExpression = aws.String("attribute_not_exists(PK)")
	}
	_, err = s.DB.PutItem(ctx, in)
	return err
}
