package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/geo"
	"github.com/handoff-health/handoff/shared/problem"
)

// DirectoryTable key prefixes, per docs/DATA.md.
const (
	groupPrefix  = "GROUP#"
	groupSK      = "GROUP"
	loadPrefix   = "LOAD#"
	cellPrefix   = "CELL#"
	onlinePrefix = "ONLINE#"
	sourcePrefix = "SOURCE#"
	sourceIndex  = "source-index"
)

// cellPrecisions are the geohash precisions of the in-person match index,
// finest first: a match reads the finest ring first and widens from there.
var cellPrecisions = [...]uint{5, 4, 3}

// putAttempts bounds the retries of a group write that lost a race with
// another write of the same group.
const putAttempts = 4

// loadTTL is how long a week's routing count is kept after the week.
const loadTTL = 5 * 7 * 24 * time.Hour

// Directory stores group listings and their match index in DirectoryTable.
//
// Each group item owns a list of match-index items (index_keys): per topic,
// one in the geohash cell of its location at precisions 5, 4 and 3 (for
// groups that meet in person) and one per language in the topic's online
// partition (for groups that meet online). Each index item holds the
// directory.Candidate ranking needs, so a match reads cells, never groups. A
// group that is not offered — not accepting, paused or temporarily closed —
// owns no index items, so matching never reads it.
type Directory struct {
	DB    *dynamodb.Client
	Table string
	Now   func() time.Time
	// Concurrency bounds the Queries one match runs at once (8 when 0).
	Concurrency int
}

// groupItem is a group as stored.
type groupItem struct {
	directory.Group
	Type string `json:"type"`
	// Version increases on every write of the group: writes are conditional
	// on it, so two writers never leave index items that neither owns.
	Version int `json:"version"`
	// IndexKeys name the match-index items the group owns (see IndexItemKey
	// for their keys).
	IndexKeys []string `json:"index_keys,omitempty"`
	GSI1PK    string   `json:"GSI1PK"`
	GSI1SK    string   `json:"GSI1SK"`
}

// indexItem is one match-index item.
type indexItem struct {
	directory.Candidate
	Type string `json:"type"`
}

