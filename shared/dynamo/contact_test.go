package dynamo_test

import (
	"context"
	"testing"

	"github.com/handoff-health/handoff/shared/directory"
	"github.com/handoff-health/handoff/shared/dynamo"
)

// TestContactTextsAndOffice stores a group's contact number, its agreement
// to texts and its office through the embedded DynamoDB server: the operator
// sets texts; a feed's import keeps the same contact's agreement, never
// turns it on, and drops it with a new contact; the office round-trips.
func TestContactTextsAndOffice(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t)
	office := directory.Office{Name: "Chicago Area Service Office", Email: "office@groups.example", Phone: "(312) 346-1475", URL: "https://chicagoaa.example"}
	agreed := grp("texts-1", loopLat, loopLon, func(g *directory.Group) {
		g.Contact.Phone, g.Contact.Texts, g.Office = "(312) 555-0142", true, office
	})
	if _, err := d.PutGroup(ctx, agreed); err != nil {
		t.Fatal(err)
	}
	got := get(t, d, "texts-1")
	if got.Contact.Phone != "+13125550142" || !got.Contact.Texts || got.Office != office {
		t.Fatalf("stored contact %+v office %+v", got.Contact, got.Office)
	}

	// A feed's import of the same group: no phone, texts false. The
	// contact's agreement is kept.
	feed := grp("texts-1", loopLat, loopLon)
	feed.Office = directory.Office{}
	if _, _, skipped, err := d.ImportGroups(ctx, []directory.Group{feed}, dynamo.ImportHooks{}); err != nil || len(skipped) > 0 {
		t.Fatalf("import: %v %v", err, skipped)
	}
	got = get(t, d, "texts-1")
	if got.Contact.Phone != "+13125550142" || !got.Contact.Texts {
		t.Errorf("after an import: %+v", got.Contact)
	}
	if !got.Office.IsZero() {
		t.Errorf("the feed's listing (no office) did not replace the office: %+v", got.Office)
	}

	// A feed never turns texts on, even with a number.
	fresh := grp("texts-2", loopLat, loopLon, func(g *directory.Group) { g.Contact.Phone, g.Contact.Texts = "+13125550143", true })
	if _, _, _, err := d.ImportGroups(ctx, []directory.Group{fresh}, dynamo.ImportHooks{}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, d, "texts-2"); got.Contact.Texts || got.Contact.Phone != "+13125550143" {
		t.Errorf("an import turned texts on: %+v", got.Contact)
	}

	// A PUT that says texts false turns it off.
	off := get(t, d, "texts-1")
	off.Contact.Texts = false
	if _, err := d.PutGroupWith(ctx, off, dynamo.PutGroupOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, d, "texts-1"); got.Contact.Texts || got.Contact.Phone != "+13125550142" {
		t.Errorf("after texts false: %+v", got.Contact)
	}

	// A new contact agreed to nothing, even when the write keeps texts.
	if _, err := d.PutGroup(ctx, agreed); err != nil {
		t.Fatal(err)
	}
	other := grp("texts-1", loopLat, loopLon, func(g *directory.Group) { g.Contact = directory.Contact{Name: "Lee", Email: "lee@groups.example"} })
	if _, err := d.PutGroupWith(ctx, other, dynamo.PutGroupOptions{KeepTexts: true}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, d, "texts-1"); got.Contact.Texts || got.Contact.Phone != "" {
		t.Errorf("new contact: %+v", got.Contact)
	}
}

func get(t *testing.T, d *dynamo.Directory, id string) directory.Group {
	t.Helper()
	g, err := d.GetGroup(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return g
}
