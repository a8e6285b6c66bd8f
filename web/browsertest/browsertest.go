// Package browsertest drives Debian's Chromium (headless, through chromedp)
// for the portal's end-to-end tests: one browser per test, screenshots as
// test artifacts, and steps that fail with the page's address, its HTML and
// a screenshot.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package puts the browser.
const ChromiumPath = "/usr/bin/chromium"

// Action is one chromedp step.
type Action = chromedp.Action[chromedp.Void]

// Browser is a headless Chromium for one test.
type Browser struct {
	t *testing.T
	// Ctx runs the flow; it ends after the guard given to Start (a
	// failure guard, not a timing assertion).
	Ctx       context.Context
	artifacts string
	prefix    string
	// Context adds to a failure report (e.g. the daemon's log).
	Context func() string
}

// Start launches Chromium (German UI language, 1280×1000) or skips the test
// when it is not installed. Screenshots go to artifacts/<prefix><name>.png.
func Start(t *testing.T, artifacts, prefix string, guard time.Duration) *Browser {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Skipf("SKIP: %s not found; install Debian's chromium (apt-get install chromium) to run the browser test", ChromiumPath)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "de-DE"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// Start the browser on a context without a deadline (a deadline on the
	// first call would bound the browser's life), then guard the flow.
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start %s: %v", ChromiumPath, err)
	}
	ctx, cancel := context.WithTimeout(bctx, guard)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return &Browser{t: t, Ctx: ctx, artifacts: artifacts, prefix: prefix}
}

// Shot saves a full-page screenshot.
func (b *Browser) Shot(name string) Action {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var buf []byte
		var err error
		for range 3 {
			// A click that navigates may still be loading the next page
			// (a WaitVisible before the Shot can match the old one), and a
			// screenshot taken while the documents swap can wait forever:
			// wait for a loaded document, and bound each try.
			tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			if _, err = chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingInterval(50*time.Millisecond))(tctx, tg); err == nil {
				buf, err = chromedp.FullScreenshot(100)(tctx, tg)
			}
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("screenshot %s: %w", name, err)
		}
		return os.WriteFile(filepath.Join(b.artifacts, b.prefix+name+".png"), buf, 0o644)
	})
}

// Fail ends the test with where the browser is, what it shows and a
// screenshot named after the step.
func (b *Browser) Fail(step string, err error) {
	b.t.Helper()
	loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
	body, _ := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	_ = chromedp.Do(b.Ctx, b.Shot("failed-"+strings.ReplaceAll(step, " ", "-")))
	extra := ""
	if b.Context != nil {
		extra = "\n" + b.Context()
	}
	b.t.Fatalf("%s: %v\nat %s\n%s%s", step, err, loc, body, extra)
}

// Run performs a step's actions or fails the test.
func (b *Browser) Run(step string, actions ...Action) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.Fail(step, err)
	}
}

// Stable retries an action that raced the browser replacing the document
// right after a navigation ("Could not find node with given id"): such an
// action never reached the page, so running it again is safe (bounded).
func Stable(a Action) Action {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		var err error
		for range 3 {
			if _, err = a(ctx, tg); err == nil || !strings.Contains(err.Error(), "node with given id") {
				return chromedp.Void{}, err
			}
		}
		return chromedp.Void{}, err
	}
}

// Click clicks the element sel selects.
func Click(sel string) Action { return Stable(chromedp.Click(chromedp.CSS(sel))) }

// TypeIn types v into the element sel selects.
func TypeIn(sel, v string) Action { return Stable(chromedp.SendKeys(chromedp.CSS(sel), v)) }

// SetValue sets the value of the element sel selects.
func SetValue(sel, v string) Action { return Stable(chromedp.SetValue(chromedp.CSS(sel), v)) }

// Text returns the trimmed text of the element sel selects.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.Fail("read "+sel, err)
	}
	return strings.TrimSpace(s)
}
