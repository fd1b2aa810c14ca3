package local

import (
	"context"
	"fmt"

	"github.com/handoff-health/handoff/infra/seed"
	"github.com/handoff-health/handoff/shared/app"
	"github.com/handoff-health/handoff/shared/room"
)

// DemoClinicID is the clinic the local stack creates.
const DemoClinicID = "demo-clinic"

// SeedDemo loads the demo directory and creates the demo clinic.
func SeedDemo(ctx context.Context, a *app.App) (SeedInfo, error) {
	groups, err := seed.Groups()
	if err != nil {
		return SeedInfo{}, err
	}
	imported, updated, skipped, err := a.StoreGroups(ctx, groups)
	if err != nil {
		return SeedInfo{}, err
	}
	sec, err := a.CreateClinic(ctx, app.NewClinic{
		ID: DemoClinicID, Name: "Lakeside Health Center (demo)", ContactEmail: "desk@clinic.example",
	})
	if err != nil {
		return SeedInfo{}, err
	}
	info := SeedInfo{ClinicID: sec.ID, WebhookSecret: sec.WebhookSecret, APIKey: sec.APIKey, Groups: imported + updated}
	if len(skipped) > 0 {
		info.Lines = append(info.Lines, fmt.Sprintf("  (%d demo groups skipped)", len(skipped)))
	}
	info.Lines = append(info.Lines,
		"",
		"Try it: send a signed sample referral (Chicago 60601, alcohol):",
		fmt.Sprintf("  go run ./infra/cmd/handoff send -clinic %s -secret %s infra/local/demo/referral.json", sec.ID, sec.WebhookSecret),
		"then open the mailbox at http://"+SESAddr+" and follow the consent link.",
		"A patient with only a phone number (Spanish) gets the link by text:",
		fmt.Sprintf("  go run ./infra/cmd/handoff send -clinic %s -secret %s infra/local/demo/referral-phone.json", sec.ID, sec.WebhookSecret),
		"then open the phone page at http://"+PhoneAddr+" and follow the link in the text.",
		"Postal codes and topics to try: infra/seed/README.md",
	)
	_, invite, err := room.New(a, nil, nil).InviteWithLink(ctx, sec.ID, room.Invitation{Name: "Demo Staff", Email: "staff@clinic.example"})
	if err != nil {
		return SeedInfo{}, err
	}
	info.Lines = append(info.Lines,
		"Refer in the room: the demo clinic's staff invitation (make a passkey there, then /clinic):",
		"  "+invite,
		"  (invite yourself: POST /v1/admin/clinics/"+sec.ID+"/staff {\"name\", \"email\"}; README, \"Refer in the room\")",
	)
	return info, nil
}
