package ses_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/handoff-health/handoff/shared/ical"
	"github.com/handoff-health/handoff/shared/mail"
	"github.com/handoff-health/handoff/shared/ses"
	"github.com/handoff-health/handoff/shared/ses/sestest"
)

// TestSendWithAttachment sends an email with a meeting's .ics through the
// real SES v2 client and the SES emulator, reads it back from the
// emulator's store and parses the attachment with the iCalendar library.
func TestSendWithAttachment(t *testing.T) {
	e := sestest.Start(t)
	s := ses.NewSender(e.Client(), "handoff@handoff.example", "")
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 10, 19, 0, 0, 0, chicago)
	file, err := ical.Write(ical.Event{UID: "plan-1@handoff.example", Start: start, End: start.Add(90 * time.Minute),
		Summary: "Primera reunión", Location: "400 S State St, Chicago, 60605"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := s.Send(ctx, mail.Message{
		To: "ana@example.org", Subject: "Lakeside Health Center: su primera reunión", Text: "Hola", HTML: "<p>Hola</p>",
		Attachments: []mail.Attachment{{Name: ical.FileName, ContentType: ical.ContentType, Data: file}},
	})
	if err != nil || id == "" {
		t.Fatalf("send: %q %v", id, err)
	}
	mails, err := e.Mails(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := sestest.To(mails, "ana@example.org")
	if len(got) != 1 || len(got[0].Attachments) != 1 {
		t.Fatalf("%d mails, attachments %+v", len(got), got)
	}
	a := got[0].Attachments[0]
	if a.Filename != "meeting.ics" || a.ContentType != ical.ContentType || a.Size != len(file) {
		t.Errorf("attachment %s %s %d bytes, want %d", a.Filename, a.ContentType, a.Size, len(file))
	}
	data, err := a.Data()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, file) {
		t.Fatalf("the attachment came back changed:\n%s", data)
	}
	cal, err := ics.ParseCalendar(bytes.NewReader(data))
	if err != nil || len(cal.Events()) != 1 {
		t.Fatalf("parse: %v", err)
	}
	at, err := cal.Events()[0].GetStartAt()
	if err != nil || !at.Equal(start) || at.Location().String() != "America/Chicago" {
		t.Errorf("start %s %v", at, err)
	}
	if loc := cal.Events()[0].GetProperty(ics.ComponentPropertyLocation); loc == nil || ics.FromText(loc.Value) != "400 S State St, Chicago, 60605" {
		t.Errorf("location %v", loc)
	}

	// A message without attachments is sent as before.
	if _, err := s.Send(ctx, mail.Message{To: "plain@example.org", Subject: "s", Text: "t", HTML: "<p>t</p>"}); err != nil {
		t.Fatal(err)
	}
	mails, _ = e.Mails(ctx)
	if p := sestest.To(mails, "plain@example.org"); len(p) != 1 || len(p[0].Attachments) != 0 {
		t.Errorf("plain mail %+v", p)
	}
}
