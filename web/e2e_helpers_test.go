package web

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// startBrowser starts headless Chromium for env (screenshots to
// testdata/artifacts/<prefix>*.png) and completes first-run setup in
// German through the form, ending on the dashboard; it skips the test
// when Chromium is not installed.
func startBrowser(t *testing.T, env *testEnv, prefix string, guard time.Duration) *browsertest.Browser {
	t.Helper()
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		t.Skipf("SKIP: %s not found; install Debian's chromium (apt-get install chromium) to run the browser test", browsertest.ChromiumPath)
	}
	b := browsertest.Start(t, filepath.Join("testdata", "artifacts"), prefix, guard)
	b.Run("setup",
		chromedp.Navigate(env.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#setup-form")),
		browsertest.TypeIn("#current_password", env.adminPassword),
		browsertest.TypeIn("#password", "ein sicheres Passwort"),
		browsertest.TypeIn("#password2", "ein sicheres Passwort"),
		browsertest.Stable(chromedp.SetValue(chromedp.CSS("#language"), "de")),
		browsertest.Click("#setup-submit"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
	)
	return b
}
