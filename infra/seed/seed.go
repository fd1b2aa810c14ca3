// Package seed is the demo directory of the local stack: real Meeting Guide
// feeds, imported the way an operator would import them, and hand-written
// groups for the other topics around Chicago, San Francisco, Atlanta and
// Austin, plus online groups in English and Spanish. README.md lists the
// postal codes and topics to try.
//
// Every contact is a placeholder address (contact+<group id>@groups.example),
// and so is every service office a feed names (office+<group id>@…): the
// demo never writes to a real group or office.
package seed

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/geo"
)

// The real feeds (see README.md for their sources and licences).
var (
	//go:embed feeds/sussexaa.json
	sussexFeed []byte
	//go:embed feeds/atlantaaa.json
	atlantaFeed []byte
	//go:embed feeds/edmontonaa.json
	edmontonFeed []byte
	//go:embed groups.json
	handWritten []byte
)

// feed is one real feed and how it is imported.
type feed struct {
	body []byte
	opt  directory.ImportOptions
}

func feeds() []feed {
	return []feed{
		{sussexFeed, directory.ImportOptions{Topic: "alcohol", Fellowship: "aa", Source: "sussexaa"}},
		{atlantaFeed, directory.ImportOptions{Topic: "alcohol", Fellowship: "aa", Source: "atlantaaa"}},
		{edmontonFeed, directory.ImportOptions{Topic: "alcohol", Fellowship: "aa", Source: "edmontonaa"}},
	}
}

// city is where hand-written groups meet: its postal code's centroid, offset
// by each group's north_km and east_km.
type city struct {
	postal, name, region, timezone string
}

var cities = map[string]city{
	"chicago":       {"60601", "Chicago", "IL", "America/Chicago"},
	"san-francisco": {"94110", "San Francisco", "CA", "America/Los_Angeles"},
	"atlanta":       {"30303", "Atlanta", "GA", "America/New_York"},
	"austin":        {"78701", "Austin", "TX", "America/Chicago"},
}

// handGroup is a hand-written demo group in groups.json: the listing's own
// fields, with its place given as a city and an offset, and its meetings as
// "day HH:MM" (90 minutes each).
type handGroup struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Description   string   `json:"description"`
	City          string   `json:"city"` // "" for a group that meets only online
	NorthKm       float64  `json:"north_km"`
	EastKm        float64  `json:"east_km"`
	PostalCode    string   `json:"postal_code"` // when not the city's
	Timezone      string   `json:"timezone"`    // for a group with no city
	Topics        []string `json:"topics"`
	Model         string   `json:"model"`
	Spirituality  string   `json:"spirituality"`
	Formats       []string `json:"formats"`
	Languages     []string `json:"languages"`
	Meets         []string `json:"meets"`
	Audience      []string `json:"audience"`
	Accessibility []string `json:"accessibility"`
}

// Groups returns the demo directory: every listing normalized and valid,
// each id once. It returns an error if a feed or groups.json cannot be read
// or holds an invalid listing — a broken build, which the tests catch.
func Groups() ([]directory.Group, error) {
	var out []directory.Group
	for _, f := range feeds() {
		f.opt.ContactEmail = "contact@groups.example" // replaced below, group by group
		res, err := directory.ImportMeetingGuide(bytes.NewReader(f.body), f.opt)
		if err != nil {
			return nil, fmt.Errorf("seed: import %s: %w", f.opt.Source, err)
		}
		out = append(out, res.Groups...)
	}
	var hand []handGroup
	dec := json.NewDecoder(bytes.NewReader(handWritten))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hand); err != nil {
		return nil, fmt.Errorf("seed: read groups.json: %w", err)
	}
	for _, h := range hand {
		g, err := h.group()
		if err != nil {
			return nil, fmt.Errorf("seed: group %s: %w", h.ID, err)
		}
		out = append(out, g)
	}
	seen := make(map[string]bool, len(out))
	for i := range out {
		g := &out[i]
		if seen[g.ID] {
			return nil, fmt.Errorf("seed: group id %s twice", g.ID)
		}
		seen[g.ID] = true
		g.Contact = directory.Contact{Name: "Demo contact", Email: PlaceholderEmail(g.ID)}
		if !g.Office.IsZero() {
			// A feed's service office keeps its name; it is reached at a
			// placeholder too.
			g.Office = directory.Office{Name: g.Office.Name, Email: "office+" + strings.TrimPrefix(PlaceholderEmail(g.ID), "contact+")}
		}
		g.Normalize()
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("seed: group %s: %s", g.ID, directory.SkipReason(err))
		}
	}
	return out, nil
}

// PlaceholderEmail is the demo contact address of a group: it reaches no one
// (groups.example is reserved), and the local mail emulator shows it.
func PlaceholderEmail(groupID string) string {
	const prefix = "contact+" // the local part of an address is at most 64 bytes
	return prefix + groupID[:min(len(groupID), 64-len(prefix))] + "@groups.example"
}

func (h handGroup) group() (directory.Group, error) {
	g := directory.Group{
		ID: h.ID, Name: h.Name, Description: h.Description, Topics: h.Topics, Model: h.Model,
		Spirituality: h.Spirituality, Formats: h.Formats, Languages: h.Languages,
		Audience: h.Audience, Accessibility: h.Accessibility, AcceptingReferrals: true, Source: "demo",
	}
	tz := h.Timezone
	if h.City != "" {
		c, ok := cities[h.City]
		if !ok {
			return g, fmt.Errorf("unknown city %q", h.City)
		}
		lat, lon, ok := geo.PostalCentroid("US", c.postal)
		if !ok {
			return g, fmt.Errorf("no centroid for %s", c.postal)
		}
		const kmPerDegree = 111.195
		g.Location = directory.Location{
			Lat:        round5(lat + h.NorthKm/kmPerDegree),
			Lon:        round5(lon + h.EastKm/(kmPerDegree*math.Cos(lat*math.Pi/180))),
			PostalCode: c.postal, City: c.name, Region: c.region, Country: "US",
		}
		if h.PostalCode != "" {
			g.Location.PostalCode = h.PostalCode
		}
		tz = c.timezone
	}
	online := g.OnlinePossible()
	for _, m := range h.Meets {
		day, at, ok := strings.Cut(m, " ")
		if !ok {
			return g, fmt.Errorf("meeting %q is not \"day HH:MM\"", m)
		}
		mt := directory.Meeting{Day: day, Time: at, Timezone: tz}
		if online {
			mt.OnlineURL = "https://meet.groups.example/" + h.ID
		}
		g.Meetings = append(g.Meetings, mt)
	}
	for i := range g.Meetings {
		g.Meetings[i].EndTime = plus90(g.Meetings[i].Time)
	}
	return g, nil
}

func round5(v float64) float64 { return math.Round(v*1e5) / 1e5 }

// plus90 is an "HH:MM" time 90 minutes later ("" for an unreadable one,
// which Validate then names).
func plus90(hhmm string) string {
	var h, m int
	if n, err := fmt.Sscanf(hhmm, "%d:%d", &h, &m); err != nil || n != 2 {
		return ""
	}
	t := (h*60 + m + 90) % 1440
	return fmt.Sprintf("%02d:%02d", t/60, t%60)
}
