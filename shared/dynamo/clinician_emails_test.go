package dynamo_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
	"github.com/handoff-health/handoff/shared/seal"
)

// TestClinicianEmailsSetting: the setting survives the store, and a clinic
// stored without it (before it existed) gets the default: emails unless it
// takes status webhooks.
func TestClinicianEmailsSetting(t *testing.T) {
	db := dynamotest.New(t)
	k, _, err := seal.NewRandomLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &dynamo.Clinics{DB: db.Client, Table: db.Tables.Directory, Sealer: k}
	ctx := context.Background()
	cases := []struct {
		name     string
		callback string
		setting  *bool
		want     bool
	}{
		{"stored without it, no callback", "", nil, true},
		{"stored without it, callback", "https://ehr.example/hook", nil, false},
		{"on with a callback", "https://ehr.example/hook", new(true), true},
		{"off without a callback", "", new(false), false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("clinic-%d", i)
			c := dynamo.Clinic{ID: id, Name: "C", ContactEmail: "desk@clinic.example", CallbackURL: tc.callback,
				ClinicianEmails: tc.setting, APIKeyHash: "h", WebhookSecret: "whsec_x"}
			if err := s.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if (got.ClinicianEmails == nil) != (tc.setting == nil) {
				t.Errorf("stored setting %v, want %v", got.ClinicianEmails, tc.setting)
			}
			if got.EmailsClinician() != tc.want {
				t.Errorf("EmailsClinician() = %v, want %v", got.EmailsClinician(), tc.want)
			}
		})
	}
}
