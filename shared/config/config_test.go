package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvDefaults(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:3000" || c.PublicURL != "http://127.0.0.1:3000" || c.ConsentTTL != 7*24*time.Hour ||
		c.GroupResponseTimeout != 48*time.Hour || c.WebhookTolerance != 5*time.Minute || c.Retention != 90*24*time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.LoopbackPublicURL() {
		t.Fatal("default public URL should be loopback")
	}
}

func TestFromEnvOverridesAndErrors(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"HANDOFF_CONSENT_TTL": "30s", "HANDOFF_PUBLIC_URL": "https://handoff.example/"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ConsentTTL != 30*time.Second || c.PublicURL != "https://handoff.example" || c.LoopbackPublicURL() {
		t.Fatalf("overrides: %+v", c)
	}
	_, err = FromEnv(env(map[string]string{"HANDOFF_CONSENT_TTL": "soon", "HANDOFF_GROUP_RESPONSE_TIMEOUT": "-1h", "HANDOFF_PUBLIC_URL": "ftp:x"}))
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, name := range []string{"HANDOFF_CONSENT_TTL", "HANDOFF_GROUP_RESPONSE_TIMEOUT", "HANDOFF_PUBLIC_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
