package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/seal"
)

// Referrals stores referrals and everything that hangs off them in
// ReferralsTable.
type Referrals struct {
	DB     *dynamodb.Client
	Table  string
	Sealer seal.Sealer
	// Retention is how long items live after a referral closes (TTL).
	Retention time.Duration
	// Now is the clock reads compare TTLs with (time.Now when nil): DynamoDB
	// deletes expired items lazily, so reads treat them as gone themselves.
	Now func() time.Time
	// DueShards is how many due-index partitions pending events are spread
	// over and the sweeper reads (DefaultDueShards when 0). Lowering it on a
	// live table would strand the events of the shards no longer read.
	DueShards int
}

func (s *Referrals) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// expired reports whether an item's TTL has passed.
func (s *Referrals) expired(item map[string]types.AttributeValue) bool {
	n, ok := item["expires_at"].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	ttl, err := strconv.ParseInt(n.Value, 10, 64)
	return err == nil && ttl > 0 && ttl <= s.now().Unix()
}

// closedTTL is the TTL for items of a referral that closed at t, or 0.
func (s *Referrals) closedTTL(r *referral.Referral) int64 {
	if r.Open() || s.Retention <= 0 {
		return 0
	}
	return r.UpdatedAt.Add(s.Retention).Unix()
}

// referralItem is a referral as stored. Personal data is sealed: Contact holds
// the Patient and Consent the consent record, each bound to this item.
type referralItem struct {
	Type        string               `json:"type"`
	ID          string               `json:"id"`
	ClinicID    string               `json:"clinic_id"`
	Status      referral.Status      `json:"status"`
	ExternalID  string               `json:"external_id,omitempty"`
	CreatedAt   time.Time            `json:"created_at"`
	UpdatedAt   time.Time            `json:"updated_at"`
	Language    string               `json:"language,omitempty"`
	Location    referral.Location    `json:"location"`
	Topics      []string             `json:"topics"`
	Preferences referral.Preferences `json:"preferences"`
	Clinician   referral.Clinician   `json:"clinician"`
	Contact     []byte               `json:"contact,omitempty"`
	Consent     []byte               `json:"consent,omitempty"`
	Volunteer   []byte               `json:"volunteer,omitempty"`
	Offers      []referral.Offer     `json:"offers,omitempty"`
	Matched     bool                 `json:"matched,omitempty"`
	ViewedAt    time.Time            `json:"viewed_at,omitzero"`
	Source      string               `json:"source,omitempty"`
	// FirstChannel, PatientKey: see referral.Referral.
	FirstChannel string `json:"first_channel,omitempty"`
	PatientKey   string `json:"patient_key,omitempty"`
	// FirstMeeting: the listing's public facts and the word on it, never
	// anything about the patient (so not sealed).
	FirstMeeting *referral.FirstMeeting `json:"first_meeting,omitempty"`
	// GSI2PK/GSI2SK put the referral in clinic-index: a FHIR-created one
	// under TaskIndexKey by last update, for its clinic's Task search; any
	// other under ListIndexKey by creation, for its clinic's list (a
	// FHIR-created one is listed by an item of its own, listItem).
	GSI2PK    string   `json:"GSI2PK,omitempty"`
	GSI2SK    string   `json:"GSI2SK,omitempty"`
	Flags     []string `json:"flags,omitempty"`
	Version   int      `json:"version"`
	ExpiresAt int64    `json:"expires_at,omitempty"`
}

