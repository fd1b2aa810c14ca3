package apptest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/apptest"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/webhook"
)

// What a route answers with when it refuses a request.
type surface int

const (
	apiSurface  surface = iota // problem+json
	pageSurface                // the plain HTML error page
)

// hostile is one request an attacker (or a broken client) might send.
type hostile struct {
	name   string
	method string
	path   string
	header http.Header
	body   []byte
	on     surface
	// allowed, when set, widens what is acceptable beyond a 4xx (a harmless
	// input a route may serve, such as a query string /healthz ignores).
	// A 5xx is never acceptable; a 3xx only to a path on this site.
	allowed func(status int) bool
	// bug, when set, names a known bug: the case is skipped while it shows.
	bug string
}

func ok2xx(st int) bool { return st >= 200 && st < 300 }

// groupsFlood is a form part picking n distinct groups.
func groupsFlood(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "groups=g%d&", i)
	}
	return b.String()
}

// nested returns a JSON value nested depth levels deep inside key.
func nested(key string, depth int) []byte {
	return []byte(`{"` + key + `":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
}

// bigArray returns {"key": [n elements]}.
func bigArray(key, elem string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"` + key + `":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(elem)
	}
	b.WriteString("]}")
	return b.Bytes()
}

const (
	scriptName = `<script>alert(1)</script>`
	imgName    = `"><img src=x onerror=alert(1)>`
	sqlName    = `Robert'); DROP TABLE referrals;--`
)

// TestHostileInput sends every route requests meant to break it: huge,
// deeply nested, non-UTF-8 and enormous-array bodies, markup and SQL-looking
// names, header tricks, wrong methods, path traversal, overlong tokens and
// query-string floods. Each gets a 4xx (a 3xx only to a path on this site,
// a 2xx only where the input is harmless to the route), never a 5xx or a
// dropped connection; problem+json on the API, the plain page on /c/ and /g/.
func TestHostileInput(t *testing.T) {
	h := apptest.New(t)
	s := newStack(h)
	c := h.NewClinic("lakeside", "")
	groups := nearbyGroups(h, 2)
	// One referral, consented, with a consent link and a group link.
	r, err := s.refer(c, "msg_hostile_setup", patient{Given: "Ana", Email: "hostile@patient.example", Needs: []string{"alcohol"}, External: "H-1"}.body())
	if err != nil || r.status != http.StatusAccepted {
		t.Fatalf("setup referral: %d %v", r.status, err)
	}
	refID := receiptID(r.body)
	h.Settle()
	consentLink := h.Link(h.MailsTo("hostile@patient.example")[0], "c")
	_, hidden, _, err := s.page(consentLink)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.post(consentLink, hidden, url.Values{"action": {"confirm"}, "groups": groups[:1]}); err != nil || r.status != http.StatusSeeOther {
		t.Fatalf("setup confirm: %d %v", r.status, err)
	}
	h.Settle()
	groupLink := h.Link(h.MailsTo("contact+" + groups[0] + "@groups.example")[0], "g")

	key, err := webhook.ParseSecret(c.WebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	signed := func(body []byte, ctype ...string) http.Header {
		n++
		hd := webhook.SignHeaders(key, fmt.Sprintf("msg_hostile_%d", n), h.Now(), body)
		hd["Content-Type"] = []string{"application/json"}
		if len(ctype) > 0 {
			hd["Content-Type"] = ctype
		}
		return hd
	}
	plainJSON := func() http.Header { return http.Header{"Content-Type": {"application/json"}} }
	admin := func() http.Header {
		return http.Header{"Authorization": {"Bearer " + apptest.AdminToken}, "Content-Type": {"application/json"}}
	}
	apiKey := http.Header{"Authorization": {"Bearer " + c.APIKey}}
	form := func(origin bool) http.Header {
		hd := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if origin {
			hd.Set("Origin", h.Server.URL)
		}
		return hd
	}
	mib := bytes.Repeat([]byte("a"), 1<<20+1)
	deep := nested("patient", 10000)
	badUTF8 := []byte(strings.Replace(string(patient{Given: "Ana", Email: "u@patient.example", Needs: []string{"alcohol"}, External: "U"}.body()), "Ana", "An\xff\xfea", 1))
	sqlBody := patient{Given: sqlName, Family: `" OR 1=1 --`, Email: "sql@patient.example", Needs: []string{"alcohol"}, External: `1; DELETE FROM referrals`}.body()
	scriptBody := patient{Given: scriptName, Family: imgName, Email: "xss@patient.example", Needs: []string{"alcohol"}, External: scriptName}.body()
	longToken := strings.Repeat("A", 10000)
	manyTopics := strings.Repeat("topic=alcohol&", 200) + "postal_code=94110"
	queryFlood := strings.Repeat("a=1&", 20000)
	clinicBody := func(name string) []byte {
		b, _ := json.Marshal(map[string]string{"id": "clinic-x", "name": name, "contact_email": "desk@clinic.example"})
		return b
	}

	cases := []hostile{
		// The clinic API.
		{name: "referral 1 MiB unsigned", method: "POST", path: "/v1/clinics/lakeside/referrals", header: plainJSON(), body: mib},
		{name: "referral 1 MiB signed", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(mib), body: mib},
		{name: "referral 10,000 levels deep unsigned", method: "POST", path: "/v1/clinics/lakeside/referrals", header: plainJSON(), body: deep},
		{name: "referral 10,000 levels deep signed", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(deep), body: deep},
		{name: "referral invalid UTF-8 signed", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(badUTF8), body: badUTF8},
		{name: "referral 100k-element array signed", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(bigArray("needs", `"alcohol"`, 100000)), body: bigArray("needs", `"alcohol"`, 100000)},
		{name: "referral 6,000-element array within the size limit", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(bigArray("needs", `"alcohol"`, 6000)), body: bigArray("needs", `"alcohol"`, 6000)},
		{name: "referral SQL-looking values", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(sqlBody), body: sqlBody, allowed: ok2xx},
		{name: "referral markup in names", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(scriptBody), body: scriptBody, allowed: ok2xx},
		{name: "referral two Content-Types unsigned", method: "POST", path: "/v1/clinics/lakeside/referrals", header: http.Header{"Content-Type": {"application/json", "text/plain"}}, body: sqlBody},
		{name: "referral two Content-Types, the first text/plain", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(sqlBody, "text/plain", "application/json"), body: sqlBody},
		{name: "referral Content-Type list", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(sqlBody, "application/json, text/plain"), body: sqlBody},
		{name: "referral charset utf-16", method: "POST", path: "/v1/clinics/lakeside/referrals", header: signed(sqlBody, "application/json; charset=utf-16"), body: sqlBody},
		{name: "referral webhook-id 10,000 characters", method: "POST", path: "/v1/clinics/lakeside/referrals", header: func() http.Header {
			hd := webhook.SignHeaders(key, strings.Repeat("m", 10000), h.Now(), sqlBody)
			hd.Set("Content-Type", "application/json")
			return hd
		}(), body: sqlBody},
		{name: "referral signature 100,000 characters", method: "POST", path: "/v1/clinics/lakeside/referrals", header: func() http.Header {
			hd := signed(sqlBody)
			hd.Set("webhook-signature", strings.Repeat("v1,AAAA ", 12500))
			return hd
		}(), body: sqlBody},
		{name: "referral timestamp overflow", method: "POST", path: "/v1/clinics/lakeside/referrals", header: func() http.Header {
			hd := signed(sqlBody)
			hd.Set("webhook-timestamp", "99999999999999999999999")
			return hd
		}(), body: sqlBody},
		{name: "referral clinic id 10,000 characters", method: "POST", path: "/v1/clinics/" + strings.Repeat("c", 10000) + "/referrals", header: plainJSON(), body: sqlBody},
		{name: "referral clinic id with markup", method: "POST", path: "/v1/clinics/" + url.PathEscape(scriptName) + "/referrals", header: plainJSON(), body: sqlBody},
		{name: "referrals GET", method: "GET", path: "/v1/clinics/lakeside/referrals"},
		{name: "referrals PUT", method: "PUT", path: "/v1/clinics/lakeside/referrals", header: plainJSON(), body: sqlBody},
		{name: "referrals PATCH", method: "PATCH", path: "/v1/clinics/lakeside/referrals"},
		{name: "referrals DELETE", method: "DELETE", path: "/v1/clinics/lakeside/referrals"},
		{name: "referrals made-up method", method: "BREW", path: "/v1/clinics/lakeside/referrals"},
		{name: "referral read, traversal in id", method: "GET", path: "/v1/clinics/lakeside/referrals/..%2F..%2Fadmin%2Fclinics", header: apiKey},
		{name: "referral read, id 10,000 characters", method: "GET", path: "/v1/clinics/lakeside/referrals/" + strings.Repeat("0", 10000), header: apiKey},
		{name: "referral read, SQL-looking id", method: "GET", path: "/v1/clinics/lakeside/referrals/" + url.PathEscape("1' OR '1'='1"), header: apiKey},
		{name: "referral read, bearer 100,000 characters", method: "GET", path: "/v1/clinics/lakeside/referrals/" + refID, header: http.Header{"Authorization": {"Bearer " + strings.Repeat("k", 100000)}}},
		{name: "referral read, another clinic's path", method: "GET", path: "/v1/clinics/elsewhere/referrals/" + refID, header: apiKey},
		{name: "referral read, POST", method: "POST", path: "/v1/clinics/lakeside/referrals/" + refID, header: apiKey},
		{name: "referral cancel, traversal in id", method: "DELETE", path: "/v1/clinics/lakeside/referrals/%2e%2e", header: apiKey},
		{name: "referral read, query flood", method: "GET", path: "/v1/clinics/lakeside/referrals/" + refID + "?" + queryFlood, header: apiKey, allowed: ok2xx},

		// The admin API.
		{name: "admin 1 MiB unauthenticated", method: "POST", path: "/v1/admin/clinics", header: plainJSON(), body: mib},
		{name: "admin 1 MiB", method: "POST", path: "/v1/admin/clinics", header: admin(), body: mib},
		{name: "admin 10,000 levels deep", method: "POST", path: "/v1/admin/clinics", header: admin(), body: nested("name", 10000)},
		{name: "admin invalid UTF-8", method: "POST", path: "/v1/admin/clinics", header: admin(),
			// Raw bytes: json.Marshal would have replaced them with U+FFFD.
			body: []byte("{\"id\":\"clinic-x\",\"name\":\"Lakeside \xff\xfe\",\"contact_email\":\"desk@clinic.example\"}")},
		{name: "admin 100k-element array", method: "POST", path: "/v1/admin/clinics", header: admin(), body: bigArray("name", "1", 100000)},
		{name: "admin markup in a clinic name", method: "POST", path: "/v1/admin/clinics", header: admin(), body: clinicBody(scriptName), allowed: ok2xx},
		{name: "admin wrong type", method: "POST", path: "/v1/admin/clinics", header: admin(), body: []byte(`{"id": ["x"], "name": {"a": 1}}`)},
		{name: "admin bearer 100,000 characters", method: "POST", path: "/v1/admin/clinics", header: http.Header{"Authorization": {"Bearer " + strings.Repeat("t", 100000)}}, body: clinicBody("x")},
		{name: "admin clinics GET", method: "GET", path: "/v1/admin/clinics", header: admin()},
		{name: "admin group 10,000 levels deep", method: "PUT", path: "/v1/admin/groups/g1", header: admin(), body: nested("name", 10000)},
		{name: "admin group id 10,000 characters", method: "PUT", path: "/v1/admin/groups/" + strings.Repeat("g", 10000), header: admin(), body: []byte(`{"name": "x"}`)},
		{name: "admin group id traversal", method: "GET", path: "/v1/admin/groups/..%2F..%2Fclinics", header: admin()},
		{name: "admin group SQL-looking id", method: "GET", path: "/v1/admin/groups/" + url.PathEscape("x' OR 1=1--"), header: admin()},
		{name: "admin group DELETE", method: "DELETE", path: "/v1/admin/groups/g1", header: admin()},
		{name: "admin import 10,000 levels deep", method: "POST", path: "/v1/admin/groups/import?format=meeting-guide&topic=alcohol", header: admin(), body: []byte("[" + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "]"), allowed: ok2xx}, // one bad row, skipped
		{name: "admin import 10,000 levels deep, not an array", method: "POST", path: "/v1/admin/groups/import?format=meeting-guide&topic=alcohol", header: admin(), body: nested("a", 10000)},
		{name: "admin import 100k rows of junk", method: "POST", path: "/v1/admin/groups/import?format=meeting-guide&topic=alcohol", header: admin(), body: []byte("[" + strings.TrimSuffix(strings.Repeat("1,", 100000), ",") + "]"), allowed: ok2xx},
		{name: "admin import invalid UTF-8", method: "POST", path: "/v1/admin/groups/import?format=hsds", header: admin(), body: []byte("[{\"name\": \"\xff\xfe\"}]"), allowed: ok2xx},
		{name: "admin import unknown format", method: "POST", path: "/v1/admin/groups/import?format=" + url.QueryEscape(scriptName), header: admin(), body: []byte("[]")},
		// Each topic costs a Query per cell: the same topic 200 times is read once.
		{name: "admin match 200 topics", method: "GET", path: "/v1/admin/match?" + manyTopics, header: admin(), allowed: ok2xx},
		{name: "admin match unknown topic", method: "GET", path: "/v1/admin/match?topic=" + url.QueryEscape(sqlName) + "&postal_code=94110", header: admin()},
		{name: "admin match NaN", method: "GET", path: "/v1/admin/match?topic=alcohol&lat=NaN&lon=Inf", header: admin()},
		{name: "admin match limit overflow", method: "GET", path: "/v1/admin/match?topic=alcohol&postal_code=94110&limit=99999999999999999999", header: admin()},
		{name: "admin match query flood", method: "GET", path: "/v1/admin/match?" + queryFlood, header: admin()},

		// Health and unknown paths.
		{name: "healthz query flood", method: "GET", path: "/healthz?" + queryFlood, allowed: ok2xx},
		{name: "healthz POST", method: "POST", path: "/healthz", body: mib},
		{name: "unknown path", method: "GET", path: "/nope"},
		{name: "unknown path with markup", method: "GET", path: "/" + url.PathEscape(scriptName)},
		{name: "unknown path NUL", method: "GET", path: "/v1/%00"},
		{name: "unknown path invalid UTF-8", method: "GET", path: "/v1/%ff%fe"},
		{name: "unknown path double slash", method: "GET", path: "//v1/admin/clinics"},
		{name: "unknown path off-site double slash", method: "GET", path: "//evil.example/%2e%2e"},
		{name: "unknown path traversal", method: "GET", path: "/v1/../v1/admin/clinics"},

		// The patient pages.
		{name: "consent token 10,000 characters", method: "GET", path: "/c/" + longToken, on: pageSurface},
		{name: "consent token invalid UTF-8", method: "GET", path: "/c/%ff%fe", on: pageSurface},
		{name: "consent token with markup", method: "GET", path: "/c/" + url.PathEscape(scriptName), on: pageSurface},
		{name: "consent token SQL-looking", method: "GET", path: "/c/" + url.PathEscape("x' OR '1'='1"), on: pageSurface},
		{name: "consent traversal to the admin API", method: "GET", path: "/c/../v1/admin/clinics", on: pageSurface},
		{name: "consent encoded traversal", method: "GET", path: "/c/%2e%2e/v1/admin/clinics", on: pageSurface},
		{name: "consent encoded slash traversal", method: "GET", path: "/c/..%2f..%2fv1%2fadmin%2fclinics", on: pageSurface},
		{name: "consent double slash", method: "GET", path: "/c//" + strings.TrimPrefix(consentLink, "/c/"), on: pageSurface},
		{name: "consent 1 MiB form", method: "POST", path: consentLink, header: form(true), body: mib, on: pageSurface},
		{name: "consent invalid UTF-8 form", method: "POST", path: consentLink, header: form(true), body: []byte("action=decline&csrf=\xff\xfe"), on: pageSurface},
		{name: "consent groups flood", method: "POST", path: consentLink, header: form(true), body: []byte("action=confirm&" + groupsFlood(1100)), on: pageSurface},
		{name: "consent group id with markup", method: "POST", path: consentLink, header: form(true), body: []byte("action=confirm&groups=" + url.QueryEscape(scriptName)), on: pageSurface},
		{name: "consent multipart", method: "POST", path: consentLink, header: http.Header{"Content-Type": {"multipart/form-data; boundary=x"}, "Origin": {h.Server.URL}}, body: []byte("--x--"), on: pageSurface},
		{name: "consent cross-site post", method: "POST", path: consentLink, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://evil.example"}}, body: []byte("action=revoke"), on: pageSurface},
		{name: "consent cross-site fetch", method: "POST", path: consentLink, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"cross-site"}}, body: []byte("action=revoke"), on: pageSurface},
		{name: "consent without the form token", method: "POST", path: consentLink + "?lang=" + url.QueryEscape("en\r\nSet-Cookie: x=1"), header: form(true), body: []byte("action=revoke"), on: pageSurface, allowed: func(st int) bool { return st == http.StatusSeeOther }},
		{name: "consent PUT", method: "PUT", path: consentLink, on: pageSurface},
		{name: "consent DELETE", method: "DELETE", path: consentLink, on: pageSurface},
		{name: "consent made-up method", method: "BREW", path: consentLink, on: pageSurface},
		{name: "consent query flood", method: "GET", path: consentLink + "?" + queryFlood, on: pageSurface, allowed: ok2xx},
		{name: "group token 10,000 characters", method: "GET", path: "/g/" + longToken, on: pageSurface},
		{name: "group token with markup", method: "GET", path: "/g/" + url.PathEscape(imgName), on: pageSurface},
		{name: "group 1 MiB form", method: "POST", path: groupLink, header: form(true), body: mib, on: pageSurface},
		{name: "group invalid UTF-8 form", method: "POST", path: groupLink, header: form(true), body: []byte("action=decline&reason=\xff"), on: pageSurface},
		{name: "group unknown reason", method: "POST", path: groupLink, header: form(true), body: []byte("action=decline&reason=" + url.QueryEscape(sqlName)), on: pageSurface},
		{name: "group repeated action", method: "POST", path: groupLink, header: form(true), body: []byte("action=accept&action=decline"), on: pageSurface},
		{name: "group cross-site post", method: "POST", path: groupLink, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://evil.example"}}, body: []byte("action=accept"), on: pageSurface},
		{name: "group made-up method", method: "BREW", path: groupLink, on: pageSurface},
		{name: "group traversal", method: "GET", path: "/g/%2e%2e/%2e%2e/healthz", on: pageSurface},

		// Assets.
		{name: "assets traversal", method: "GET", path: "/assets/../go.mod", on: pageSurface},
		{name: "assets encoded traversal", method: "GET", path: "/assets/%2e%2e/%2e%2e/go.mod", on: pageSurface},
		{name: "assets encoded slash traversal", method: "GET", path: "/assets/..%2f..%2fgo.mod", on: pageSurface},
		{name: "assets directory", method: "GET", path: "/assets/", on: pageSurface},
		{name: "assets NUL", method: "GET", path: "/assets/handoff.css%00.html", on: pageSurface},
		{name: "assets POST", method: "POST", path: "/assets/handoff.css", body: mib, on: pageSurface},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.DB.Counter.Reset()
			r, err := s.send(tc.method, tc.path, tc.body, tc.header)
			if err != nil {
				t.Fatalf("no answer (a panic or a dropped connection?): %v", err)
			}
			if tc.bug != "" && r.status < 300 {
				t.Skip("known bug: " + tc.bug)
			}
			checkHostileAnswer(t, tc, r)
			if q := h.DB.Counter.Calls("Query"); q > 100 {
				t.Errorf("one request made %d DynamoDB queries", q)
			}
		})
	}
	if strings.Contains(h.Logs.String(), "panic") {
		t.Errorf("a panic was logged")
	}
	for _, marker := range []string{"<script>", "onerror", "DROP TABLE"} {
		if strings.Contains(h.Logs.String(), marker) {
			t.Errorf("the logs repeat hostile input %q", marker)
		}
	}
}

