package dynamo

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
)

// Staff stores the people of a clinic who use its own pages, their passkeys
// and sessions, the operator's sessions, passkey ceremonies in progress,
// one-time staff links and rate counts, in DirectoryTable (docs/DATA.md,
// "Clinic staff"). Writes that also start an email put its event in
// ReferralsTable, in the same transaction.
type Staff struct {
	DB        *dynamodb.Client
	Table     string // DirectoryTable
	Referrals *Referrals
	// Now is the clock reads compare TTLs with (time.Now when nil).
	Now func() time.Time
}

func (s *Staff) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Key prefixes of DirectoryTable's staff items.
const (
	staffPrefix    = "STAFF#"     // PK of a staff member's own partition
	staffSK        = "STAFF"      // the member
	keySKPrefix    = "KEY#"       // a passkey, in the member's partition
	sessionPrefix  = "SESSION#"   // an operator session, in ADMIN
	authPrefix     = "AUTH#"      // a staff session, in the member's partition (sorts before KEY# and STAFF)
	staffMailPK    = "STAFFMAIL#" // the email index
	staffTokenPK   = "STAFFTOK#"  // a one-time staff link
	ceremonyPK     = "CEREMONY#"  // a passkey ceremony in progress
	ratePK         = "RATE#"      // a rate count
	adminPartition = "ADMIN"      // the operator's sessions
	ehrSessionPK   = "EHRAUTH#"   // a session an EHR launch opened
)

// EHRUser stands, where a staff id goes, for the clinician an EHR launch
// signed in: a session of theirs is no registered staff member's.
const EHRUser = "ehr"

