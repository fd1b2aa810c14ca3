// Package mail defines the email message handoff sends. It holds no sending
// code, so the functions that never send email do not link an email client.
package mail

// Message is one email.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
	// Tags are message tags (ids only, never personal data): they come back
	// in bounce and complaint notifications.
	Tags map[string]string
}