// checkHostileAnswer checks one answer to a hostile request.
func checkHostileAnswer(t *testing.T, tc hostile, r reply) {
	t.Helper()
	st := r.status
	switch {
	case st >= 500:
		t.Fatalf("%d: %.300s", st, r.body)
	case st >= 300 && st < 400:
		loc := r.header.Get("Location")
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\r\n\\") {
			t.Fatalf("%d to %q: a redirect off this site", st, loc)
		}
		if tc.allowed != nil && tc.allowed(st) {
			return
		}
		// The HTTP muxes' redirect of an unclean path to its clean form:
		// no content was served.
		if st != http.StatusMovedPermanently && st != http.StatusTemporaryRedirect && st != http.StatusPermanentRedirect {
			t.Fatalf("%d to %q", st, loc)
		}
		return
	case st < 400 && (tc.allowed == nil || !tc.allowed(st)):
		t.Fatalf("%d, want a 4xx: %.300s", st, r.body)
	}
	for _, leak := range []string{"module github.com/handoff-health", "goroutine ", "runtime error"} {
		if bytes.Contains(r.body, []byte(leak)) {
			t.Fatalf("the answer shows %q", leak)
		}
	}
	for _, marker := range []string{scriptName, "<img", "DROP TABLE", "OR 1=1", "\xff"} {
		if bytes.Contains(r.body, []byte(marker)) && st >= 400 {
			t.Fatalf("the error repeats the input %q: %.300s", marker, r.body)
		}
	}
	if st < 400 {
		return
	}
	ct := r.header.Get("Content-Type")
	switch tc.on {
	case apiSurface:
		var pb problem.Body
		if ct != "application/problem+json" || json.Unmarshal(r.body, &pb) != nil || pb.Status != st || pb.Title == "" {
			t.Fatalf("%d %q is not problem+json: %.300s", st, ct, r.body)
		}
	case pageSurface:
		if !strings.HasPrefix(ct, "text/html") || !bytes.Contains(r.body, []byte("</html>")) {
			t.Fatalf("%d %q is not the plain page: %.300s", st, ct, r.body)
		}
		if r.header.Get("Content-Security-Policy") == "" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("the error page lacks its security headers: %v", r.header)
		}
		if apptest.LinkPattern.Match(r.body) {
			t.Fatal("the error page shows a link token")
		}
	}
}

