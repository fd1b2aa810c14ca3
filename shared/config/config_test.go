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
	if c.FirstContactWindow != 2*time.Hour || c.MeetingReminder != 24*time.Hour || c.CheckInAfter != 12*time.Hour {
		t.Fatalf("the first meeting's defaults: %v %v %v", c.FirstContactWindow, c.MeetingReminder, c.CheckInAfter)
	}
}

// TestFirstMeetingSettings: the three durations read like the others, and
// a bad one is named.
func TestFirstMeetingSettings(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"HANDOFF_FIRST_CONTACT_WINDOW": "30m", "HANDOFF_MEETING_REMINDER": "6h", "HANDOFF_CHECKIN_AFTER": "1h"}))
	if err != nil || c.FirstContactWindow != 30*time.Minute || c.MeetingReminder != 6*time.Hour || c.CheckInAfter != time.Hour {
		t.Fatalf("%+v %v", c, err)
	}
	for _, name := range []string{"HANDOFF_FIRST_CONTACT_WINDOW", "HANDOFF_MEETING_REMINDER", "HANDOFF_CHECKIN_AFTER"} {
		if _, err := FromEnv(env(map[string]string{name: "0s"})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=0s: %v", name, err)
		}
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
