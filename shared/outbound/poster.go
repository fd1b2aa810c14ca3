package outbound

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// postTimeout bounds one post, connection included.
const postTimeout = 10 * time.Second

// A Poster posts to clinics' endpoints through the guarded client.
type Poster struct {
	Client *http.Client
	Now    func() time.Time
}

// NewPoster is a Poster with the guarded client (see Client).
func NewPoster(allowLoopback bool) *Poster {
	return &Poster{Client: Client(allowLoopback, postTimeout)}
}

// Post sends body to url with the given headers (Content-Type and
// User-Agent among them) and returns the answer's status and the
// Retry-After it asked for (0 for none; at most a day). It reads at most
// 64 KiB of the answer and keeps none of it. An error means no answer came
// (a refused address, an unreachable host, a timeout).
func (p *Poster) Post(ctx context.Context, url string, header map[string]string, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, postTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return resp.StatusCode, RetryAfter(resp.Header.Get("Retry-After"), now()), nil
}

// RetryAfter reads a Retry-After header (seconds or an HTTP date) as a
// delay from now, capped at a day; 0 when absent, past or unreadable.
func RetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, 24*time.Hour)
}
