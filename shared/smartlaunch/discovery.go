package smartlaunch

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-health/handoff/shared/chart"
)

// ehrConfig is the part of {iss}/.well-known/smart-configuration a launch uses.
type ehrConfig struct {
	Issuer                string   `json:"issuer"`
	JWKSURI               string   `json:"jwks_uri"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	fetched               time.Time
}

// discover reads {iss}/.well-known/smart-configuration, kept 5 minutes.
func (c *Client) discover(ctx context.Context, iss string) (ehrConfig, error) {
	c.mu.Lock()
	conf, ok := c.discovered[iss]
	c.mu.Unlock()
	if ok && c.now().Sub(conf.fetched) < discoveryTTL {
		return conf, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(iss, "/")+"/.well-known/smart-configuration", nil)
	if err != nil {
		return conf, fail(BadEHR, "iss is not a URL")
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.httpClient().Do(req)
	if err != nil {
		return conf, fail(Unreachable, "smart-configuration: "+chart.Why(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDiscoveryBody+1))
	switch {
	case err != nil:
		return conf, fail(Unreachable, "smart-configuration: "+chart.Why(err))
	case res.StatusCode != http.StatusOK:
		return conf, fail(BadEHR, "smart-configuration answered "+strconv.Itoa(res.StatusCode))
	case len(body) > maxDiscoveryBody:
		return conf, fail(BadEHR, "smart-configuration is over 64 KiB")
	}
	conf = ehrConfig{}
	if err := json.Unmarshal(body, &conf); err != nil {
		return conf, fail(BadEHR, "smart-configuration is not JSON")
	}
	for name, u := range map[string]string{"authorization_endpoint": conf.AuthorizationEndpoint, "token_endpoint": conf.TokenEndpoint,
		"issuer": conf.Issuer, "jwks_uri": conf.JWKSURI} {
		if u == "" {
			return conf, fail(BadEHR, "smart-configuration has no "+name+" (handoff needs sso-openid-connect)")
		}
		if err := chart.CheckURL(u, c.AllowLoopbackHTTP); err != nil {
			return conf, fail(BadEHR, "smart-configuration's "+name+": "+err.Error())
		}
	}
	if len(conf.CodeChallengeMethods) > 0 && !contains(conf.CodeChallengeMethods, "S256") {
		return conf, fail(BadEHR, "smart-configuration does not offer PKCE S256")
	}
	conf.fetched = c.now()
	c.mu.Lock()
	if c.discovered == nil {
		c.discovered = map[string]ehrConfig{}
	}
	c.discovered[iss] = conf
	c.mu.Unlock()
	return conf, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