func (s *Directory) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// IndexKeys returns the names of the match-index items a listing owns (see
// Directory): their partition keys, and for online items the band too (see
// IndexItemKey). It returns none for a group that is not offered, unless it
// is only paused until a set time (see directory.Group.Indexed).
func IndexKeys(g directory.Group) []string {
	if !g.Indexed() {
		return nil
	}
	var keys []string
	for _, topic := range g.Topics {
		if g.InPersonPossible() && g.HasLocation() {
			for _, p := range cellPrecisions {
				keys = append(keys, cellKey(topic, geo.Encode(g.Location.Lat, g.Location.Lon, p)))
			}
		}
		if g.OnlinePossible() {
			for _, l := range g.Languages {
				if k := onlineKey(topic, directory.BaseLanguage(l)) + "#" + groupBand(g); !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
	}
	return keys
}

func cellKey(topic, cell string) string   { return cellPrefix + topic + "#" + cell }
func onlineKey(topic, lang string) string { return onlinePrefix + topic + "#" + lang }

// GetGroup returns a listing. It returns a problem.NotFound error when there
// is none.
func (s *Directory) GetGroup(ctx context.Context, id string) (directory.Group, error) {
	it, found, err := s.load(ctx, id)
	if err != nil {
		return directory.Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	if !found {
		return directory.Group{}, notFound("group")
	}
	it.Group.EndPause(s.now())
	return it.Group, nil
}

func (s *Directory) load(ctx context.Context, id string) (groupItem, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: key(groupPrefix+id, groupSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return groupItem{}, false, err
	}
	if out.Item == nil {
		return groupItem{}, false, nil
	}
	var it groupItem
	if err := unmarshal(out.Item, &it); err != nil {
		return groupItem{}, false, err
	}
	return it, true, nil
}

// PutGroup stores a listing, creating or replacing it, and reports whether
// it was new. The listing is normalized and validated first; a PUT clears
// Paused (the listing has been looked at), keeps a running no-capacity
// penalty, and sets UpdatedAt.
//
// The group item, its new match-index items and the removal of index items
// it no longer owns (it moved, changed topics or languages, or stopped being
// offered) are one transaction, conditional on the stored version. It
// returns the problem.Invalid error of Validate, a problem.Conflict error
// when other writes of the same group keep winning, and wrapped DynamoDB
// errors.
func (s *Directory) PutGroup(ctx context.Context, g directory.Group) (created bool, err error) {
	return s.PutGroupScheduled(ctx, g, nil)
}

// PutGroupScheduled is PutGroup that, with sched, also gives a group
// without a listing-check schedule its first check in the group's own
// transaction (see GroupSchedule): one read and one write, as PutGroup.
func (s *Directory) PutGroupScheduled(ctx context.Context, g directory.Group, sched *GroupSchedule) (created bool, err error) {
	return s.PutGroupWith(ctx, g, PutGroupOptions{Schedule: sched})
}

// PutGroupOptions say what PutGroupWith does beside storing a listing.
type PutGroupOptions struct {
	// Schedule: see PutGroupScheduled.
	Schedule *GroupSchedule
	// KeepTexts is for a listing that does not say whether its contact
	// takes texts (an import; a PUT without contact.texts): its own
	// contact.texts is ignored, and the stored contact's agreement, with
	// the number it was given for, is kept when the contact is the same
	// (see directory.Contact.KeepTexts). So a feed never turns texts on,
	// nor off.
	KeepTexts bool
}

// PutGroupWith is PutGroup with options, in the same one read and one write.
func (s *Directory) PutGroupWith(ctx context.Context, g directory.Group, opt PutGroupOptions) (created bool, err error) {
	sched := opt.Schedule
	if opt.KeepTexts {
		g.Contact.Texts = false // its own says nothing; the stored one is kept below
	}
	g.Normalize()
	if err := g.Validate(); err != nil {
		return false, err
	}
	g.Unpause()
	err = s.updateScheduled(ctx, g.ID, true, sched, func(old *directory.Group, found bool) bool {
		created = !found
		if found {
			g.PenaltyUntil = old.PenaltyUntil
			g.ListingCheckedAt, g.LastConfirmedAt = old.ListingCheckedAt, old.LastConfirmedAt
			g.ListingUnanswered = old.ListingUnanswered
			g.HandoverTo, g.HandoverSeq, g.ContactSeq = old.HandoverTo, old.HandoverSeq, old.ContactSeq
			if opt.KeepTexts {
				g.Contact.KeepTexts(old.Contact)
			}
			if old.TimedPause() {
				// Its contact paused it for a while (a pause that has
				// ended is lifted on reading): a PUT does not undo that.
				g.PauseUntil(old.PausedReason, old.PausedUntil)
			}
			if !strings.EqualFold(g.Contact.Email, old.Contact.Email) {
				// A new contact, not asked yet. The old contact's listing
				// links stop working (links are made from the contact's
				// seq), and a pending hand-over is dropped.
				g.ListingUnanswered = 0
				g.ContactSeq = max(old.ContactSeq, old.HandoverSeq) + 1
				g.HandoverSeq, g.HandoverTo = g.ContactSeq, nil
			}
			if !g.Paused && g.ListingUnanswered >= 2 {
				// Its checks went unanswered: only its contact's answer
				// lifts that pause (see directory.UnansweredPause).
				g.Pause(directory.UnansweredPause)
			}
		}
		*old = g
		return true
	})
	if err != nil {
		return false, fmt.Errorf("put group %s: %w", g.ID, err)
	}
	return created, nil
}

// Pause stops a group from being offered (its contact's mail bounced or was
// refused): the group is marked paused with the reason, and its match-index
// items are removed, in one transaction. Pausing a paused group only
// updates the reason. It returns a problem.NotFound error for an unknown
// group. The reason is shown to operators: it must name no person.
func (s *Directory) Pause(ctx context.Context, id, reason string) error {
	err := s.update(ctx, id, false, func(g *directory.Group, _ bool) bool {
		// Until something lifts it: a pause its contact chose no longer ends.
		g.Pause(reason)
		return true
	})
	if err != nil {
		return fmt.Errorf("pause group %s: %w", id, err)
	}
	return nil
}

// Penalize lowers a group's ranking until the given time, after it declined
// a referral for lack of capacity. The group and its match-index items get
// the new penalty_until in one transaction; an earlier time than the one
// running is ignored. It returns a problem.NotFound error for an unknown
// group.
func (s *Directory) Penalize(ctx context.Context, id string, until time.Time) error {
	err := s.update(ctx, id, false, func(g *directory.Group, _ bool) bool {
		if !until.After(g.PenaltyUntil) {
			return false
		}
		g.PenaltyUntil = until.UTC()
		return true
	})
	if err != nil {
		return fmt.Errorf("penalize group %s: %w", id, err)
	}
	return nil
}

// update reads a group, lets change edit it (change reports whether there is
// anything to write), and writes it with its index in one transaction,
// retrying when another write of the group won the race. Without create, a
// missing group is a problem.NotFound error.
func (s *Directory) update(ctx context.Context, id string, create bool, change func(g *directory.Group, found bool) bool) error {
	return s.updateScheduled(ctx, id, create, nil, change)
}

// updateScheduled is update that, with sched, reads the group's LISTING
// item with the group and writes the first check of a group that is new or
// has none with it (see GroupSchedule).
func (s *Directory) updateScheduled(ctx context.Context, id string, create bool, sched *GroupSchedule, change func(g *directory.Group, found bool) bool) error {
	for range putAttempts {
		var (
			old         groupItem
			found       bool
			head        string
			err         error
			scheduleNow []types.TransactWriteItem
		)
		if sched == nil {
			old, found, err = s.load(ctx, id)
		} else {
			old, found, head, err = s.loadScheduled(ctx, id, sched)
		}
		if transactionConflict(err) {
			continue
		}
		if err != nil {
			return err
		}
		if !found && !create {
			return notFound("group")
		}
		g := old.Group
		ended := g.EndPause(s.now()) // written with any change
		if !change(&g, found) && !ended {
			return nil
		}
		if sched != nil && (!found || head == "") {
			if scheduleNow, err = sched.items(id, head); err != nil {
				return err
			}
		}
		g.UpdatedAt = s.now().UTC()
		err = s.write(ctx, g, old, found, scheduleNow...)
		if err == nil {
			return nil
		}
		// The group's version, or its schedule, changed since the read.
		if !anyConditionFailed(err) && !transactionConflict(err) {
			return err
		}
	}
	return problem.Errorf(problem.Conflict, "The group was changed by another request at the same time; try again.")
}

// loadScheduled reads a group and the id its LISTING item names ("" when
// it has none) in one call.
func (s *Directory) loadScheduled(ctx context.Context, id string, sched *GroupSchedule) (groupItem, bool, string, error) {
	out, err := s.DB.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
		{Get: &types.Get{TableName: aws.String(s.Table), Key: key(groupPrefix+id, groupSK)}},
		{Get: &types.Get{TableName: aws.String(sched.Referrals.Table), Key: sched.headKey(id)}},
	}})
	if err != nil {
		return groupItem{}, false, "", err
	}
	if len(out.Responses) != 2 {
		return groupItem{}, false, "", fmt.Errorf("read group %s and its schedule: %d answers", id, len(out.Responses))
	}
	var (
		it groupItem
		h  listingHead
	)
	if item := out.Responses[1].Item; item != nil {
		if err := unmarshal(item, &h); err != nil {
			return groupItem{}, false, "", err
		}
	}
	item := out.Responses[0].Item
	if item == nil {
		return groupItem{}, false, h.Next, nil
	}
	if err := unmarshal(item, &it); err != nil {
		return groupItem{}, false, "", err
	}
	return it, true, h.Next, nil
}

