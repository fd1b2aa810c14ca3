package apptest_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/referral"
	"github.com/handoff-health/handoff/shared/sms"
)

// meetingEvents are the referral's first-meeting events, by type.
func meetingEvents(t *testing.T, w *meetWorld, id string) map[referral.EventType]referral.Event {
	t.Helper()
	rec, err := w.App.Referrals.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[referral.EventType]referral.Event{}
	for _, e := range rec.Events {
		switch e.Type {
		case referral.MeetingPlanned, referral.MeetingReminder, referral.MeetingCheckIn, referral.MeetingClose:
			out[e.Type] = e
		}
	}
	return out
}

// began writes the ledger entry of an effect as done, as an earlier
// delivery of its event would have left it.
func began(t *testing.T, w *meetWorld, key string) {
	t.Helper()
	if run, err := w.App.Claim(t.Context(), key); !run || err != nil {
		t.Fatalf("claim %s: %v %v", key, run, err)
	}
	if err := w.App.Record(t.Context(), key, "sent before"); err != nil {
		t.Fatal(err)
	}
}

// TestMeetingMessagesKeepTheirChannel: the plan, the reminder and the
// check-in carry the channel that reached the patient at the accept (the
// week's-end event, which sends nothing, does not). A plan whose text went
// out before the number was reported undeliverable is not emailed on a
// retry; the reminder, which had not begun, goes by email instead. An
// event written without the channel (by a version before) still stays on
// the channel its effect began on, read from the ledger.
func TestMeetingMessagesKeepTheirChannel(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", false, false), tuesdayGroup("tue-b", false, false))
	ctx := t.Context()
	const email = "keep@patient.example"
	id := w.referMeetPreferring(t, email, textPatient, "sms")
	w.post(t, w.patientLink(t, "", textPatient), url.Values{"action": {"confirm"}, "groups": {"tue-a"}})
	glink := w.Link(w.MailsTo("contact+tue-a@groups.example")[0], "g")
	w.post(t, glink, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-09T19:00"}})
	evs := meetingEvents(t, w, id)
	for _, typ := range []referral.EventType{referral.MeetingPlanned, referral.MeetingReminder, referral.MeetingCheckIn} {
		if ch := evs[typ].Data["channel"]; ch != "sms" {
			t.Errorf("%s carries channel %q, want sms", typ, ch)
		}
	}
	if ch, ok := evs[referral.MeetingClose].Data["channel"]; ok {
		t.Errorf("meeting-close carries channel %q", ch)
	}
	if n := len(w.TextsTo(textPatient)); n != 1 {
		t.Fatalf("%d texts on the consent link's day, want 1 (the plan waits for the morning)", n)
	}

	// The plan's text had gone out, and then the number was reported
	// undeliverable, before the plan's event was finished.
	plan := evs[referral.MeetingPlanned]
	began(t, w, plan.ID+"#sms")
	if err := w.App.TextFailed(ctx, plan, &sms.Unreachable{Reason: "UNREACHABLE"}, false); err != nil {
		t.Fatal(err)
	}
	mails := len(w.MailsTo(email))
	w.at(t, pdt("2026-06-02 12:00"))
	if n, m := len(w.MailsTo(email)), len(w.TextsTo(textPatient)); n != mails || m != 1 {
		t.Errorf("the plan, begun by text, again: %d emails, %d texts", n-mails, m-1)
	}
	// The reminder had not begun: by email, the channel left.
	w.at(t, pdt("2026-06-08 19:00"))
	if ms := w.MailsTo(email); len(ms) != mails+1 || !strings.Contains(ms[len(ms)-1].Body.Text, "7:00 pm") {
		t.Errorf("the reminder by email: %d emails", len(ms)-mails)
	}

	// An event without the channel, as a version before wrote it: a
	// second referral, both channels good, whose reminder an earlier
	// delivery had emailed (the text limits would have held it too long).
	const email2 = "keep2@patient.example"
	id2 := w.referMeetPreferring(t, email2, "+14155550172", "sms")
	w.post(t, w.patientLink(t, "", "+14155550172"), url.Values{"action": {"confirm"}, "groups": {"tue-b"}})
	gl2 := w.Link(w.MailsTo("contact+tue-b@groups.example")[0], "g")
	w.post(t, gl2, url.Values{"action": {"accept"}, "first_meeting": {"2026-06-16T19:00"}})
	rem := meetingEvents(t, w, id2)[referral.MeetingReminder]
	db := dynamotest.Client(w.DB.URL)
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(w.DB.Tables.Referrals),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "REF#" + id2}, "SK": &types.AttributeValueMemberS{Value: "EVT#" + rem.ID}},
		UpdateExpression:         aws.String("REMOVE #d.#c"),
		ConditionExpression:      aws.String("attribute_exists(#d.#c)"),
		ExpressionAttributeNames: map[string]string{"#d": "data", "#c": "channel"},
	}); err != nil {
		t.Fatalf("write the reminder as a version before did: %v", err)
	}
	if ch, ok := meetingEvents(t, w, id2)[referral.MeetingReminder].Data["channel"]; ok {
		t.Fatalf("the reminder still carries %q", ch)
	}
	began(t, w, rem.ID+"#email")
	w.at(t, pdt("2026-06-15 18:00")) // the plan came meanwhile
	texts, mails2 := len(w.TextsTo("+14155550172")), len(w.MailsTo(email2))
	w.at(t, pdt("2026-06-16 18:00")) // the meeting begins at 19:00
	if n, m := len(w.TextsTo("+14155550172"))-texts, len(w.MailsTo(email2))-mails2; n != 0 || m != 0 {
		t.Errorf("a reminder begun by email, again: %d texts, %d emails", n, m)
	}
	if v := w.Status(w.clinic, id2); v.Status != referral.Accepted {
		t.Errorf("status %s", v.Status)
	}
}