func (s *Referrals) toItem(ctx context.Context, r *referral.Referral) (map[string]types.AttributeValue, error) {
	pk := refPrefix + r.ID
	it := referralItem{
		Type: "referral", ID: r.ID, ClinicID: r.ClinicID, Status: r.Status, ExternalID: r.ExternalID,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Language: r.Patient.Language,
		Location: r.Location, Topics: r.Topics, Preferences: r.Preferences, Clinician: r.Clinician,
		Offers: r.Offers, Matched: r.Matched, Flags: r.Flags, Version: r.Version, ViewedAt: r.ViewedAt,
		Source: r.Source, FirstChannel: r.FirstChannel, PatientKey: r.PatientKey, FirstMeeting: r.FirstMeeting,
	}
	switch r.Source {
	case "fhir":
		it.GSI2PK, it.GSI2SK = TaskIndexKey(r.ClinicID), timeKey(r.UpdatedAt)+"#"+r.ID
	default:
		// By creation time, which never changes: one index write per referral.
		it.GSI2PK, it.GSI2SK = ListIndexKey(r.ClinicID), listKey(r)
	}
	if r.Patient != (referral.Patient{Language: r.Patient.Language}) {
		b, err := json.Marshal(r.Patient)
		if err != nil {
			return nil, err
		}
		if it.Contact, err = s.Sealer.Seal(ctx, b, aadFor(pk, refSK, "contact")); err != nil {
			return nil, err
		}
	}
	if r.Consent != nil {
		b, err := json.Marshal(r.Consent)
		if err != nil {
			return nil, err
		}
		if it.Consent, err = s.Sealer.Seal(ctx, b, aadFor(pk, refSK, "consent")); err != nil {
			return nil, err
		}
	}
	if r.Volunteer != nil {
		b, err := json.Marshal(r.Volunteer)
		if err != nil {
			return nil, err
		}
		if it.Volunteer, err = s.Sealer.Seal(ctx, b, aadFor(pk, refSK, "volunteer")); err != nil {
			return nil, err
		}
	}
	it.ExpiresAt = s.closedTTL(r)
	return marshal(it, pk, refSK)
}