// write puts the group and the index items it owns, and deletes those it
// owned before and no longer does, if the stored version is still old's;
// more items (a first listing check) go in the same transaction.
func (s *Directory) write(ctx context.Context, g directory.Group, old groupItem, existed bool, more ...types.TransactWriteItem) error {
	keys := IndexKeys(g)
	it := groupItem{
		Group: g, Type: "group", Version: old.Version + 1, IndexKeys: keys,
		GSI1PK: sourcePrefix + g.Source, GSI1SK: groupPrefix + g.ID,
	}
	item, err := marshal(it, groupPrefix+g.ID, groupSK)
	if err != nil {
		return err
	}
	put := &types.Put{TableName: aws.String(s.Table), Item: item}
	if existed {
		put.ConditionExpression = aws.String("version = :v")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":v": num(int64(old.Version))}
	} else {
		put.ConditionExpression = aws.String("attribute_not_exists(PK)")
	}
	tx := []types.TransactWriteItem{{Put: put}}
	cand := indexItem{Candidate: directory.CandidateOf(g), Type: "match"}
	for _, name := range keys {
		pk, sk := IndexItemKey(name, g.ID)
		ix, err := marshal(cand, pk, sk)
		if err != nil {
			return err
		}
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.Table), Item: ix}})
	}
	for _, name := range old.IndexKeys {
		if !slices.Contains(keys, name) {
			pk, sk := IndexItemKey(name, g.ID)
			tx = append(tx, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.Table), Key: key(pk, sk)}})
		}
	}
	tx = append(tx, more...)
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	return err
}

