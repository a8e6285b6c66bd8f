package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestBrowserCampaignArchive drives Chromium in German and English, at
// 1280 px and at 390 px: a completed campaign is archived from its page
// (it says so, the retry buttons are gone), is missing from the campaign
// list and present in the archive, and comes back with "restore".
// Screenshots: testdata/artifacts/archive-*.png.
func TestBrowserCampaignArchive(t *testing.T) {
	env, _, id := recipientsEnv(t)
	b := startBrowser(t, env, "archive-", 480*time.Second)
	base := env.srv.URL
	listed := func(path string) bool {
		n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('#campaign-list a[href="/campaigns/`+id+`"]').length`))
		if err != nil {
			b.Fail("list "+path, err)
		}
		return n > 0
	}
	for _, tc := range []struct {
		lang, archived, restored, note string
		width, height                  int64
	}{
		{"de", "Kampagne archiviert.", "Kampagne aus dem Archiv geholt.", "archiviert und schreibgeschützt", 1280, 1000},
		{"de", "Kampagne archiviert.", "Kampagne aus dem Archiv geholt.", "archiviert und schreibgeschützt", 390, 844},
		{"en", "Campaign archived.", "Campaign restored from the archive.", "archived and read-only", 1280, 1000},
		{"en", "Campaign archived.", "Campaign restored from the archive.", "archived and read-only", 390, 844},
	} {
		name := tc.lang + "-" + map[int64]string{1280: "desktop", 390: "phone"}[tc.width]
		b.Run(name+" archive",
			chromedp.EmulateViewport(tc.width, tc.height),
			chromedp.Navigate(base+"/lang/"+tc.lang+"?next=/campaigns/"+id),
			chromedp.WaitVisible(chromedp.CSS("#campaign-archive")),
			browsertest.Click("#campaign-archive"),
			chromedp.WaitVisible(chromedp.CSS("#campaign-archived")),
			b.Shot(name+"-01-archived"),
		)
		if got := b.Text(".flash"); got != tc.archived {
			t.Errorf("%s: flash %q, want %q", name, got, tc.archived)
		}
		if got := b.Text("#campaign-archived"); !strings.Contains(got, tc.note) {
			t.Errorf("%s: note %q", name, got)
		}
		n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#campaign-retry, #campaign-archive, button.retry-one").length`))
		if err != nil || n != 0 {
			t.Errorf("%s: an archived campaign offers %d retry/archive buttons (%v)", name, n, err)
		}
		b.Run(name+" list", chromedp.Navigate(base+"/campaigns"), chromedp.WaitVisible(chromedp.CSS("#campaign-list-archive")), b.Shot(name+"-02-list"))
		if listed("/campaigns") {
			t.Errorf("%s: the archived campaign is in the default list", name)
		}
		b.Run(name+" archive list", browsertest.Click("#campaign-list-archive"), chromedp.WaitVisible(chromedp.CSS("#campaign-list-current")), b.Shot(name+"-03-archive"))
		if !listed("/campaigns?archived=1") {
			t.Errorf("%s: the archived campaign is not in the archive", name)
		}
		b.Run(name+" restore",
			browsertest.Click(`#campaign-list a[href="/campaigns/`+id+`"]`),
			chromedp.WaitVisible(chromedp.CSS("#campaign-unarchive")),
			browsertest.Click("#campaign-unarchive"),
			chromedp.WaitVisible(chromedp.CSS("#campaign-archive")),
			b.Shot(name+"-04-restored"),
		)
		if got := b.Text(".flash"); got != tc.restored {
			t.Errorf("%s: flash %q, want %q", name, got, tc.restored)
		}
		w, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			b.Fail("measure", err)
		}
		if int64(w) > tc.width {
			t.Errorf("%s: the page is %d px wide at %d px", name, w, tc.width)
		}
	}
}

// The API archives a completed campaign (read-only: retry answers 409),
// lists it only with archived=true, restores it; a draft cannot be
// archived; after the retention pruned a campaign it reports pruned_at,
// refuses a retry, and its German page says the details were deleted.
func TestAPICampaignArchiveAndRetention(t *testing.T) {
	t.Parallel()
	env, eng, id := recipientsEnv(t)
	c := env.client()
	c.setup("admin password")
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	inList := func(q string) bool {
		code, m := apiCall(t, c, tok, "GET", "/api/v1/campaigns"+q, "")
		if code != http.StatusOK {
			t.Fatalf("list %s: %d %v", q, code, m)
		}
		for _, it := range m["items"].([]any) {
			if it.(map[string]any)["id"] == id {
				return true
			}
		}
		return false
	}
	if code, m := apiCall(t, c, tok, "POST", "/api/v1/campaigns/"+id+"/archive", ""); code != http.StatusOK || m["archived"] != true {
		t.Fatalf("archive: %d %v", code, m)
	}
	if inList("") || !inList("?archived=true") {
		t.Error("the archived campaign is in the default list or not in the archive")
	}
	if code, m := apiCall(t, c, tok, "GET", "/api/v1/campaigns?archived=maybe", ""); code != http.StatusBadRequest {
		t.Errorf("archived=maybe: %d %v", code, m)
	}
	if code, m := apiCall(t, c, tok, "POST", "/api/v1/campaigns/"+id+"/retry", ""); code != http.StatusConflict {
		t.Errorf("retry of an archived campaign: %d %v", code, m)
	}
	if code, m := apiCall(t, c, tok, "POST", "/api/v1/campaigns/"+id+"/unarchive", ""); code != http.StatusOK || m["archived"] != nil {
		t.Fatalf("unarchive: %d %v", code, m)
	}
	if !inList("") {
		t.Error("the restored campaign is not in the default list")
	}
	code, m := apiCall(t, c, tok, "POST", "/api/v1/campaigns", `{"name":"Entwurf","channel":"gsm","numbers":["+4915112345678"],"text":"hi","send":"draft"}`)
	if code != http.StatusCreated {
		t.Fatalf("create draft: %d %v", code, m)
	}
	if code, m := apiCall(t, c, tok, "POST", "/api/v1/campaigns/"+m["id"].(string)+"/archive", ""); code != http.StatusConflict {
		t.Errorf("archive a draft: %d %v", code, m)
	}

	if n, err := eng.PruneRecipients(context.Background(), time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id, "")
	if code != http.StatusOK || m["pruned_at"] == nil || m["failed"] != float64(1) || m["total"] != float64(3) {
		t.Fatalf("pruned campaign: %d %v", code, m)
	}
	if code, m := apiCall(t, c, tok, "POST", "/api/v1/campaigns/"+id+"/retry", ""); code != http.StatusConflict {
		t.Errorf("retry of a pruned campaign: %d %v", code, m)
	}
	c.lang = "de"
	c.get("/lang/de")
	r := c.get("/campaigns/" + id)
	mustContain(t, r.body, "Die Empfängerdetails wurden am", "durch die Aufbewahrungsfrist gelöscht")
	if strings.Contains(r.body, `id="campaign-retry"`) {
		t.Error("a pruned campaign offers retry")
	}
}