func (s *Referrals) fromItem(ctx context.Context, item map[string]types.AttributeValue) (*referral.Referral, error) {
	var it referralItem
	if err := unmarshal(item, &it); err != nil {
		return nil, err
	}
	r := &referral.Referral{
		ID: it.ID, ClinicID: it.ClinicID, Status: it.Status, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt,
		Intake: referral.Intake{
			ExternalID: it.ExternalID, Location: it.Location, Topics: it.Topics,
			Preferences: it.Preferences, Clinician: it.Clinician,
		},
		Offers: it.Offers, Matched: it.Matched, Flags: it.Flags, Version: it.Version, ViewedAt: it.ViewedAt,
		Source: it.Source, FirstChannel: it.FirstChannel, PatientKey: it.PatientKey, FirstMeeting: it.FirstMeeting,
	}
	pk := refPrefix + it.ID
	if len(it.Contact) > 0 {
		b, err := s.Sealer.Open(ctx, it.Contact, aadFor(pk, refSK, "contact"))
		if err != nil {
			return nil, fmt.Errorf("open contact: %w", err)
		}
		if err := json.Unmarshal(b, &r.Patient); err != nil {
			return nil, err
		}
	}
	r.Patient.Language = it.Language
	if len(it.Consent) > 0 {
		b, err := s.Sealer.Open(ctx, it.Consent, aadFor(pk, refSK, "consent"))
		if err != nil {
			return nil, fmt.Errorf("open consent: %w", err)
		}
		r.Consent = new(referral.Consent)
		if err := json.Unmarshal(b, r.Consent); err != nil {
			return nil, err
		}
	}
	if len(it.Volunteer) > 0 {
		b, err := s.Sealer.Open(ctx, it.Volunteer, aadFor(pk, refSK, "volunteer"))
		if err != nil {
			return nil, fmt.Errorf("open volunteer: %w", err)
		}
		r.Volunteer = new(referral.Volunteer)
		if err := json.Unmarshal(b, r.Volunteer); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Token is a link token's record. The token itself is never stored: Hash is the
// hex SHA-256 of it.
type Token struct {
	Hash string `json:"hash"`
	// Kind is "consent", "group", "listing" or "qr" (ReferralsTable), or a
	// staff link's "invite" or "signin" (DirectoryTable, see Staff).
	Kind       string    `json:"kind"`
	ReferralID string    `json:"referral_id"`
	ClinicID   string    `json:"clinic_id"`
	StaffID    string    `json:"staff_id,omitempty"` // a staff link's member
	RouteSeq   int       `json:"route_seq,omitempty"`
	ExpiresAt  time.Time `json:"expires_at_time"`
	// OpenedAt is when a one-time link was opened (a QR link) or used (a
	// staff link), once.
	OpenedAt time.Time `json:"opened_at,omitempty"`
	// TTL is set a retention period after ExpiresAt.
	TTL int64 `json:"expires_at,omitempty"`
}

// Idempotency is what is kept of one accepted webhook delivery.
type Idempotency struct {
	ClinicID  string    `json:"clinic_id"`
	WebhookID string    `json:"webhook_id"`
	BodyHash  string    `json:"body_hash"`
	Answer    []byte    `json:"answer"`
	At        time.Time `json:"at"`
	TTL       int64     `json:"expires_at"`
}

func idemKey(clinic, webhookID string) string { return idemPrefix + clinic + "#" + webhookID }

// routeItem is a route as stored.
type routeItem struct {
	referral.Route
	TTL int64 `json:"expires_at,omitempty"`
}

// eventItem is an event as stored; pending ones carry the due-index keys.
type eventItem struct {
	referral.Event
	GSI1PK string `json:"GSI1PK,omitempty"`
	GSI1SK string `json:"GSI1SK,omitempty"`
	DoneAt int64  `json:"done_at,omitempty"`
}

// DefaultDueShards is how many partitions the due index is spread over in a
// deployment. One partition takes about 1,000 index writes a second and a
// referral's lifecycle makes about 28, so one shard would cap a deployment
// near 35 referrals a second; eight lift that near 280. Events land in a
// shard by their referral's id; the sweeper reads them all.
const DefaultDueShards = 8

func (s *Referrals) shards() int {
	if s.DueShards > 0 {
		return s.DueShards
	}
	return DefaultDueShards
}

func (s *Referrals) dueShard(referralID string) string {
	h := fnv.New32a()
	h.Write([]byte(referralID))
	return duePrefix + strconv.FormatUint(uint64(h.Sum32())%uint64(s.shards()), 10)
}

func (s *Referrals) eventPut(e referral.Event, ttl int64) (types.TransactWriteItem, error) {
	return s.eventItemPut(e, ttl, false)
}

// eventItemPut writes a new event: pending (in the due index) or, done, a
// record that has no effect to run and never enters the index.
func (s *Referrals) eventItemPut(e referral.Event, ttl int64, done bool) (types.TransactWriteItem, error) {
	if e.Due.IsZero() {
		e.Due = e.At
	}
	if ttl > 0 {
		e.TTL = ttl
	}
	it := eventItem{Event: e, GSI1PK: s.dueShard(e.Partition), GSI1SK: timeKey(e.Due) + "#" + e.Partition + "#" + e.ID}
	if done {
		it.GSI1PK, it.GSI1SK, it.DoneAt = "", "", e.At.Unix()
	}
	item, err := marshal(it, refPrefix+e.Partition, eventPrefix+e.ID)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: &s.Table, Item: item,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}, nil
}

// NewReferral is everything written when a clinic's referral is accepted.
type NewReferral struct {
	Referral *referral.Referral
	// Idempotency is a webhook delivery's record; a referral that came
	// another way (a FHIR Task) has none (a zero WebhookID).
	Idempotency Idempotency
	Token       Token
	// TextToken, when its Hash is set, is the consent link's short token
	// for texts.
	TextToken Token
	Events    []referral.Event
	// Identifiers index a FHIR Task's identifiers (see TaskIdentifiers).
	Identifiers TaskIdentifiers
	// Counts are the outcome counters the new referral adds (its arrival).
	Counts *Counts
}

// Create writes a new referral, its idempotency record (for a webhook
// delivery), its consent token, its first events, its entry in its
// clinic's list and, when it has a patient key, the key's index item
// (see HasOpenReferral) in one transaction.
//
// If the clinic already delivered this webhook id, nothing is written: with the
// same body hash Create returns the stored answer and replay=true; with another
// body it returns a problem.Conflict error. A conditional create whose
// identifier was indexed meanwhile writes nothing and returns ErrTaskMatched.
func (s *Referrals) Create(ctx context.Context, n NewReferral) (answer []byte, replay bool, err error) {
	idem := n.Idempotency
	notExists := aws.String("attribute_not_exists(PK)")
	var items []types.TransactWriteItem
	ik := idemKey(idem.ClinicID, idem.WebhookID)
	if idem.WebhookID != "" {
		idemItem, err := marshal(idem, ik, "IDEM")
		if err != nil {
			return nil, false, fmt.Errorf("create referral: %w", err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: idemItem, ConditionExpression: notExists}})
	}
	refItem, err := s.toItem(ctx, n.Referral)
	if err != nil {
		return nil, false, fmt.Errorf("create referral: %w", err)
	}
	tokItem, err := marshal(n.Token, tokenPrefix+n.Token.Hash, "TOK")
	if err != nil {
		return nil, false, fmt.Errorf("create referral: %w", err)
	}
	items = append(items,
		types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: refItem, ConditionExpression: notExists}},
		types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: tokItem, ConditionExpression: notExists}},
	)
	if n.TextToken.Hash != "" {
		textItem, err := marshal(n.TextToken, tokenPrefix+n.TextToken.Hash, "TOK")
		if err != nil {
			return nil, false, fmt.Errorf("create referral: %w", err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: textItem, ConditionExpression: notExists}})
	}
	for _, e := range n.Events {
		p, err := s.eventPut(e, 0)
		if err != nil {
			return nil, false, fmt.Errorf("create referral: %w", err)
		}
		items = append(items, p)
	}
	if li := listItem(n.Referral); li != nil {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: li, ConditionExpression: notExists}})
	}
	if pi := patientKeyItem(n.Referral); pi != nil {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: pi}})
	}
	items = append(items, s.countUpdates(n.Counts)...)
	idents, guard := s.identWrites(n.Referral.ClinicID, n.Referral.ID, n.Identifiers)
	if guard >= 0 {
		guard += len(items)
	}
	items = append(items, idents...)
	for attempt := 0; ; attempt++ {
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return idem.Answer, false, nil
		}
		if guard >= 0 && cancelledBy(err, guard) {
			return nil, false, ErrTaskMatched
		}
		if idem.WebhookID != "" && cancelledBy(err, 0) {
			break
		}
		if transactionConflict(err) && attempt < 5 {
			// Another delivery of the same webhook id is being written: wait for it.
			time.Sleep(time.Duration(10*(attempt+1)) * time.Millisecond)
			continue
		}
		return nil, false, fmt.Errorf("create referral %s: %w", n.Referral.ID, err)
	}
	var prev Idempotency
	if err := s.get(ctx, ik, "IDEM", &prev); err != nil {
		return nil, false, fmt.Errorf("read idempotency record: %w", err)
	}
	if prev.BodyHash != idem.BodyHash {
		return nil, false, problem.Errorf(problem.Conflict,
			"webhook-id was already used with a different body; send a new webhook-id for a new referral")
	}
	return prev.Answer, true, nil
}