// ImportHooks say what ImportGroups does beside storing each listing; each
// may be nil.
type ImportHooks struct {
	// Schedule gives each listing stored without a listing-check schedule
	// its first check, in the listing's own transaction (see
	// PutGroupScheduled).
	Schedule *GroupSchedule
	// Progress runs after each listing with the number done and the total.
	Progress func(done, total int)
}

// ImportGroups stores many listings (an import's), several at a time
// (Concurrency), calling hooks after each. A contact's agreement to texts
// is kept as stored (see PutGroupOptions.KeepTexts): a feed never turns it
// on or off. A listing that fails validation
// is skipped with its index in groups and the reason; when the same id
// comes more than once, the last one is stored and the earlier ones are
// skipped. It stops at the first other error and returns it with the
// counts so far.
func (s *Directory) ImportGroups(ctx context.Context, groups []directory.Group, hooks ImportHooks) (imported, updated int, skipped []directory.Skip, err error) {
	last := make(map[string]int, len(groups))
	for i, g := range groups {
		last[g.ID] = i
	}
	var (
		mu    sync.Mutex
		done  int
		first error
	)
	finish := func(i int, created bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil && created:
			imported++
		case err == nil:
			updated++
		case problem.Is(err, problem.Invalid):
			skipped = append(skipped, directory.Skip{Index: i, Reason: directory.SkipReason(err)})
		case first == nil:
			first = err
		}
		done++
		if hooks.Progress != nil {
			hooks.Progress(done, len(groups))
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var wg sync.WaitGroup
	for range s.concurrency() {
		wg.Go(func() {
			for i := range work {
				if ctx.Err() != nil {
					continue
				}
				// A feed never says whether a contact takes texts.
				created, err := s.PutGroupWith(ctx, groups[i], PutGroupOptions{Schedule: hooks.Schedule, KeepTexts: true})
				if err != nil && !problem.Is(err, problem.Invalid) {
					cancel()
				}
				finish(i, created, err)
			}
		})
	}
	for i, g := range groups {
		if last[g.ID] != i {
			finish(i, false, problem.Invalidf([]problem.FieldError{{Field: "id", Detail: "comes again later in the import; the later listing is kept"}}, "Repeated id."))
			continue
		}
		work <- i
	}
	close(work)
	wg.Wait()
	slices.SortFunc(skipped, func(a, b directory.Skip) int { return a.Index - b.Index })
	if first != nil {
		return imported, updated, skipped, fmt.Errorf("import groups: %w", first)
	}
	return imported, updated, skipped, nil
}

func (s *Directory) concurrency() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	return 8
}

// Stats say what a match read.
type Stats struct {
	Queries   int // DynamoDB Query calls (pages included)
	ItemsRead int // items those calls read
	// Level is the coarsest geohash precision read (5, 4 or 3): 5 when the
	// patient's own neighbourhood gave enough candidates, 3 for the widest
	// ring. 0 when no in-person group was looked for.
	Level int
}

// candidatesWanted is how many candidates, per match asked for, a ring must
// hold before the search stops widening.
const candidatesWanted = 3