// TestHostileWire sends malformed HTTP straight down a TCP connection:
// framing and header tricks the Go client will not produce. Each is refused
// with a 4xx; none reaches a handler as a valid request or gets a 5xx.
func TestHostileWire(t *testing.T) {
	h := apptest.New(t)
	c := h.NewClinic("lakeside", "")
	addr := h.Server.Listener.Addr().String()
	body := `{"patient":{}}`
	key, err := webhook.ParseSecret(c.WebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	sig := webhook.SignHeaders(key, "msg_wire", h.Now(), []byte(body))
	signedLines := "webhook-id: msg_wire\r\nwebhook-timestamp: " + sig.Get("webhook-timestamp") + "\r\nwebhook-signature: " + sig.Get("webhook-signature") + "\r\n"
	post := "POST /v1/clinics/lakeside/referrals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name string
		raw  string
		// halfClose ends the client's side after sending, for a body
		// shorter than announced. (Other requests keep the connection
		// open: a client that hangs up cancels its request.)
		halfClose bool
		// want501 marks a transfer coding net/http does not implement: it
		// answers 501 itself (RFC 9112 §6.1), before any handoff handler.
		want501 bool
	}{
		{name: "absurd Content-Length", raw: post + "Content-Length: 99999999999999999999\r\n\r\n" + body},
		{name: "negative Content-Length", raw: post + "Content-Length: -1\r\n\r\n" + body},
		{name: "two different Content-Lengths", raw: post + "Content-Length: 14\r\nContent-Length: 15\r\n\r\n" + body},
		{name: "Content-Length larger than the body", raw: post + signedLines + "Content-Length: 1000\r\n\r\n" + body, halfClose: true},
		{name: "Content-Length and chunked", raw: post + "Content-Length: 14\r\nTransfer-Encoding: chunked\r\n\r\ne\r\n" + body + "\r\n0\r\n\r\n"},
		{name: "chunked twice", raw: post + "Transfer-Encoding: chunked, chunked\r\n\r\ne\r\n" + body + "\r\n0\r\n\r\n", want501: true},
		{name: "an unknown transfer coding", raw: post + "Transfer-Encoding: gzip\r\n\r\n" + body, want501: true},
		{name: "a bad chunk size", raw: post + signedLines + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + body + "\r\n0\r\n\r\n"},
		{name: "a chunk longer than said", raw: post + signedLines + "Transfer-Encoding: chunked\r\n\r\n2\r\n" + body + "\r\n0\r\n\r\n"},
		{name: "a bare CR in a header value", raw: post + "X-Note: a\rb\r\nContent-Length: 14\r\n\r\n" + body},
		{name: "a bare LF header injection", raw: post + "X-Note: a\nSet-Cookie: x=1\r\nContent-Length: 14\r\n\r\n" + body},
		{name: "a folded header", raw: post + "X-Note: a\r\n folded\r\nContent-Length: 14\r\n\r\n" + body},
		{name: "a space in a header name", raw: post + "Bad Header: x\r\nContent-Length: 14\r\n\r\n" + body},
		{name: "a NUL in a header value", raw: post + "X-Note: a\x00b\r\nContent-Length: 14\r\n\r\n" + body},
		{name: "no Host", raw: "GET /healthz HTTP/1.1\r\n\r\n"},
		{name: "two Hosts", raw: "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{name: "a 2 MiB header", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 2<<20) + "\r\n\r\n"},
		{name: "a 2 MiB request line", raw: "GET /c/" + strings.Repeat("A", 2<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "a space in the path", raw: "GET /c/a b HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "an absolute URL to another host", raw: "GET http://evil.example/c/x HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "a request line with no version", raw: "GET /healthz\r\nHost: x\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := rawRequest(addr, tc.raw, tc.halfClose)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if tc.want501 && st == http.StatusNotImplemented {
				return
			}
			if st < 400 || st >= 500 {
				t.Fatalf("status %d, want a 4xx", st)
			}
		})
	}
}