// get reads one item, consistently, into v.
func (s *Referrals) get(ctx context.Context, pk, sk string, v any) error {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return err
	}
	if out.Item == nil || s.expired(out.Item) {
		return notFound(strings.ToLower(sk))
	}
	return unmarshal(out.Item, v)
}

// Ping checks that the referrals table answers (DescribeTable).
func (s *Referrals) Ping(ctx context.Context) error {
	_, err := s.DB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.Table})
	return err
}

// Get returns one referral with its sealed fields opened, or a NotFound error.
func (s *Referrals) Get(ctx context.Context, id string) (*referral.Referral, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: refKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get referral %s: %w", id, err)
	}
	if out.Item == nil || s.expired(out.Item) {
		return nil, notFound("referral")
	}
	r, err := s.fromItem(ctx, out.Item)
	if err != nil {
		return nil, fmt.Errorf("get referral %s: %w", id, err)
	}
	return r, nil
}

// Record is a referral with its routes and events, as one Query reads them.
type Record struct {
	Referral *referral.Referral
	Routes   []referral.Route // by seq
	Events   []referral.Event // by time
	Pending  map[string]bool  // event ids not yet done
}

// Load reads a referral, its routes and its events with one paginated Query.
func (s *Referrals) Load(ctx context.Context, id string) (*Record, error) {
	rec := &Record{Pending: map[string]bool{}}
	in := &dynamodb.QueryInput{
		TableName:                 &s.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(refPrefix + id)},
		ConsistentRead:            aws.Bool(true),
	}
	// A plain loop rather than the SDK's paginator, which would put the client
	// behind an interface and keep every one of its operations in the binary.
	for first := true; first || in.ExclusiveStartKey != nil; first = false {
		page, err := s.DB.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("load referral %s: %w", id, err)
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		for _, item := range page.Items {
			if s.expired(item) {
				continue
			}
			sk := item["SK"].(*types.AttributeValueMemberS).Value
			switch {
			case sk == refSK:
				r, err := s.fromItem(ctx, item)
				if err != nil {
					return nil, fmt.Errorf("load referral %s: %w", id, err)
				}
				rec.Referral = r
			case strings.HasPrefix(sk, routePrefix):
				var rt referral.Route
				if err := unmarshal(item, &rt); err != nil {
					return nil, fmt.Errorf("load referral %s: %w", id, err)
				}
				rec.Routes = append(rec.Routes, rt)
			case strings.HasPrefix(sk, eventPrefix):
				var e eventItem
				if err := unmarshal(item, &e); err != nil {
					return nil, fmt.Errorf("load referral %s: %w", id, err)
				}
				rec.Events = append(rec.Events, e.Event)
				if e.GSI1PK != "" {
					rec.Pending[e.ID] = true
				}
			}
		}
	}
	if rec.Referral == nil {
		return nil, notFound("referral")
	}
	return rec, nil
}

