package apigw

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestHandleRoundTrip(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /c/{token}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Token", r.PathValue("token"))
		w.Header().Add("Set-Cookie", "a=1")
		w.WriteHeader(http.StatusSeeOther)
		_, _ = w.Write([]byte(r.URL.Query().Get("lang") + "|" + string(b) + "|" + r.Header.Get("Content-Type")))
	})
	mux.HandleFunc("GET /bin", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte{0xff, 0xfe}) })
	h := Handler{HTTP: mux}
	tests := []struct {
		name     string
		ev       events.APIGatewayV2HTTPRequest
		status   int
		body     string
		b64      bool
		checkHdr func(t *testing.T, res events.APIGatewayV2HTTPResponse)
	}{
		{
			name: "form post with base64 body and query",
			ev: events.APIGatewayV2HTTPRequest{
				RawPath: "/c/abc", RawQueryString: "lang=es",
				Headers:         map[string]string{"content-type": "application/x-www-form-urlencoded"},
				Body:            base64.StdEncoding.EncodeToString([]byte("action=confirm")),
				IsBase64Encoded: true,
				RequestContext:  events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}},
			},
			status: 303, body: "es|action=confirm|application/x-www-form-urlencoded",
			checkHdr: func(t *testing.T, res events.APIGatewayV2HTTPResponse) {
				if res.Headers["X-Token"] != "abc" || len(res.Cookies) != 1 {
					t.Errorf("headers %v cookies %v", res.Headers, res.Cookies)
				}
			},
		},
		{
			name:   "binary response is base64",
			ev:     events.APIGatewayV2HTTPRequest{RawPath: "/bin", RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}},
			status: 200, body: base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe}), b64: true,
		},
		{
			name:   "bad base64 body is a 400, not an error",
			ev:     events.APIGatewayV2HTTPRequest{RawPath: "/c/x", Body: "!!", IsBase64Encoded: true},
			status: 400,
		},
		{
			name:   "unknown route is the mux's 404",
			ev:     events.APIGatewayV2HTTPRequest{RawPath: "/nope", RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}},
			status: 404,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Handle(context.Background(), tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.body != "" && (res.Body != tc.body || res.IsBase64Encoded != tc.b64) {
				t.Fatalf("body %q (b64 %v), want %q", res.Body, res.IsBase64Encoded, tc.body)
			}
			if tc.checkHdr != nil {
				tc.checkHdr(t, res)
			}
		})
	}
}

// The handler sees the address API Gateway saw connect (sourceIp) as
// RemoteAddr — IPv4 or IPv6 — and never the one a client claims in
// X-Forwarded-For, which reaches it only as a header.
func TestRequestRemoteAddrIsSourceIP(t *testing.T) {
	tests := []struct {
		name     string
		sourceIP string
		xff      string
		want     string
	}{
		{name: "IPv4", sourceIP: "198.51.100.7", want: "198.51.100.7:0"},
		{name: "IPv6", sourceIP: "2001:db8::1", want: "[2001:db8::1]:0"},
		{name: "a forged X-Forwarded-For is ignored", sourceIP: "198.51.100.7", xff: "203.0.113.9", want: "198.51.100.7:0"},
		{name: "a forged list is ignored", sourceIP: "198.51.100.7", xff: "203.0.113.9, 198.51.100.7", want: "198.51.100.7:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := events.APIGatewayV2HTTPRequest{
				RawPath: "/clinic",
				RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
					Method: "GET", SourceIP: tc.sourceIP,
				}},
			}
			if tc.xff != "" {
				ev.Headers = map[string]string{"x-forwarded-for": tc.xff}
			}
			req, err := Request(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if req.RemoteAddr != tc.want {
				t.Errorf("RemoteAddr %q, want %q", req.RemoteAddr, tc.want)
			}
			host, port, err := net.SplitHostPort(req.RemoteAddr)
			if err != nil || host != tc.sourceIP || port != "0" {
				t.Errorf("RemoteAddr %q does not split into the source address: %q %q %v", req.RemoteAddr, host, port, err)
			}
		})
	}
}
