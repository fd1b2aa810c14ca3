// Package apigw adapts API Gateway HTTP API (payload format 2.0) events to
// net/http handlers, so the Lambdas and the local server run the very same
// handler code.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Handler turns an http.Handler into a Lambda handler for HTTP API events.
type Handler struct {
	HTTP http.Handler
}

// Handle serves one event. It never returns an error: a request that cannot be
// turned into an http.Request is answered 400.
func (h Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, err := Request(ctx, ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusBadRequest,
			Headers:    map[string]string{"Content-Type": "application/problem+json"},
			Body:       `{"type":"urn:handoff:problem:malformed","title":"Malformed request","status":400,"detail":"The request could not be read."}`,
		}, nil
	}
	rec := httptest.NewRecorder()
	h.HTTP.ServeHTTP(rec, req)
	return Response(rec), nil
}

// Request builds the http.Request an event describes. Its RemoteAddr is
// the event's sourceIp (port 0), whatever X-Forwarded-For says.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	u := &url.URL{Path: path, RawQuery: ev.RawQueryString}
	req, err := http.NewRequestWithContext(ctx, method, u.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = ev.RequestContext.DomainName
	if req.Host == "" {
		req.Host = req.Header.Get("Host")
	}
	// The client's address is the one API Gateway saw connect (sourceIp),
	// never a header the client sent (X-Forwarded-For can say anything):
	// rate limits per source count by it.
	req.RemoteAddr = net.JoinHostPort(ev.RequestContext.HTTP.SourceIP, "0")
	req.ContentLength = int64(len(body))
	return req, nil
}

// Response turns a recorded response into an HTTP API response. Bodies that
// are not UTF-8 text are base64-encoded.
func Response(rec *httptest.ResponseRecorder) events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: rec.Code, Headers: map[string]string{}}
	for k, vs := range rec.Header() {
		if strings.EqualFold(k, "Set-Cookie") {
			res.Cookies = append(res.Cookies, vs...)
			continue
		}
		res.Headers[k] = strings.Join(vs, ", ")
	}
	b := rec.Body.Bytes()
	if utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}