// Change is one atomic step of a referral's life: its new state, with the routes,
// tokens and events that go with it. The write fails with a problem.Conflict
// error if the referral changed since it was read (its Version).
type Change struct {
	Referral *referral.Referral // new state; Version is the version read
	Routes   []referral.Route   // put as given
	Tokens   []Token            // put as given
	Events   []referral.Event   // new events
	// Records are new events written done: entries of the referral's
	// history with no effect to run (the dispatcher never sees them).
	Records []referral.Event
	// Done marks an event finished in the same transaction (the one whose effect
	// this change is), so it is not run again.
	Done *referral.Event
	// Moot are pending events the change leaves nothing to do for (a
	// reminder of a question it answers), finished in its transaction so
	// that they never run.
	Moot []referral.Event
	// Counts are the outcome counters the change adds: counted once, as the
	// change is written once.
	Counts *Counts
}

// Apply writes c in one transaction and returns the referral's new version.
// A change that closes a referral with a patient key deletes the key's
// index item in the same transaction.
func (s *Referrals) Apply(ctx context.Context, c Change) error {
	r := c.Referral
	prev := r.Version
	r.Version++
	item, err := s.toItem(ctx, r)
	if err != nil {
		r.Version = prev
		return fmt.Errorf("apply change to %s: %w", r.ID, err)
	}
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.Table, Item: item,
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(int64(prev))},
	}}}
	ttl := s.closedTTL(r)
	for _, rt := range c.Routes {
		it, err := marshal(routeItem{Route: rt, TTL: ttl}, refPrefix+r.ID, routeSK(rt.Seq))
		if err != nil {
			r.Version = prev
			return fmt.Errorf("apply change to %s: %w", r.ID, err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: it}})
	}
	for _, t := range c.Tokens {
		it, err := marshal(t, tokenPrefix+t.Hash, "TOK")
		if err != nil {
			r.Version = prev
			return fmt.Errorf("apply change to %s: %w", r.ID, err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.Table, Item: it}})
	}
	for i, e := range slices.Concat(c.Events, c.Records) {
		p, err := s.eventItemPut(e, ttl, i >= len(c.Events))
		if err != nil {
			r.Version = prev
			return fmt.Errorf("apply change to %s: %w", r.ID, err)
		}
		items = append(items, p)
	}
	if k := patientKeyKey(r); k != nil && !r.Status.Open() {
		// Closed: the patient's key no longer stands for an open referral.
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.Table, Key: k}})
	}
	for _, e := range append(c.Moot, derefEvent(c.Done)...) {
		p, err := s.finishPut(e, r.UpdatedAt)
		if err != nil {
			r.Version = prev
			return fmt.Errorf("apply change to %s: %w", r.ID, err)
		}
		items = append(items, types.TransactWriteItem{Put: p})
	}
	items = append(items, s.countUpdates(c.Counts)...)
	err = s.transact(ctx, items)
	if err != nil {
		r.Version = prev
		if anyConditionFailed(err) || transactionConflict(err) {
			return problem.Errorf(problem.Conflict, "the referral changed meanwhile; reload and try again")
		}
		return fmt.Errorf("apply change to %s: %w", r.ID, err)
	}
	return nil
}

// derefEvent is the event e points to, as a list (none for nil).
func derefEvent(e *referral.Event) []referral.Event {
	if e == nil {
		return nil
	}
	return []referral.Event{*e}
}

