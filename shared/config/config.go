// Package config reads handoff's settings from the environment, the same way
// in a Lambda and in the local stack. Names and defaults are the contract's.
package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config is every setting handoff reads.
type Config struct {
	Addr                 string        // HANDOFF_ADDR: listen address of the local stack
	PublicURL            string        // HANDOFF_PUBLIC_URL: base of links in emails
	AdminToken           string        // HANDOFF_ADMIN_TOKEN (local use)
	AdminTokenSHA256     string        // HANDOFF_ADMIN_TOKEN_SHA256: hex SHA-256 of the token (AWS)
	LinkKey              string        // HANDOFF_LINK_KEY: key for link tokens and form tokens (local use)
	LinkKeyID            string        // HANDOFF_LINK_KEY_ID: KMS HMAC key the link key is derived from (AWS)
	ConsentTTL           time.Duration // HANDOFF_CONSENT_TTL
	GroupResponseTimeout time.Duration // HANDOFF_GROUP_RESPONSE_TIMEOUT
	WebhookTolerance     time.Duration // HANDOFF_WEBHOOK_TOLERANCE
	Retention            time.Duration // HANDOFF_RETENTION
	ReferralsTable       string        // HANDOFF_REFERRALS_TABLE
	DirectoryTable       string        // HANDOFF_DIRECTORY_TABLE
	MailFrom             string        // HANDOFF_MAIL_FROM
	SESConfigurationSet  string        // HANDOFF_SES_CONFIGURATION_SET
	SealKey              string        // HANDOFF_SEAL_KEY: base64 AES-256 key (local)
	KMSKeyID             string        // HANDOFF_KMS_KEY_ID: KMS key for envelope sealing (AWS)
	// SMSOrigin is the texting number (HANDOFF_SMS_ORIGIN): an End User
	// Messaging SMS pool id, or a phone number's id or ARN. Empty: the
	// deployment does not text.
	SMSOrigin           string
	SMSConfigurationSet string        // HANDOFF_SMS_CONFIGURATION_SET
	ConsentReminder     time.Duration // HANDOFF_CONSENT_REMINDER
	ListingCheckEvery   time.Duration // HANDOFF_LISTING_CHECK_EVERY
	// FirstContactWindow is how long a notified group has before it gets
	// one reminder and its service office the notice
	// (HANDOFF_FIRST_CONTACT_WINDOW).
	FirstContactWindow time.Duration
	// MeetingReminder is how long before a first meeting the patient gets
	// its one reminder (HANDOFF_MEETING_REMINDER); CheckInAfter how long
	// after its end they are asked whether they went
	// (HANDOFF_CHECKIN_AFTER).
	MeetingReminder time.Duration
	CheckInAfter    time.Duration
}

// Defaults, as published in the contract.
const (
	DefaultAddr                 = "127.0.0.1:3000"
	DefaultConsentTTL           = 7 * 24 * time.Hour
	DefaultGroupResponseTimeout = 48 * time.Hour
	DefaultWebhookTolerance     = 5 * time.Minute
	DefaultRetention            = 90 * 24 * time.Hour
	DefaultConsentReminder      = 72 * time.Hour
	DefaultListingCheckEvery    = 90 * 24 * time.Hour
	DefaultFirstContactWindow   = 2 * time.Hour
	DefaultMeetingReminder      = 24 * time.Hour
	DefaultCheckInAfter         = 12 * time.Hour
)

// FromEnv reads the configuration through getenv (os.Getenv in production).
// It returns an error naming every variable that is set but unreadable.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Addr:                get(getenv, "HANDOFF_ADDR", DefaultAddr),
		AdminToken:          getenv("HANDOFF_ADMIN_TOKEN"),
		AdminTokenSHA256:    strings.ToLower(getenv("HANDOFF_ADMIN_TOKEN_SHA256")),
		LinkKey:             getenv("HANDOFF_LINK_KEY"),
		LinkKeyID:           getenv("HANDOFF_LINK_KEY_ID"),
		ReferralsTable:      get(getenv, "HANDOFF_REFERRALS_TABLE", "ReferralsTable"),
		DirectoryTable:      get(getenv, "HANDOFF_DIRECTORY_TABLE", "DirectoryTable"),
		MailFrom:            get(getenv, "HANDOFF_MAIL_FROM", "handoff@localhost.example"),
		SESConfigurationSet: getenv("HANDOFF_SES_CONFIGURATION_SET"),
		SealKey:             getenv("HANDOFF_SEAL_KEY"),
		KMSKeyID:            getenv("HANDOFF_KMS_KEY_ID"),
		SMSOrigin:           getenv("HANDOFF_SMS_ORIGIN"),
		SMSConfigurationSet: getenv("HANDOFF_SMS_CONFIGURATION_SET"),
	}
	var problems []string
	c.PublicURL = strings.TrimRight(get(getenv, "HANDOFF_PUBLIC_URL", "http://"+c.Addr), "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, "HANDOFF_PUBLIC_URL must be an absolute http(s) URL")
	}
	durations := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"HANDOFF_CONSENT_TTL", &c.ConsentTTL, DefaultConsentTTL},
		{"HANDOFF_GROUP_RESPONSE_TIMEOUT", &c.GroupResponseTimeout, DefaultGroupResponseTimeout},
		{"HANDOFF_WEBHOOK_TOLERANCE", &c.WebhookTolerance, DefaultWebhookTolerance},
		{"HANDOFF_RETENTION", &c.Retention, DefaultRetention},
		{"HANDOFF_CONSENT_REMINDER", &c.ConsentReminder, DefaultConsentReminder},
		{"HANDOFF_LISTING_CHECK_EVERY", &c.ListingCheckEvery, DefaultListingCheckEvery},
		{"HANDOFF_FIRST_CONTACT_WINDOW", &c.FirstContactWindow, DefaultFirstContactWindow},
		{"HANDOFF_MEETING_REMINDER", &c.MeetingReminder, DefaultMeetingReminder},
		{"HANDOFF_CHECKIN_AFTER", &c.CheckInAfter, DefaultCheckInAfter},
	}
	for _, d := range durations {
		*d.dst = d.def
		v := getenv(d.name)
		if v == "" {
			continue
		}
		p, err := time.ParseDuration(v)
		if err != nil || p <= 0 {
			problems = append(problems, fmt.Sprintf("%s=%q is not a positive Go duration (e.g. 30s, 48h)", d.name, v))
			continue
		}
		*d.dst = p
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

// Texts reports whether the deployment has a texting number.
func (c Config) Texts() bool { return c.SMSOrigin != "" }

func get(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// LoopbackPublicURL reports whether links point at this machine (local use),
// which is the only case where status webhooks may target loopback addresses.
func (c Config) LoopbackPublicURL() bool {
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}