// Candidates reads the match index around a query. For a patient with a
// location who accepts in-person groups, it reads the geohash cell holding
// the patient and its 8 neighbours at precision 5 (one Query per topic and
// cell); when fewer than 3×Limit groups that pass the filters lie within the
// distance that ring fully covers, it widens to precision 4, then 3 — never
// reading a cell wholly beyond directory.MaxDistanceKm. When the patient
// accepts online groups it also reads, for each topic and language the
// patient accepts (Prefs.Languages, else the preferred Language and
// English), two pages of the online index outward from the patient's UTC
// offset band (see online.go). Queries run concurrently, at most
// Concurrency at once. Each group is returned once.
//
// It returns a problem.Invalid error for a query without topics and wrapped
// DynamoDB errors.
func (s *Directory) Candidates(ctx context.Context, q directory.Query) ([]directory.Candidate, Stats, error) {
	var st Stats
	if len(q.Topics) == 0 {
		return nil, st, problem.Invalidf([]problem.FieldError{{Field: "topic", Detail: "is required"}}, "A match needs a topic.")
	}
	inPerson, online := acceptsInPerson(q.Prefs.Formats), acceptsOnline(q.Prefs.Formats)
	var pending []string
	limit := q.Limit
	if limit <= 0 {
		limit = directory.DefaultLimit
	}
	want := candidatesWanted * limit
	var cands []directory.Candidate
	seen := map[string]bool{}
	add := func(items []directory.Candidate) {
		for _, c := range items {
			if !seen[c.GroupID] {
				seen[c.GroupID] = true
				cands = append(cands, c)
			}
		}
	}
	read := func(pks []string) error {
		items, queries, scanned, err := s.queryPartitions(ctx, pks)
		st.Queries += queries
		st.ItemsRead += scanned
		add(items)
		return err
	}
	if q.HasLocation && inPerson {
		for _, p := range cellPrecisions {
			st.Level = int(p)
			center := geo.Encode(q.Lat, q.Lon, p)
			for _, cell := range geo.Ring(center) {
				if cellDistanceKm(q.Lat, q.Lon, cell) > directory.MaxDistanceKm {
					continue
				}
				for _, topic := range q.Topics {
					pending = append(pending, cellKey(topic, cell))
				}
			}
			if err := read(pending); err != nil {
				return nil, st, fmt.Errorf("match candidates: %w", err)
			}
			pending = nil
			if nearEnough(q, cands, ringReachKm(q.Lat, q.Lon, center), want) {
				break
			}
		}
	}
	if online {
		items, queries, scanned, err := s.onlineCandidates(ctx, q)
		st.Queries += queries
		st.ItemsRead += scanned
		add(items)
		if err != nil {
			return nil, st, fmt.Errorf("match candidates: %w", err)
		}
	}
	return cands, st, nil
}

// Match ranks the candidates around a query (see Candidates and
// directory.Rank). Nothing within reach is an empty list, not an error. It
// returns the errors of Candidates.
func (s *Directory) Match(ctx context.Context, q directory.Query) ([]directory.Match, error) {
	cands, _, err := s.Candidates(ctx, q)
	if err != nil {
		return nil, err
	}
	return directory.Rank(q, cands), nil
}

// nearEnough reports whether at least want candidates pass the query's
// filters in person within reachKm: the distance inside which the ring read
// so far holds every group, so widening could not bring a closer one.
func nearEnough(q directory.Query, cands []directory.Candidate, reachKm float64, want int) bool {
	if len(cands) < want {
		return false
	}
	near := q
	near.Limit = len(cands)
	near.Prefs.Formats = []string{directory.InPerson}
	n := 0
	for _, m := range directory.Rank(near, cands) {
		if m.DistanceKm <= reachKm {
			n++
		}
	}
	return n >= want
}

func acceptsInPerson(formats []string) bool {
	return len(formats) == 0 || slices.Contains(formats, directory.InPerson) || slices.Contains(formats, directory.Hybrid)
}

func acceptsOnline(formats []string) bool {
	return len(formats) == 0 || slices.Contains(formats, directory.Online) || slices.Contains(formats, directory.Hybrid)
}