// TestGroupContactTextLimits: five referrals routed to one group in a
// morning (a busy clinic, or a flood) bring its contact five notice emails
// but three texts, the day's limit; the window's five reminders go by
// email only; the next day the contact is texted again. Nothing but the
// count is logged of the texts held back.
func TestGroupContactTextLimits(t *testing.T) {
	w := newMeetWorld(t, monday, tuesdayGroup("tue-a", true, false))
	const contact = "contact+tue-a@groups.example"
	for i := range 5 {
		email := fmt.Sprintf("flood-%d@patient.example", i)
		w.referMeet(t, email, "")
		w.post(t, w.patientLink(t, email, ""), url.Values{"action": {"confirm"}, "groups": {"tue-a"}})
	}
	if n, m := len(w.MailsTo(contact)), len(w.TextsTo(contactPhone)); n != 5 || m != 3 {
		t.Fatalf("%d notice emails and %d texts to the contact, want 5 and 3 (the day's limit)", n, m)
	}
	w.Advance(2 * time.Hour)
	w.Settle()
	if n, m := len(w.MailsTo(contact)), len(w.TextsTo(contactPhone)); n != 10 || m != 3 {
		t.Errorf("after the window: %d emails and %d texts, want 10 (the reminders) and still 3", n, m)
	}
	if got := strings.Count(w.Metrics.String(), `"GroupTextsOverLimit":1`); got != 7 {
		t.Errorf("%d texts counted over the limit, want 7 (2 notices, 5 reminders)", got)
	}
	w.at(t, pdt("2026-06-02 10:00"))
	const next = "flood-next@patient.example"
	w.referMeet(t, next, "")
	w.post(t, w.patientLink(t, next, ""), url.Values{"action": {"confirm"}, "groups": {"tue-a"}})
	if m := len(w.TextsTo(contactPhone)); m != 4 {
		t.Errorf("%d texts after the next day's notice, want 4", m)
	}
	if strings.Contains(w.Logs.String(), contactPhone) || strings.Contains(w.Logs.String(), contactPhone[2:]) {
		t.Error("a log line holds the contact's number")
	}
}