// Member is one person of a clinic's staff. The name and address are the
// staff member's own, given by the operator; no patient data.
type Member struct {
	ID           string    `json:"id"`
	ClinicID     string    `json:"clinic_id"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	CreatedAt    time.Time `json:"created_at"`
	RegisteredAt time.Time `json:"registered_at,omitempty"` // first passkey
}

// Passkey is one WebAuthn credential of a staff member: its id, its record
// as the passkey adapter keeps it (opaque here), and its sign count.
type Passkey struct {
	ID        []byte `json:"-"`
	Record    []byte `json:"record"`
	SignCount uint32 `json:"sign_count"`
}

type passkeyItem struct {
	Type      string    `json:"type"`
	ID        string    `json:"id"` // base64url
	Record    []byte    `json:"record"`
	SignCount uint32    `json:"sign_count"`
	CreatedAt time.Time `json:"created_at"`
}

// Session is a signed-in browser's server-side record: a staff member's
// (Clinic and Staff set), the operator's (Bind holds the SHA-256 of the
// admin token it was opened with), or an EHR user's (Staff is EHRUser,
// EHRUser their fhirUser, Bind what the clinic's SMART app registration
// was when the launch opened it, Launch what the launch brought; Embedded
// for a launch inside a frame of the EHR's page, Referral the referral
// made from its form).
type Session struct {
	Clinic  string `json:"clinic_id,omitempty"`
	Staff   string `json:"staff_id,omitempty"`
	Bind    string `json:"bind,omitempty"`
	EHRUser string `json:"ehr_user,omitempty"`
	// Embedded: an EHR user's session opened inside a frame of the EHR's
	// page, good for its launch's form and the referral made from it.
	Embedded bool `json:"embedded,omitempty"`
	// Referral is the referral made from the launch's form, once made.
	Referral string    `json:"referral_id,omitempty"`
	Created  time.Time `json:"created_at"`
	Expires  time.Time `json:"expires_at_time"`
	TTL      int64     `json:"expires_at"`
	// Launch is the caller's record of an EHR launch (a form's prefill: a
	// patient's data), sealed at rest, bound to the session's item.
	Launch []byte `json:"-"`
}

// sessionItem is a session as stored.
type sessionItem struct {
	Session
	Launch []byte `json:"launch,omitempty"`
}

// Ceremony is a passkey ceremony in progress: the adapter's state between
// the options and the browser's answer, for a registration (Staff set) or a
// sign-in.
type Ceremony struct {
	Kind    string    `json:"kind"` // "register" or "login"
	Clinic  string    `json:"clinic_id,omitempty"`
	Staff   string    `json:"staff_id,omitempty"`
	State   []byte    `json:"state"`
	Expires time.Time `json:"expires_at_time"`
	TTL     int64     `json:"expires_at"`
}

func memberKey(staffID string) map[string]types.AttributeValue {
	return key(staffPrefix+staffID, staffSK)
}

// EmailKey is the stored form of a staff member's address: the SHA-256 of
// it in lower case, hex.
type EmailKey string

// NewStaff is a staff member to invite, with the invitation's link token
// and email event (in the member's event partition).
type NewStaff struct {
	Member Member
	Email  EmailKey
	Token  Token // kind "invite", with StaffID
	Event  referral.Event
}

// StaffPartition is the event partition of a staff member's emails (the
// invitation, sign-in links).
func StaffPartition(staffID string) string { return "staff-" + staffID }

// Invite stores a new staff member of an existing clinic with the email
// index, the invitation token and its email event, in one transaction.
// Errors: problem.NotFound (no such clinic, or a removed one), problem.Conflict (the address
// belongs to staff already).
func (s *Staff) Invite(ctx context.Context, n NewStaff) error {
	m := n.Member
	member, err := marshal(struct {
		Member
		Type string `json:"type"`
	}{m, "staff"}, staffPrefix+m.ID, staffSK)
	if err != nil {
		return fmt.Errorf("invite staff: %w", err)
	}
	pointer, err := marshal(struct {
		Member
		Type string `json:"type"`
	}{m, "staff"}, clinicPrefix+m.ClinicID, staffPrefix+m.ID)
	if err != nil {
		return fmt.Errorf("invite staff: %w", err)
	}
	index, err := marshal(map[string]string{"clinic_id": m.ClinicID, "staff_id": m.ID}, staffMailPK+string(n.Email), "STAFFMAIL")
	if err != nil {
		return fmt.Errorf("invite staff: %w", err)
	}
	tok, err := marshal(n.Token, staffTokenPK+n.Token.Hash, "STAFFTOK")
	if err != nil {
		return fmt.Errorf("invite staff: %w", err)
	}
	ev, err := s.Referrals.eventPut(n.Event, 0)
	if err != nil {
		return fmt.Errorf("invite staff: %w", err)
	}
	notExists := aws.String("attribute_not_exists(PK)")
	items := []types.TransactWriteItem{
		// A removed clinic (see Clinics.Remove) takes no new staff.
		{ConditionCheck: &types.ConditionCheck{TableName: &s.Table, Key: key(clinicPrefix+m.ClinicID, "CLINIC"), ConditionExpression: aws.String("attribute_exists(PK) AND attribute_not_exists(removed_at)")}},
		{Put: &types.Put{TableName: &s.Table, Item: index, ConditionExpression: notExists}},
		{Put: &types.Put{TableName: &s.Table, Item: member, ConditionExpression: notExists}},
		{Put: &types.Put{TableName: &s.Table, Item: pointer, ConditionExpression: notExists}},
		{Put: &types.Put{TableName: &s.Table, Item: tok, ConditionExpression: notExists}},
		ev,
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err == nil:
		return nil
	case cancelledBy(err, 0):
		return notFound("clinic")
	case cancelledBy(err, 1):
		return problem.Errorf(problem.Conflict, "this address belongs to a staff member already")
	}
	return fmt.Errorf("invite staff of %s: %w", m.ClinicID, err)
}

// Member returns a staff member, or a problem.NotFound error.
func (s *Staff) Member(ctx context.Context, staffID string) (Member, error) {
	var m Member
	if err := s.get(ctx, memberKey(staffID), &m); err != nil {
		return Member{}, fmt.Errorf("get staff %s: %w", staffID, err)
	}
	return m, nil
}

// MemberWithPasskeys returns a staff member and their passkeys with one
// Query of their partition, or a problem.NotFound error.
func (s *Staff) MemberWithPasskeys(ctx context.Context, staffID string) (Member, []Passkey, error) {
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.Table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("PK = :pk AND SK >= :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(staffPrefix + staffID), ":k": str(keySKPrefix), // KEY#… and STAFF; sessions (AUTH#…) sort before
		},
	})
	if err != nil {
		return Member{}, nil, fmt.Errorf("get staff %s: %w", staffID, err)
	}
	var (
		m     Member
		keys  []Passkey
		found bool
	)
	for _, item := range out.Items {
		sk := item["SK"].(*types.AttributeValueMemberS).Value
		switch {
		case sk == staffSK:
			if err := unmarshal(item, &m); err != nil {
				return Member{}, nil, fmt.Errorf("get staff %s: %w", staffID, err)
			}
			found = true
		case strings.HasPrefix(sk, keySKPrefix):
			var it passkeyItem
			if err := unmarshal(item, &it); err != nil {
				return Member{}, nil, fmt.Errorf("get staff %s: %w", staffID, err)
			}
			id, err := base64.RawURLEncoding.DecodeString(it.ID)
			if err != nil {
				return Member{}, nil, fmt.Errorf("get staff %s: passkey id: %w", staffID, err)
			}
			keys = append(keys, Passkey{ID: id, Record: it.Record, SignCount: it.SignCount})
		}
	}
	if !found {
		return Member{}, nil, notFound("staff member")
	}
	return m, keys, nil
}

// ByEmail returns the staff member an address belongs to, or a
// problem.NotFound error.
func (s *Staff) ByEmail(ctx context.Context, email EmailKey) (Member, error) {
	var ix struct {
		StaffID string `json:"staff_id"`
	}
	if err := s.get(ctx, key(staffMailPK+string(email), "STAFFMAIL"), &ix); err != nil {
		return Member{}, err
	}
	return s.Member(ctx, ix.StaffID)
}

// List returns a clinic's staff, oldest first.
func (s *Staff) List(ctx context.Context, clinicID string) ([]Member, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.Table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :s)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(clinicPrefix + clinicID), ":s": str(staffPrefix),
		},
	}
	var out []Member
	for first := true; first || in.ExclusiveStartKey != nil; first = false {
		page, err := s.DB.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list staff of %s: %w", clinicID, err)
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		for _, item := range page.Items {
			var m Member
			if err := unmarshal(item, &m); err != nil {
				return nil, fmt.Errorf("list staff of %s: %w", clinicID, err)
			}
			out = append(out, m)
		}
	}
	return out, nil // ids are ULIDs: sort-key order is the order of invitation
}

// Remove deletes a staff member of a clinic with their passkeys, sessions
// and address: every session they had ends, every passkey stops working.
// Errors: problem.NotFound (no such member of that clinic).
func (s *Staff) Remove(ctx context.Context, clinicID, staffID string, email EmailKey) error {
	m, err := s.Member(ctx, staffID)
	if err != nil {
		return err
	}
	if m.ClinicID != clinicID {
		return notFound("staff member")
	}
	// The member first: from then on no session or passkey of theirs is
	// accepted, whatever is left to delete.
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.Table, Key: memberKey(staffID)}},
		{Delete: &types.Delete{TableName: &s.Table, Key: key(clinicPrefix+clinicID, staffPrefix+staffID)}},
		{Delete: &types.Delete{TableName: &s.Table, Key: key(staffMailPK+string(email), "STAFFMAIL")}},
	}})
	if err != nil {
		return fmt.Errorf("remove staff %s: %w", staffID, err)
	}
	in := &dynamodb.QueryInput{
		TableName: &s.Table, ProjectionExpression: aws.String("PK, SK"),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(staffPrefix + staffID)},
	}
	for first := true; first || in.ExclusiveStartKey != nil; first = false {
		page, err := s.DB.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("remove staff %s: %w", staffID, err)
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		for _, k := range page.Items {
			if _, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.Table, Key: k}); err != nil {
				return fmt.Errorf("remove staff %s: %w", staffID, err)
			}
		}
	}
	return nil
}

// AddPasskey stores a staff member's new passkey and marks them registered,
// in one transaction, while they are still staff. Errors: problem.NotFound
// (no longer staff), problem.Conflict (the passkey is stored already).
func (s *Staff) AddPasskey(ctx context.Context, staffID string, k Passkey, now time.Time) error {
	it, err := marshal(passkeyItem{Type: "passkey", ID: base64.RawURLEncoding.EncodeToString(k.ID), Record: k.Record, SignCount: k.SignCount, CreatedAt: now},
		staffPrefix+staffID, keySKPrefix+base64.RawURLEncoding.EncodeToString(k.ID))
	if err != nil {
		return fmt.Errorf("add passkey of %s: %w", staffID, err)
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.Table, Key: memberKey(staffID),
			UpdateExpression:          aws.String("SET registered_at = if_not_exists(registered_at, :t)"),
			ConditionExpression:       aws.String("attribute_exists(PK)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(now.UTC().Format(time.RFC3339Nano))},
		}},
		{Put: &types.Put{TableName: &s.Table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	switch {
	case err == nil:
		return nil
	case cancelledBy(err, 0):
		return notFound("staff member")
	case cancelledBy(err, 1):
		return problem.Errorf(problem.Conflict, "this passkey is registered already")
	}
	return fmt.Errorf("add passkey of %s: %w", staffID, err)
}

// UsePasskey stores a passkey's record after a sign-in, only while its sign
// count is still the one read (prev): of two sign-ins racing with one
// answer, one wins. Errors: problem.Conflict (the count moved meanwhile, or
// the passkey is gone).
func (s *Staff) UsePasskey(ctx context.Context, staffID string, k Passkey, prev uint32) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(staffPrefix+staffID, keySKPrefix+base64.RawURLEncoding.EncodeToString(k.ID)),
		UpdateExpression:          aws.String("SET #r = :r, sign_count = :n"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND sign_count = :prev"),
		ExpressionAttributeNames:  map[string]string{"#r": "record"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberB{Value: k.Record}, ":n": num(int64(k.SignCount)), ":prev": num(int64(prev))},
	})
	if conditionFailed(err) {
		return problem.Errorf(problem.Conflict, "the passkey was used meanwhile")
	}
	if err != nil {
		return fmt.Errorf("update passkey of %s: %w", staffID, err)
	}
	return nil
}

// PutToken stores a one-time staff link (a Token of kind "invite" or
// "signin", with StaffID; only its hash is kept) with the event of its
// email, in one transaction.
func (s *Staff) PutToken(ctx context.Context, t Token, ev referral.Event) error {
	tok, err := marshal(t, staffTokenPK+t.Hash, "STAFFTOK")
	if err != nil {
		return fmt.Errorf("put staff link: %w", err)
	}
	put, err := s.Referrals.eventPut(ev, 0)
	if err != nil {
		return fmt.Errorf("put staff link: %w", err)
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.Table, Item: tok, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		put,
	}})
	if err != nil {
		return fmt.Errorf("put staff link: %w", err)
	}
	return nil
}

// Token returns a one-time staff link's record (used or not, expired or
// not: the caller decides), or a problem.NotFound error.
func (s *Staff) Token(ctx context.Context, hash string) (Token, error) {
	var t Token
	if err := s.get(ctx, key(staffTokenPK+hash, "STAFFTOK"), &t); err != nil {
		return Token{}, err
	}
	return t, nil
}

// UseToken marks a one-time staff link used (its OpenedAt), once: a second
// use is a problem.Gone error.
func (s *Staff) UseToken(ctx context.Context, hash string, at time.Time) error {
	err := setOnce(ctx, s.DB, s.Table, key(staffTokenPK+hash, "STAFFTOK"), "opened_at", at)
	if err != nil && !problem.Is(err, problem.Gone) {
		return fmt.Errorf("use staff link: %w", err)
	}
	return err
}

// setOnce sets a time attribute of an existing item only if it has none: a
// second time is a problem.Gone error.
func setOnce(ctx context.Context, db *dynamodb.Client, table string, k map[string]types.AttributeValue, attr string, at time.Time) error {
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &table, Key: k,
		UpdateExpression:          aws.String("SET #a = :t"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND attribute_not_exists(#a)"),
		ExpressionAttributeNames:  map[string]string{"#a": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(at.UTC().Format(time.RFC3339Nano))},
	})
	if conditionFailed(err) {
		return problem.Errorf(problem.Gone, "this link was used already")
	}
	return err
}

// sessionKey locates a session: in its staff member's partition, the
// operator's, or (an EHR user's) one of its own.
func sessionKey(staffID, hash string) map[string]types.AttributeValue {
	switch staffID {
	case "":
		return key(adminPartition, sessionPrefix+hash)
	case EHRUser:
		return key(ehrSessionPK+hash, "SESSION")
	}
	return key(staffPrefix+staffID, authPrefix+hash)
}

// staffMember reports whether a session's owner is a registered staff
// member (not the operator, not an EHR user).
func staffMember(staffID string) bool { return staffID != "" && staffID != EHRUser }

// PutSession stores a session under the SHA-256 of its token; a staff
// member's only while they are staff (else problem.NotFound). An EHR
// user's launch record is sealed.
func (s *Staff) PutSession(ctx context.Context, hash string, v Session) error {
	k := sessionKey(v.Staff, hash)
	pk, sk := k["PK"].(*types.AttributeValueMemberS).Value, k["SK"].(*types.AttributeValueMemberS).Value
	it := sessionItem{Session: v}
	if len(v.Launch) > 0 {
		var err error
		if it.Launch, err = s.Referrals.Sealer.Seal(ctx, v.Launch, aadFor(pk, sk, "launch")); err != nil {
			return fmt.Errorf("put session: %w", err)
		}
	}
	item, err := marshal(it, pk, sk)
	if err != nil {
		return fmt.Errorf("put session: %w", err)
	}
	if !staffMember(v.Staff) {
		if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
			return fmt.Errorf("put session: %w", err)
		}
		return nil
	}
	items := []types.TransactWriteItem{{Put: &types.Put{TableName: &s.Table, Item: item}}, {ConditionCheck: &types.ConditionCheck{
		TableName: &s.Table, Key: memberKey(v.Staff), ConditionExpression: aws.String("attribute_exists(PK)"),
	}}}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if cancelledBy(err, 1) {
		return notFound("staff member")
	}
	if err != nil {
		return fmt.Errorf("put session: %w", err)
	}
	return nil
}

// Session returns a live session (staffID "" for the operator's, EHRUser
// for an EHR user's, its launch record opened), or a problem.NotFound
// error for one that ended or expired. A staff member's session is read
// with the member, in one consistent call, and is not found once they are
// no longer staff.
func (s *Staff) Session(ctx context.Context, staffID, hash string) (Session, Member, error) {
	if !staffMember(staffID) {
		k := sessionKey(staffID, hash)
		var it sessionItem
		if err := s.get(ctx, k, &it); err != nil {
			return Session{}, Member{}, err
		}
		v := it.Session
		if len(it.Launch) > 0 {
			b, err := s.Referrals.Sealer.Open(ctx, it.Launch, aadFor(k["PK"].(*types.AttributeValueMemberS).Value, k["SK"].(*types.AttributeValueMemberS).Value, "launch"))
			if err != nil {
				return Session{}, Member{}, fmt.Errorf("get session: launch: %w", err)
			}
			v.Launch = b
		}
		return v, Member{}, nil
	}
	out, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		s.Table: {Keys: []map[string]types.AttributeValue{sessionKey(staffID, hash), memberKey(staffID)}, ConsistentRead: aws.Bool(true)},
	}})
	if err != nil {
		return Session{}, Member{}, fmt.Errorf("get session: %w", err)
	}
	if len(out.UnprocessedKeys) > 0 {
		return Session{}, Member{}, fmt.Errorf("get session: %w", problem.Errorf(problem.Unavailable, "the session could not be read; try again"))
	}
	var (
		v    Session
		m    Member
		n    int
		live = true
	)
	for _, item := range out.Responses[s.Table] {
		if s.expired(item) {
			live = false
			continue
		}
		n++
		var err error
		if item["SK"].(*types.AttributeValueMemberS).Value == staffSK {
			err = unmarshal(item, &m)
		} else {
			err = unmarshal(item, &v)
		}
		if err != nil {
			return Session{}, Member{}, fmt.Errorf("get session: %w", err)
		}
	}
	if n != 2 || !live {
		return Session{}, Member{}, notFound("session")
	}
	return v, m, nil
}

// ForgetLaunch drops an EHR user's session's launch record (its prefill
// was used for the referral referralID, which the session then names);
// the session stays. Forgetting it twice, or in a session that ended, is
// harmless.
func (s *Staff) ForgetLaunch(ctx context.Context, hash, referralID string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		// SET to null rather than REMOVE, which the embedded server does not
		// apply to top-level attributes: a null launch is none.
		TableName: &s.Table, Key: sessionKey(EHRUser, hash), UpdateExpression: aws.String("SET launch = :none, referral_id = :r"),
		ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":none": &types.AttributeValueMemberNULL{Value: true}, ":r": str(referralID),
		},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("forget the launch: %w", err)
	}
	return nil
}

// EndSession deletes a session; ending one that is gone is harmless.
func (s *Staff) EndSession(ctx context.Context, staffID, hash string) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.Table, Key: sessionKey(staffID, hash)})
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// PutCeremony stores a passkey ceremony in progress under the SHA-256 of
// its id.
func (s *Staff) PutCeremony(ctx context.Context, hash string, c Ceremony) error {
	item, err := marshal(c, ceremonyPK+hash, "CEREMONY")
	if err != nil {
		return fmt.Errorf("put ceremony: %w", err)
	}
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("put ceremony: %w", err)
	}
	return nil
}

// TakeCeremony deletes a ceremony and returns it, once: a second take of
// the same ceremony (a replayed answer) is a problem.NotFound error, as is
// an expired one.
func (s *Staff) TakeCeremony(ctx context.Context, hash string) (Ceremony, error) {
	out, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.Table, Key: key(ceremonyPK+hash, "CEREMONY"),
		ConditionExpression: aws.String("attribute_exists(PK)"), ReturnValues: types.ReturnValueAllOld,
	})
	if conditionFailed(err) {
		return Ceremony{}, notFound("ceremony")
	}
	if err != nil {
		return Ceremony{}, fmt.Errorf("take ceremony: %w", err)
	}
	var c Ceremony
	if out.Attributes == nil || s.expired(out.Attributes) {
		return Ceremony{}, notFound("ceremony")
	}
	if err := unmarshal(out.Attributes, &c); err != nil {
		return Ceremony{}, fmt.Errorf("take ceremony: %w", err)
	}
	return c, nil
}

// Count adds one to the count of scope (e.g. "signin-address#<hash>") in the
// window of length window that holds now, unless it reached limit: it
// reports whether the count was taken. One conditional write, so every
// instance of every function shares the count.
func (s *Staff) Count(ctx context.Context, scope string, now time.Time, window time.Duration, limit int) (bool, error) {
	start := now.Truncate(window)
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: key(ratePK+scope+"#"+strconv.FormatInt(start.Unix(), 10), "RATE"),
		UpdateExpression:          aws.String("ADD n :one SET expires_at = :ttl"),
		ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :limit"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":limit": num(int64(limit)), ":ttl": num(start.Add(2 * window).Unix())},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("count %s: %w", strings.SplitN(scope, "#", 2)[0], err)
	}
	return true, nil
}

// get reads one item consistently into v; a missing or expired one is a
// problem.NotFound error.
func (s *Staff) get(ctx context.Context, k map[string]types.AttributeValue, v any) error {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return err
	}
	if out.Item == nil || s.expired(out.Item) {
		return notFound(strings.ToLower(strings.TrimSuffix(k["SK"].(*types.AttributeValueMemberS).Value, "#")))
	}
	return unmarshal(out.Item, v)
}

func (s *Staff) expired(item map[string]types.AttributeValue) bool {
	n, ok := item["expires_at"].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	ttl, err := strconv.ParseInt(n.Value, 10, 64)
	return err == nil && ttl > 0 && ttl <= s.now().Unix()
}
