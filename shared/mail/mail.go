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
	// Attachments are files sent with the message (e.g. a meeting's .ics).
	Attachments []Attachment
}

// Attachment is one file sent with a message.
type Attachment struct {
	// Name is the file's name as the reader sees it, with its extension
	// ("meeting.ics").
	Name string
	// ContentType is its MIME type ("text/calendar; charset=utf-8").
	ContentType string
	Data        []byte
}