// Token returns a link token's record by its hash, or a NotFound error. An
// expired token is returned as it is: the caller decides (410).
func (s *Referrals) Token(ctx context.Context, hash string) (Token, error) {
	var t Token
	if err := s.get(ctx, tokenPrefix+hash, "TOK", &t); err != nil {
		if problem.Is(err, problem.NotFound) {
			return t, notFound("link")
		}
		return t, fmt.Errorf("get token: %w", err)
	}
	return t, nil
}

// EventRef locates a pending event.
type EventRef struct {
	// Partition is the event's partition: a referral's id, or a group's or
	// subscription's partition (see referral.Event.Partition).
	Partition string
	EventID   string
	Due       time.Time
}

// Due lists up to limit pending events due at or before now, oldest first,
// from the sparse due-index: it reads every shard (at once), up to limit from
// each, and keeps the oldest limit of them. When a shard cannot be read it
// returns the events of the others with the error: theirs can run, and the
// failed shard's wait for the next sweep.
func (s *Referrals) Due(ctx context.Context, now time.Time, limit int32) ([]EventRef, error) {
	type shard struct {
		keys []string
		err  error
	}
	shards := make([]shard, s.shards())
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			shards[i].keys, shards[i].err = s.dueKeys(ctx, duePrefix+strconv.Itoa(i), now, limit)
		})
	}
	wg.Wait()
	var (
		keys []string
		errs []error
	)
	for _, sh := range shards {
		keys = append(keys, sh.keys...)
		if sh.err != nil {
			errs = append(errs, sh.err)
		}
	}
	slices.Sort(keys) // the due time leads each key, in a sortable form
	if len(keys) > int(limit) {
		keys = keys[:limit]
	}
	refs := make([]EventRef, 0, len(keys))
	for _, k := range keys {
		parts := strings.Split(k, "#")
		if len(parts) != 3 {
			continue
		}
		due, _ := time.Parse(sortableTime, parts[0])
		refs = append(refs, EventRef{Due: due, Partition: parts[1], EventID: parts[2]})
	}
	return refs, errors.Join(errs...)
}

// dueKeys returns the sort keys of up to limit events of one due-index shard
// due at or before now, oldest first.
func (s *Referrals) dueKeys(ctx context.Context, pk string, now time.Time, limit int32) ([]string, error) {
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:              &s.Table,
		IndexName:              aws.String(dueIndex),
		KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":now": str(timeKey(now) + "#~"),
		},
		Limit: aws.Int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("query due events: %w", err)
	}
	keys := make([]string, 0, len(out.Items))
	for _, item := range out.Items {
		if sk, ok := item["GSI1SK"].(*types.AttributeValueMemberS); ok {
			keys = append(keys, sk.Value)
		}
	}
	return keys, nil
}

// Event reads one event and whether it is still pending, or a NotFound error.
func (s *Referrals) Event(ctx context.Context, referralID, eventID string) (referral.Event, bool, error) {
	var e eventItem
	if err := s.get(ctx, refPrefix+referralID, eventPrefix+eventID, &e); err != nil {
		return referral.Event{}, false, fmt.Errorf("get event %s: %w", eventID, err)
	}
	return e.Event, e.GSI1PK != "", nil
}

// EventFromImage decodes an event from a stream record's new image (already
// converted to SDK attribute values), and whether it is pending.
func EventFromImage(item map[string]types.AttributeValue) (referral.Event, bool, error) {
	var e eventItem
	if err := unmarshal(item, &e); err != nil {
		return referral.Event{}, false, err
	}
	return e.Event, e.GSI1PK != "", nil
}

// finishPut rewrites an event without its due-index keys: it leaves the index.
// (A whole-item Put rather than an UPDATE ... REMOVE, which the embedded server
// does not apply to top-level attributes.)
func (s *Referrals) finishPut(e referral.Event, now time.Time) (*types.Put, error) {
	item, err := marshal(eventItem{Event: e, DoneAt: now.Unix()}, refPrefix+e.Partition, eventPrefix+e.ID)
	if err != nil {
		return nil, err
	}
	return &types.Put{
		TableName: &s.Table, Item: item,
		ConditionExpression: aws.String("attribute_exists(PK)"),
	}, nil
}

