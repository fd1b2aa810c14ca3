package local_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/handoff-health/handoff/shared/testenv/browsertest"
)

// TestPasskeysOnLoopback: the local stack, started as `make run` starts it
// (here on free ports), prints the demo clinic's staff invitation as a link
// on localhost — a browser takes no passkey for 127.0.0.1 — and that link,
// opened as printed in Chromium with a virtual authenticator, registers a
// passkey and signs in; signed out, the passkey signs in again on
// http://localhost:<port>/clinic.
func TestPasskeysOnLoopback(t *testing.T) {
	execPath := browsertest.Chromium(t)
	d := startDemo(t)
	defer d.Stop()
	api := d.api
	port := api[strings.LastIndexByte(api, ':')+1:]
	invite := regexp.MustCompile(`http://\S+/s/[A-Za-z0-9_-]{43}`).FindString(d.out.String())
	if want := "http://localhost:" + port + "/s/"; !strings.HasPrefix(invite, want) {
		t.Fatalf("the printed invitation %q is not a link on %s", invite, want)
	}

	profile := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browsertest.Options(execPath, profile)...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	signedIn := func(what string) {
		t.Helper()
		// A deadline, not a count of tries: on a busy machine each try is
		// slow too.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			if eval(`document.readyState === 'complete' && document.querySelector('form[action="/clinic/logout"]') ? location.href : ''`) != "" {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: not signed in (at %s: %q)", what, eval(`location.href`), eval(`(document.getElementById('passkey-status')||{}).textContent||''`))
	}
	if err := chromedp.Do(tab); err != nil { // start the browser on the tab's own context
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	_, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	if err == nil {
		_, err = chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	}
	cancel()
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}

	step("open the printed invitation", chromedp.Navigate(invite))
	step("make a passkey", chromedp.Click(chromedp.CSS(`form[data-passkey] button`), chromedp.NodeVisible))
	signedIn("after registering")
	if got := eval(`location.origin`); got != "http://localhost:"+port {
		t.Errorf("the pages are on %s, want http://localhost:%s", got, port)
	}
	step("sign out", chromedp.Click(chromedp.CSS(`form[action="/clinic/logout"] button`), chromedp.NodeVisible))
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if eval(`document.readyState === 'complete' && document.querySelector('form[data-passkey]') ? 'y' : ''`) != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	step("sign in with the passkey", chromedp.Click(chromedp.CSS(`form[data-passkey] button`), chromedp.NodeVisible))
	signedIn("after signing in again")
}
