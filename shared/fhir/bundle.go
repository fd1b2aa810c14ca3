package fhir

import "regexp"

// Bundle is an R4 Bundle as handoff writes it.
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	Meta         *Meta         `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Timestamp    string        `json:"timestamp,omitempty"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry"`
}

// BundleLink is a Bundle's link (self, next).
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one entry of a Bundle handoff writes. Resource is a
// resource of this package (a *Task, *Parameters, *OperationOutcome).
type BundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource any             `json:"resource,omitempty"`
	Search   *BundleSearch   `json:"search,omitempty"`
	Request  *BundleRequest  `json:"request,omitempty"`
	Response *BundleResponse `json:"response,omitempty"`
}

// BundleSearch is a searchset entry's search.
type BundleSearch struct {
	Mode string `json:"mode"`
}

// BundleRequest is a history or transaction entry's request.
type BundleRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// BundleResponse is a history or transaction-response entry's response.
type BundleResponse struct {
	Status       string            `json:"status"`
	Location     string            `json:"location,omitempty"`
	Etag         string            `json:"etag,omitempty"`
	LastModified string            `json:"lastModified,omitempty"`
	Outcome      *OperationOutcome `json:"outcome,omitempty"`
}

// Searchset is a searchset Bundle of Tasks with its self and next links
// (next "" for the last page). base is the FHIR base URL (…/fhir).
func Searchset(base string, tasks []Task, self, next string) Bundle {
	b := Bundle{ResourceType: "Bundle", Type: "searchset", Link: []BundleLink{{Relation: "self", URL: self}}, Entry: []BundleEntry{}}
	if next != "" {
		b.Link = append(b.Link, BundleLink{Relation: "next", URL: next})
	}
	for i := range tasks {
		b.Entry = append(b.Entry, BundleEntry{FullURL: base + "/Task/" + tasks[i].ID, Resource: &tasks[i], Search: &BundleSearch{Mode: "match"}})
	}
	return b
}

// resourceType is what a FHIR resource type looks like (a transaction's
// other entries are named in its answer only when they do).
var resourceType = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

// TransactionResponse answers a transaction's request entries in order:
// the Task's with its status (201 Created, or 200 OK when a conditional
// create found it), location and the Task; the others with 200 and an
// outcome saying that handoff keeps no such resource (intake took from it
// what the referral needs).
func TransactionResponse(base string, entries []string, t Task, created bool) Bundle {
	b := Bundle{ResourceType: "Bundle", Type: "transaction-response", Entry: []BundleEntry{}}
	status := "200 OK"
	if created {
		status = "201 Created"
	}
	for _, kind := range entries {
		if kind == "Task" {
			b.Entry = append(b.Entry, BundleEntry{FullURL: base + "/Task/" + t.ID, Resource: &t, Response: &BundleResponse{
				Status: status, Location: "Task/" + t.ID, Etag: `W/"` + t.Meta.VersionID + `"`, LastModified: t.Meta.LastUpdated,
			}})
			continue
		}
		what := "the entry's resource"
		if resourceType.MatchString(kind) {
			what = "the " + kind
		}
		b.Entry = append(b.Entry, BundleEntry{Response: &BundleResponse{Status: "200 OK", Outcome: &OperationOutcome{
			ResourceType: "OperationOutcome", Issue: []Issue{{Severity: "information", Code: "informational",
				Diagnostics: "handoff does not keep " + what + " as a resource: the referral of Task/" + t.ID +
					" holds only what it needs of it (codes become topics and are dropped; notes are ignored)"}},
		}}})
	}
	return b
}
