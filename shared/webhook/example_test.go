package webhook_test

import (
	"fmt"
	"time"

	"github.com/handoff-health/handoff/shared/webhook"
)

func ExampleVerifier_Verify() {
	secret, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	body := []byte(`{"test": 2432232314}`)
	sent := time.Unix(1614265330, 0)
	h := webhook.SignHeaders(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body)
	fmt.Println(h.Get("webhook-signature"))

	v := webhook.Verifier{Tolerance: 5 * time.Minute, Now: func() time.Time { return sent.Add(time.Minute) }}
	fmt.Println(v.Verify(body, h, secret))
	fmt.Println(v.Verify([]byte(`{"test": 1}`), h, secret))
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// <nil>
	// webhook: no valid signature
}