// Finish marks an event done: it leaves the due-index. Finishing twice is harmless.
func (s *Referrals) Finish(ctx context.Context, e referral.Event) error {
	p, err := s.finishPut(e, s.now())
	if err != nil {
		return fmt.Errorf("finish event %s: %w", e.ID, err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
	})
	if err != nil {
		return fmt.Errorf("finish event %s: %w", e.ID, err)
	}
	return nil
}

// Replay puts a finished event back in the due index, due at its own time,
// as a worker that crashed after the effect and before Finish leaves it:
// the dispatcher then delivers it again, and the ledger keeps its effects
// from repeating. An operator replays an event this way; fault tests use it
// to redeliver. (It rewrites the whole item as read: the embedded server
// loses another item's index entry when an update adds index keys to an
// item that was never in the index, as a record written done.)
func (s *Referrals) Replay(ctx context.Context, e referral.Event) error {
	var it eventItem
	if err := s.get(ctx, refPrefix+e.Partition, eventPrefix+e.ID, &it); err != nil {
		return fmt.Errorf("replay event %s: %w", e.ID, err)
	}
	due := it.Due
	if due.IsZero() {
		due = it.At
	}
	it.GSI1PK, it.GSI1SK, it.DoneAt = s.dueShard(e.Partition), timeKey(due)+"#"+e.Partition+"#"+e.ID, 0
	item, err := marshal(it, refPrefix+e.Partition, eventPrefix+e.ID)
	if err == nil {
		_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &s.Table, Item: item, ConditionExpression: aws.String("attribute_exists(PK)"),
		})
	}
	if err != nil {
		return fmt.Errorf("replay event %s: %w", e.ID, err)
	}
	return nil
}

// Reschedule moves a pending event to a later due time with a new attempt count.
func (s *Referrals) Reschedule(ctx context.Context, e referral.Event, due time.Time, attempt int) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.Table,
		Key:                 key(refPrefix+e.Partition, eventPrefix+e.ID),
		UpdateExpression:    aws.String("SET GSI1SK = :sk, due = :due, attempt = :a"),
		ConditionExpression: aws.String("attribute_exists(GSI1PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sk": str(timeKey(due) + "#" + e.Partition + "#" + e.ID), ":due": str(due.UTC().Format(time.RFC3339Nano)),
			":a": num(int64(attempt)),
		},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("reschedule event %s: %w", e.ID, err)
	}
	return nil
}

// Claim states.
type ClaimState int

// What Claim found.
const (
	Claimed     ClaimState = iota // the caller now holds the claim: run the effect
	AlreadyDone                   // the effect ran and was recorded: do nothing
	Busy                          // another worker holds an unexpired claim
)

// Claim takes the ledger entry for one effect (key: event id and effect name)
// with a conditional write, for lease. An expired claim (its holder crashed) may
// be taken again: that is the documented window in which an effect can repeat.
func (s *Referrals) Claim(ctx context.Context, effectKey string, now time.Time, lease time.Duration) (ClaimState, error) {
	item := key(ledgerPrefix+effectKey, "LEDGER")
	item["state"] = str("claimed")
	item["lease_until"] = num(now.Add(lease).UnixMilli())
	item["expires_at"] = num(now.Add(30 * 24 * time.Hour).Unix())
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table, Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR (#s = :claimed AND lease_until < :now)"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":claimed": str("claimed"), ":now": num(now.UnixMilli())},
	})
	if err == nil {
		return Claimed, nil
	}
	if !conditionFailed(err) {
		return Busy, fmt.Errorf("claim %s: %w", effectKey, err)
	}
	var l struct {
		State string `json:"state"`
	}
	if err := s.get(ctx, ledgerPrefix+effectKey, "LEDGER", &l); err != nil {
		return Busy, fmt.Errorf("claim %s: %w", effectKey, err)
	}
	if l.State == "done" {
		return AlreadyDone, nil
	}
	return Busy, nil
}

// CompleteItem is the ledger write that records an effect as done, for use in
// a Change's transaction or on its own through Complete.
func (s *Referrals) completeUpdate(effectKey, ref string) *types.Update {
	return &types.Update{
		TableName:                 &s.Table,
		Key:                       key(ledgerPrefix+effectKey, "LEDGER"),
		UpdateExpression:          aws.String("SET #s = :done, #r = :ref"),
		ExpressionAttributeNames:  map[string]string{"#s": "state", "#r": "ref"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":done": str("done"), ":ref": str(ref)},
	}
}