// rawRequest writes raw to a new connection and returns the answer's status.
func rawRequest(addr, raw string, halfClose bool) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		_, _ = io.WriteString(conn, raw)
		if tc, ok := conn.(*net.TCPConn); ok && halfClose {
			_ = tc.CloseWrite()
		}
	}()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("read status line: %w", err)
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, fmt.Errorf("status line %q", line)
	}
	return strconv.Atoi(f[1])
}

// TestMarkupIsEscaped: a patient named with markup sees the name escaped on
// the consent page and in the HTML of every email (patient and group), as do
// a group and a clinic named with markup. The raw tag never appears in any
// page or HTML body. (Plain-text bodies carry the name as typed: they are
// never interpreted as markup.)
func TestMarkupIsEscaped(t *testing.T) {
	h := apptest.New(t)
	s := newStack(h)
	st, b := h.Admin(http.MethodPost, "/v1/admin/clinics", map[string]string{
		"id": "evil", "name": "Clinic " + imgName, "contact_email": "desk@clinic.example",
	})
	if st != http.StatusCreated {
		t.Fatalf("create clinic: %d %s", st, b)
	}
	var c apptest.Clinic
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	g := apptest.SampleGroup("markup", 37.7599, -122.4148)
	g.Name = "Group " + scriptName
	h.PutGroup(g, "markup")
	tests := []struct {
		name, given, email, mode string
	}{
		{"script tag, introduce", scriptName, "xss1@patient.example", "introduce"},
		{"attribute breakout, introduce", imgName, "xss2@patient.example", "introduce"},
		{"script tag, self", scriptName, "xss3@patient.example", "self"},
	}
	escaped := map[string]string{
		scriptName: "&lt;script&gt;alert(1)&lt;/script&gt;",
		imgName:    "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
	}
	rawTags := []string{"<script>", "<img src=x", "onerror=alert(1)>"}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.refer(c, fmt.Sprintf("msg_markup_%d", i), patient{Given: tc.given, Email: tc.email, Needs: []string{"alcohol"}, External: "M"}.body())
			if err != nil || r.status != http.StatusAccepted {
				t.Fatalf("refer: %d %s %v", r.status, r.body, err)
			}
			h.Settle()
			link := h.Link(h.MailsTo(tc.email)[0], "c")
			pg, hidden, _, err := s.page(link)
			if err != nil || pg.status != http.StatusOK {
				t.Fatalf("consent page: %d %v", pg.status, err)
			}
			checkEscaped(t, "consent page", string(pg.body), rawTags, escaped[tc.given], escaped[imgName], escaped[scriptName])
			if r, err := s.post(link, hidden, url.Values{"action": {"confirm"}, "mode": {tc.mode}, "groups": {"markup"}}); err != nil || r.status != http.StatusSeeOther {
				t.Fatalf("confirm: %d %v", r.status, err)
			}
			h.Settle()
			pg, _, _, _ = s.page(link)
			checkEscaped(t, "confirmed consent page", string(pg.body), rawTags, escaped[tc.given])
			for _, m := range h.MailsTo(tc.email) {
				checkEscaped(t, "patient email "+m.Subject, m.Body.HTML, rawTags, escaped[tc.given])
				if !strings.Contains(m.Body.Text, tc.given) {
					t.Errorf("the plain-text patient email lacks the name as typed")
				}
			}
			if tc.mode == "self" {
				return
			}
			notices := h.MailsTo(g.Contact.Email)
			notice := notices[len(notices)-1]
			checkEscaped(t, "group email", notice.Body.HTML, rawTags, escaped[tc.given], escaped[scriptName])
			gp, _, _, err := s.page(h.Link(notice, "g"))
			if err != nil || gp.status != http.StatusOK {
				t.Fatalf("group page: %d %v", gp.status, err)
			}
			checkEscaped(t, "group page", string(gp.body), rawTags, escaped[tc.given])
		})
	}
}

// checkEscaped fails if html holds a raw tag, or lacks an escaped form.
func checkEscaped(t *testing.T, what, html string, raw []string, want ...string) {
	t.Helper()
	for _, r := range raw {
		if strings.Contains(html, r) {
			t.Errorf("%s holds the raw %q", what, r)
		}
	}
	for _, w := range want {
		if !strings.Contains(html, w) {
			t.Errorf("%s lacks the escaped %q", what, w)
		}
	}
}
