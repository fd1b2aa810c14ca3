package browsertest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// browser is the Chromium a test binary's browser tests share: starting one
// costs more than most tests. Each test gets tabs in browser contexts of its
// own (no shared cookies, cache or storage).
var browser struct {
	mu      sync.Mutex
	started bool
	err     error
	ctx     context.Context // the browser's, for new tabs
	stop    []func()        // in order: close the browser, remove its profile
}

// Tab opens a phone-sized tab in a browser context of its own, in the
// Chromium the test binary's tests share, starting it on first use; the tab
// closes when the test ends. Without Chromium it skips, as Chromium does
// (fails under CI=true). Call Close from TestMain once the tests have run.
func Tab(t *testing.T) context.Context {
	t.Helper()
	execPath := Chromium(t)
	browser.mu.Lock()
	defer browser.mu.Unlock()
	if !browser.started {
		browser.started = true
		browser.err = start(execPath)
	}
	if browser.err != nil {
		t.Fatalf("start Chromium: %v", browser.err)
	}
	tab, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab, whose event loop lives as long as the
	// context it is given: the tab's own, never a step's timeout. A new
	// window does not take the --window-size of the first, so the phone's
	// viewport is set on each tab.
	if err := chromedp.Do(tab, chromedp.EmulateViewport(PhoneWidth, PhoneHeight)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

func start(execPath string) error {
	profile, err := os.MkdirTemp("", "handoff-chromium-")
	if err != nil {
		return fmt.Errorf("browser profile: %w", err)
	}
	browser.stop = append(browser.stop, func() { _ = os.RemoveAll(profile) })
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), Options(execPath, profile)...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	browser.stop = append([]func(){cancelBrowser, cancelAlloc}, browser.stop...)
	// The first run starts the browser, which then lives as long as the
	// context it was given: this one, never a step's timeout.
	if err := chromedp.Do(ctx); err != nil {
		return err
	}
	browser.ctx = ctx
	return nil
}

// Close stops the shared Chromium (if it was started) and removes its
// profile.
func Close() {
	browser.mu.Lock()
	defer browser.mu.Unlock()
	for _, f := range browser.stop {
		f()
	}
	browser.stop, browser.started, browser.err, browser.ctx = nil, false, nil, nil
}