// Complete records an effect as done (with an outside reference such as an SES
// message id).
func (s *Referrals) Complete(ctx context.Context, effectKey, ref string) error {
	u := s.completeUpdate(effectKey, ref)
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
	if err != nil {
		return fmt.Errorf("complete %s: %w", effectKey, err)
	}
	return nil
}

// CompleteCounting records a claimed effect as done, as Complete does, and
// adds counts in the same transaction: the claim turns done once, so the
// counts count once. It reports whether this call recorded the effect;
// false, with no error, when it was recorded already (a retry of a record
// that went through, or a second worker after the first's lease ran out).
func (s *Referrals) CompleteCounting(ctx context.Context, effectKey, ref string, c *Counts) (bool, error) {
	if c.Empty() {
		return true, s.Complete(ctx, effectKey, ref)
	}
	u := s.completeUpdate(effectKey, ref)
	u.ConditionExpression = aws.String("#s = :claimed")
	u.ExpressionAttributeValues[":claimed"] = str("claimed")
	err := s.transact(ctx, append([]types.TransactWriteItem{{Update: u}}, s.countUpdates(c)...))
	switch {
	case err == nil:
		return true, nil
	case cancelledBy(err, 0):
		return false, nil
	}
	return false, fmt.Errorf("complete %s: %w", effectKey, err)
}

// Release gives up a claim whose effect failed, so it can be tried again at
// once. A done entry is never released.
func (s *Referrals) Release(ctx context.Context, effectKey string) error {
	return s.release(ctx, effectKey)
}

// Began reports whether an effect's ledger entry exists (claimed or done):
// the effect ran, or is running, for that event.
func (s *Referrals) Began(ctx context.Context, effectKey string) (bool, error) {
	state, err := s.ledgerState(ctx, effectKey)
	return state != "", err
}

// ledgerState is the state of an effect's ledger entry ("claimed", "done"),
// "" when there is none. Errors: a failure to read the ledger.
func (s *Referrals) ledgerState(ctx context.Context, effectKey string) (string, error) {
	var l struct {
		State string `json:"state"`
	}
	err := s.get(ctx, ledgerPrefix+effectKey, "LEDGER", &l)
	if problem.Is(err, problem.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the ledger of %s: %w", effectKey, err)
	}
	return l.State, nil
}

func (s *Referrals) release(ctx context.Context, effectKey string) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.Table, Key: key(ledgerPrefix+effectKey, "LEDGER"),
		ConditionExpression:       aws.String("#s = :claimed"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":claimed": str("claimed")},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("release %s: %w", effectKey, err)
	}
	return nil
}

// ExpireReferral sets the TTL of every item of a closed referral that has
// none yet (routes and events written while it was open) and of its link
// tokens, so that all of it is deleted a retention period after it closed.
// Running it again is harmless. The identifier index items of its Task are
// expired before the pointer items that name them.
func (s *Referrals) ExpireReferral(ctx context.Context, id string, ttl int64, tokenHashes []string) error {
	in := &dynamodb.QueryInput{
		TableName:                 &s.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		FilterExpression:          aws.String("attribute_not_exists(expires_at)"),
		ProjectionExpression:      aws.String("PK, SK"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(refPrefix + id)},
	}
	var keys []map[string]types.AttributeValue
	for first := true; first || in.ExclusiveStartKey != nil; first = false {
		page, err := s.DB.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("expire referral %s: %w", id, err)
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		for _, item := range page.Items {
			if sk, ok := item["SK"].(*types.AttributeValueMemberS); ok {
				keys = append(identExpiry(id, sk.Value), keys...)
			}
		}
		keys = append(keys, page.Items...)
	}
	for _, h := range tokenHashes {
		keys = append(keys, key(tokenPrefix+h, "TOK"))
	}
	for _, k := range keys {
		_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.Table, Key: k,
			UpdateExpression:          aws.String("SET expires_at = :ttl"),
			ConditionExpression:       aws.String("attribute_exists(PK)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":ttl": num(ttl)},
		})
		if err != nil && !conditionFailed(err) {
			return fmt.Errorf("expire referral %s: %w", id, err)
		}
	}
	return nil
}
