package pages_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/handoff-health/handoff/shared/pages"
)

func ExampleLang() {
	fmt.Println(pages.Lang("es-MX"), pages.Lang("en-US"), pages.Lang("fr"))
	// Output: es en en
}

func ExampleCSRF() {
	c := pages.CSRF{Key: []byte("a 32-byte key from configuration")}
	linkToken := "q7WmN0xK-3_pZ8vLrT2yH5cB9dF1gJ4sA6eU0iO3kMw"

	// The page puts the token in its form's hidden "csrf" field...
	token := c.Token(linkToken)
	// ...and the POST handler checks what comes back against the same link.
	fmt.Println(c.Check(linkToken, token), c.Check("another-link", token))
	// Output: true false
}

func ExampleConsentEmail() {
	expires := time.Date(2026, time.March, 14, 17, 30, 0, 0, time.UTC)
	e, err := pages.ConsentEmail("en", "Ana", "Lakeside Health Center", "https://handoff.example.org/c/abc123", expires)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Subject)
	// Output: Lakeside Health Center: please review a referral
}

func ExampleRenderError() {
	rec := httptest.NewRecorder()
	pages.RenderError(rec, "es", 410)
	fmt.Println(rec.Code, rec.Header().Get("Cache-Control"))
	// Output: 410 no-store
}
