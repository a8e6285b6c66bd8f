package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestBrowserCampaignBulk drives headless Chromium through the list's
// bulk operations in German and English, at desktop width and at 390 px:
// tick two campaigns, duplicate them, then delete the ticked ones through
// the confirmation page. Screenshots go to testdata/artifacts/bulk-*.png.
func TestBrowserCampaignBulk(t *testing.T) {
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env = newEnv(t, opt)
	b := startBrowser(t, env, "bulk-", 180*time.Second)
	ctx := b.Ctx
	run, click, stable := b.Run, browsertest.Click, browsertest.Stable
	base := env.srv.URL
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	api := env.client()
	for _, tc := range []struct {
		lang, duplicated, deleted string
		width, height             int64
	}{
		{"de", "Angekreuzte Kampagnen dupliziert.", "Angekreuzte Kampagnen gelöscht.", 1280, 1000},
		{"de", "Angekreuzte Kampagnen dupliziert.", "Angekreuzte Kampagnen gelöscht.", 390, 844},
		{"en", "Ticked campaigns duplicated.", "Ticked campaigns deleted.", 1280, 1000},
		{"en", "Ticked campaigns duplicated.", "Ticked campaigns deleted.", 390, 844},
	} {
		name := tc.lang + "-" + map[int64]string{1280: "desktop", 390: "phone"}[tc.width]
		var ids []string
		for _, n := range []string{"A", "B"} {
			code, m := apiCall(t, api, tok, "POST", "/api/v1/campaigns", `{"name":"Bulk `+name+` `+n+`","channel":"gsm","numbers":["+4915112345678"],"text":"hi","send":"draft"}`)
			if code != http.StatusCreated {
				t.Fatalf("create: %d %v", code, m)
			}
			ids = append(ids, m["id"].(string))
		}
		before := len(listIDs(t, api, tok))
		run(name+" duplicate",
			chromedp.EmulateViewport(tc.width, tc.height),
			chromedp.Navigate(base+"/lang/"+tc.lang+"?next=/campaigns"),
			chromedp.WaitVisible(chromedp.CSS("#pick-"+ids[0])),
			click("#pick-"+ids[0]), click("#pick-"+ids[1]),
			stable(chromedp.SetValue(chromedp.CSS("#bulk-action"), "duplicate")),
			b.Shot(name+"-01-ticked"),
			click("#bulk-apply"),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
			b.Shot(name+"-02-duplicated"),
		)
		if s := b.Text(".flash"); s != tc.duplicated {
			t.Errorf("%s: flash %q, want %q", name, s, tc.duplicated)
		}
		if n := len(listIDs(t, api, tok)); n != before+2 {
			t.Errorf("%s: %d campaigns after duplicating 2 of %d", name, n, before)
		}
		run(name+" delete",
			chromedp.WaitVisible(chromedp.CSS("#pick-"+ids[0])),
			click("#pick-"+ids[0]), click("#pick-"+ids[1]),
			click("#bulk-delete"),
			chromedp.WaitVisible(chromedp.CSS("#confirm-page")),
			b.Shot(name+"-03-confirm"),
			click("#confirm-check"), click("#confirm-submit"),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
			b.Shot(name+"-04-deleted"),
		)
		if s := b.Text(".flash"); s != tc.deleted {
			t.Errorf("%s: flash %q, want %q", name, s, tc.deleted)
		}
		left := listIDs(t, api, tok)
		for _, id := range ids {
			if left[id] {
				t.Errorf("%s: campaign %s not deleted", name, id)
			}
		}
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			b.Fail("measure", err)
		}
		if int64(w) > tc.width {
			t.Errorf("%s: the campaign list is %d px wide at %d px", name, w, tc.width)
		}
	}
}

// listIDs are the campaigns the API lists.
func listIDs(t *testing.T, c *client, tok string) map[string]bool {
	t.Helper()
	code, m := apiCall(t, c, tok, "GET", "/api/v1/campaigns?limit=500", "")
	if code != http.StatusOK {
		t.Fatalf("list: %d %v", code, m)
	}
	out := map[string]bool{}
	for _, it := range m["items"].([]any) {
		out[it.(map[string]any)["id"].(string)] = true
	}
	return out
}