// onlineLanguages are the online partitions' languages a query reads.
func onlineLanguages(q directory.Query) []string {
	var out []string
	add := func(l string) {
		if l = directory.BaseLanguage(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if len(q.Prefs.Languages) > 0 {
		for _, l := range q.Prefs.Languages {
			add(l)
		}
		return out
	}
	add(q.Language)
	add("en")
	return out
}

// cellSize returns a geohash cell's height and width in degrees.
func cellSize(precision int) (dLat, dLon float64) {
	bits := 5 * precision
	lonBits := (bits + 1) / 2
	latBits := bits / 2
	return 180 / math.Exp2(float64(latBits)), 360 / math.Exp2(float64(lonBits))
}

// cellDistanceKm is how far a point is from the nearest point of a cell.
func cellDistanceKm(lat, lon float64, cell string) float64 {
	cLat, cLon := geo.Center(cell)
	dLat, dLon := cellSize(len(cell))
	nLat := math.Max(cLat-dLat/2, math.Min(lat, cLat+dLat/2))
	nLon := math.Max(cLon-dLon/2, math.Min(lon, cLon+dLon/2))
	return geo.DistanceKm(lat, lon, nLat, nLon)
}

// ringReachKm is the distance from a point inside center to the nearest edge
// of center's ring (the 3×3 block of cells around it): every place within it
// lies inside the ring.
func ringReachKm(lat, lon float64, center string) float64 {
	cLat, cLon := geo.Center(center)
	dLat, dLon := cellSize(len(center))
	north := cLat + 1.5*dLat - lat
	south := lat - (cLat - 1.5*dLat)
	east := cLon + 1.5*dLon - lon
	west := lon - (cLon - 1.5*dLon)
	// Along a meridian 1° is the same everywhere; along a parallel it
	// shrinks with the latitude: take the edge's worst latitude.
	worstLat := math.Min(math.Abs(lat)+1.5*dLat, 90)
	kmLat := geo.DistanceKm(0, 0, 1, 0)
	kmLon := kmLat * math.Cos(worstLat*math.Pi/180)
	return math.Min(math.Min(north, south)*kmLat, math.Min(east, west)*kmLon)
}

// queryPartitions reads whole match-index partitions, several at a time.
func (s *Directory) queryPartitions(ctx context.Context, pks []string) (cands []directory.Candidate, queries, scanned int, err error) {
	ins := make([]*dynamodb.QueryInput, len(pks))
	for i, pk := range pks {
		ins[i] = &dynamodb.QueryInput{
			TableName:                 aws.String(s.Table),
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		}
	}
	return s.queryPages(ctx, ins)
}

// queryPages runs match-index Queries, several at a time: each to its end,
// or one page only when it sets a Limit.
func (s *Directory) queryPages(ctx context.Context, ins []*dynamodb.QueryInput) (cands []directory.Candidate, queries, scanned int, err error) {
	if len(ins) == 0 {
		return nil, 0, 0, nil
	}
	type result struct {
		cands            []directory.Candidate
		queries, scanned int
		err              error
	}
	results := make([]result, len(ins))
	sem := make(chan struct{}, s.concurrency())
	var wg sync.WaitGroup
	for i, in := range ins {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := &results[i]
			r.cands, r.queries, r.scanned, r.err = s.queryPartition(ctx, in)
		})
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		cands = append(cands, r.cands...)
		queries += r.queries
		scanned += r.scanned
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	return cands, queries, scanned, errors.Join(errs...)
}

func (s *Directory) queryPartition(ctx context.Context, in *dynamodb.QueryInput) (cands []directory.Candidate, queries, scanned int, err error) {
	for {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			// The key names a topic and a patient's cell: it stays out of
			// the error, which may be logged.
			return cands, queries, scanned, fmt.Errorf("query match index: %w", err)
		}
		queries++
		// Without a filter every item read is returned; some servers
		// (minidyn) leave ScannedCount unset.
		scanned += int(max(out.ScannedCount, out.Count))
		for _, item := range out.Items {
			var it indexItem
			if err := unmarshal(item, &it); err != nil {
				return cands, queries, scanned, fmt.Errorf("read match index item: %w", err)
			}
			cands = append(cands, it.Candidate)
		}
		if len(out.LastEvaluatedKey) == 0 || in.Limit != nil {
			return cands, queries, scanned, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// SourceGroupIDs lists the ids of the groups whose listing came from source
// (an import's name, or "admin"), in id order, through the source index.
func (s *Directory) SourceGroupIDs(ctx context.Context, source string) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		IndexName:                 aws.String(sourceIndex),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sourcePrefix + source)},
	}
	var ids []string
	for {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return ids, fmt.Errorf("list the groups of a source: %w", err)
		}
		for _, item := range out.Items {
			if sk, ok := item["GSI1SK"].(*types.AttributeValueMemberS); ok {
				ids = append(ids, strings.TrimPrefix(sk.Value, groupPrefix))
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ids, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// WithdrawMissing pauses every offered group of source whose id is not in
// keep — the listings a feed no longer carries — with reason, and returns
// their ids. A group that comes back in a later import is offered again (a
// put clears the pause). Groups already paused are left as they are.
func (s *Directory) WithdrawMissing(ctx context.Context, source string, keep map[string]bool, reason string) ([]string, error) {
	ids, err := s.SourceGroupIDs(ctx, source)
	if err != nil {
		return nil, err
	}
	var withdrawn []string
	for _, id := range ids {
		if keep[id] {
			continue
		}
		paused := false
		err := s.update(ctx, id, false, func(g *directory.Group, _ bool) bool {
			paused = false // a retry reads the group afresh
			if g.Source != source || (g.Paused && !g.TimedPause()) {
				return false // moved to another source meanwhile, or paused already
			}
			// A pause its contact chose would end: this one does not.
			g.Pause(reason)
			paused = true
			return true
		})
		switch {
		case problem.Is(err, problem.NotFound):
			continue // removed meanwhile
		case err != nil:
			return withdrawn, fmt.Errorf("withdraw group %s: %w", id, err)
		case paused:
			withdrawn = append(withdrawn, id)
		}
	}
	return withdrawn, nil
}

// ReserveSlot counts a referral against a group's weekly capacity, in the
// ISO week (UTC) of at: it reports false, and counts nothing, when the group
// already has capacity referrals that week (capacity 0: no limit, the
// referral is only counted). The referral's reservation item and the week's
// count are one conditional transaction, so two routings racing for a
// group's last slot cannot both win it, and reserving for the same referral
// again is a no-op that reports true: a retried routing step neither counts
// twice nor loses its slot. Both items expire some weeks after. It returns
// wrapped DynamoDB errors.
func (s *Directory) ReserveSlot(ctx context.Context, groupID, referralID string, capacity int, at time.Time) (bool, error) {
	week := loadPrefix + directory.WeekOf(at)
	exp := num(at.Add(loadTTL).Unix())
	count := &types.Update{
		TableName:                 aws.String(s.Table),
		Key:                       key(groupPrefix+groupID, week),
		UpdateExpression:          aws.String("ADD routed :one SET #type = :type, expires_at = :exp"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":type": str("load"), ":exp": exp},
	}
	if capacity > 0 {
		count.ConditionExpression = aws.String("attribute_not_exists(routed) OR routed < :cap")
		count.ExpressionAttributeValues[":cap"] = num(int64(capacity))
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{
			TableName: aws.String(s.Table),
			Item: map[string]types.AttributeValue{
				"PK": str(groupPrefix + groupID), "SK": str(week + "#" + referralID),
				"type": str("reservation"), "expires_at": exp,
			},
			ConditionExpression: aws.String("attribute_not_exists(PK)"),
		}},
		{Update: count},
	}}
	var err error
	for range putAttempts {
		if _, err = s.DB.TransactWriteItems(ctx, in); !transactionConflict(err) {
			break // another routing of the group held the count: try again
		}
	}
	switch {
	case err == nil:
		return true, nil
	case cancelledBy(err, 0):
		return true, nil // this referral holds its slot already
	case cancelledBy(err, 1):
		return false, nil // full this week
	default:
		return false, fmt.Errorf("reserve a slot of group %s: %w", groupID, err)
	}
}

// RoutedThisWeek returns how many referrals were routed to a group in the
// ISO week (UTC) of now: 0 when none were. It returns wrapped DynamoDB
// errors.
func (s *Directory) RoutedThisWeek(ctx context.Context, groupID string, now time.Time) (int, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            key(groupPrefix+groupID, loadPrefix+directory.WeekOf(now)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("routed this week for group %s: %w", groupID, err)
	}
	var load struct {
		Routed int `json:"routed"`
	}
	if out.Item != nil {
		if err := unmarshal(out.Item, &load); err != nil {
			return 0, fmt.Errorf("routed this week for group %s: %w", groupID, err)
		}
	}
	return load.Routed, nil
}
