package chart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/fhir"
	"github.com/handoff-health/handoff/shared/problem"
)

// idPattern is FHIR's id: 1 to 64 letters, digits, '-' and '.'.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// ValidID reports whether id has the shape of a FHIR resource id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Limits on what an EHR may send back.
const (
	maxResourceBytes = 1 << 20 // one Patient, or one page of Conditions
	maxPages         = 5       // pages of a Condition search
	maxConditions    = 1000
	// DefaultTimeout bounds each call to an EHR when the caller's context
	// allows more: an EHR that does not answer is a plain error page within
	// seconds, not a request that runs into the gateway's limit.
	DefaultTimeout = 8 * time.Second
)

// Kind sorts what went wrong talking to an EHR.
type Kind int

// The kinds of Error.
const (
	Unreachable Kind = iota + 1 // no answer: refused connection, timeout, TLS failure
	Refused                     // 401, 403 or 404: the token does not reach it, or it is not there
	BadAnswer                   // another status, or an answer that is not what FHIR promises
	BadURL                      // the URL is not one handoff may call (see CheckURL)
)

// Error is a failed call to an EHR. Its message names the step and the
// reason, never a URL, an id or anything the EHR sent: it may be logged.
type Error struct {
	Kind   Kind
	Op     string // what was being done, e.g. "read the Patient"
	Status int    // the EHR's HTTP status, when it answered
	Reason string
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: the EHR answered %d", e.Op, e.Status)
	}
	return e.Op + ": " + e.Reason
}

// CheckURL says whether handoff may call an EHR at raw: https, or plain http
// to a loopback host when allowLoopbackHTTP (a deployment whose own public URL
// is loopback, as for status webhooks); never credentials in the URL.
// Errors: *Error of Kind BadURL.
func CheckURL(raw string, allowLoopbackHTTP bool) error {
	bad := func(why string) error { return &Error{Kind: BadURL, Op: "check the EHR's URL", Reason: why} }
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || len(raw) > 2048 {
		return bad("not an absolute URL")
	}
	if u.User != nil {
		return bad("it carries credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowLoopbackHTTP && isLoopback(u.Hostname()) {
			return nil
		}
	}
	return bad("it must use https")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Reader reads a chart from an EHR's FHIR API with a bearer token.
type Reader struct {
	// HTTP makes the calls; nil is a client with DefaultTimeout that follows
	// no redirects. The deployment gives one with its outbound address guard.
	HTTP *http.Client
	// AllowLoopbackHTTP lets plain http reach a loopback EHR (see CheckURL).
	AllowLoopbackHTTP bool
	// Timeout bounds each call (DefaultTimeout when zero).
	Timeout time.Duration
}

// DefaultClient is the client a Reader uses when given none.
func DefaultClient() *http.Client {
	return &http.Client{Timeout: DefaultTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// Patient reads Patient/{id} at the FHIR base. Errors: *Error.
func (r Reader) Patient(ctx context.Context, base, token, id string) (fhir.Patient, error) {
	const op = "read the Patient"
	if !ValidID(id) {
		return fhir.Patient{}, &Error{Kind: BadAnswer, Op: op, Reason: "the patient id is not a FHIR id"}
	}
	raw, err := r.get(ctx, op, strings.TrimSuffix(base, "/")+"/Patient/"+id, token, base)
	if err != nil {
		return fhir.Patient{}, err
	}
	res, err := fhir.ReadResource(raw)
	switch {
	case err != nil:
		return fhir.Patient{}, &Error{Kind: BadAnswer, Op: op, Reason: "the answer is not a FHIR Patient (" + describe(err) + ")"}
	case res.Patient == nil:
		return fhir.Patient{}, &Error{Kind: BadAnswer, Op: op, Reason: fmt.Sprintf("a %.40q where a Patient was expected", res.Type)}
	case res.ID != id:
		return fhir.Patient{}, &Error{Kind: BadAnswer, Op: op, Reason: "the EHR answered with another Patient"}
	}
	return *res.Patient, nil
}

// ActiveConditions searches the patient's Conditions with
// clinical-status=active, following up to 5 pages, and keeps those that are
// active (see Active) and about this patient: a server that ignores the
// search parameter changes nothing. Errors: *Error.
func (r Reader) ActiveConditions(ctx context.Context, base, token, patientID string) ([]fhir.Condition, error) {
	const op = "search the Conditions"
	if !ValidID(patientID) {
		return nil, &Error{Kind: BadAnswer, Op: op, Reason: "the patient id is not a FHIR id"}
	}
	next := strings.TrimSuffix(base, "/") + "/Condition?" + url.Values{
		"patient": {patientID}, "clinical-status": {"active"},
	}.Encode()
	var out []fhir.Condition
	for page := 0; next != "" && page < maxPages; page++ {
		raw, err := r.get(ctx, op, next, token, base)
		if err != nil {
			return nil, err
		}
		found, err := fhir.ReadSearchset(raw)
		if err != nil {
			return nil, &Error{Kind: BadAnswer, Op: op, Reason: "the answer is not a FHIR Bundle (" + describe(err) + ")"}
		}
		next = found.Next
		out = append(out, ActiveFor(found.Resources, patientID)...)
		if len(out) > maxConditions {
			return nil, &Error{Kind: BadAnswer, Op: op, Reason: "over 1000 active Conditions"}
		}
	}
	return out, nil
}

// describe names what shared/fhir found wrong, without a value: the
// element of a field error, or that the body is not JSON.
func describe(err error) string {
	var pe *problem.Error
	if errors.As(err, &pe) && len(pe.Fields) > 0 {
		return pe.Fields[0].Field + " " + pe.Fields[0].Detail
	}
	return "not FHIR JSON"
}

// get fetches a FHIR URL, which must be on the same origin as base (a next
// link elsewhere would carry the token away).
func (r Reader) get(ctx context.Context, op, target, token, base string) ([]byte, error) {
	if err := CheckURL(target, r.AllowLoopbackHTTP); err != nil {
		return nil, &Error{Kind: BadURL, Op: op, Reason: err.(*Error).Reason}
	}
	if !sameOrigin(target, base) {
		return nil, &Error{Kind: BadAnswer, Op: op, Reason: "a link leads away from the EHR's FHIR base"}
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, &Error{Kind: BadURL, Op: op, Reason: "not a URL"}
	}
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+token)
	client := r.HTTP
	if client == nil {
		client = DefaultClient()
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, &Error{Kind: Unreachable, Op: op, Reason: Why(err)}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResourceBytes+1))
	switch {
	case err != nil:
		return nil, &Error{Kind: Unreachable, Op: op, Reason: Why(err)}
	case res.StatusCode == http.StatusUnauthorized, res.StatusCode == http.StatusForbidden, res.StatusCode == http.StatusNotFound:
		return nil, &Error{Kind: Refused, Op: op, Status: res.StatusCode}
	case res.StatusCode != http.StatusOK:
		return nil, &Error{Kind: BadAnswer, Op: op, Status: res.StatusCode}
	case len(body) > maxResourceBytes:
		return nil, &Error{Kind: BadAnswer, Op: op, Reason: "the answer is over 1 MiB"}
	}
	return body, nil
}

func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

// Why names why a call got no answer, without the URL an *url.Error carries
// (a search URL holds a patient id).
func Why(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return "could not connect (" + op.Op + ")"
	}
	return "the connection failed"
}
