package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/browsertest"
)

// manyTemplates are n approved templates of mixed languages and
// categories plus three with distinctive words: "rechnung_faellig" (name),
// "termin_hinweis" (only its body says "Zahnarzt") and "kontoauszug" in
// Turkish (language "tr").
func manyTemplates(n int) templateList {
	var l templateList
	cats := []string{"MARKETING", "UTILITY", "AUTHENTICATION"}
	langs := []string{"de", "en", "fr"}
	for i := range n {
		l = append(l, campaign.TemplateInfo{Name: fmt.Sprintf("aktion_%03d", i), Language: langs[i%3], Status: "APPROVED",
			Category: cats[i%3], Variables: []string{"1"}, Body: fmt.Sprintf("Hallo {{1}}, Angebot Nummer %d gilt diese Woche.", i)})
	}
	return append(l,
		campaign.TemplateInfo{Name: "rechnung_faellig", Language: "de", Status: "APPROVED", Category: "UTILITY",
			Variables: []string{"1"}, Body: "Ihre Rechnung {{1}} ist fällig."},
		campaign.TemplateInfo{Name: "termin_hinweis", Language: "de", Status: "APPROVED", Category: "UTILITY",
			Body: "Ihr Termin beim Zahnarzt ist morgen.", Footer: "Praxis Dr. Weiß"},
		campaign.TemplateInfo{Name: "kontoauszug", Language: "tr", Status: "APPROVED", Category: "UTILITY", Body: "Hesap özetiniz hazır."},
		campaign.TemplateInfo{Name: "entwurf_zahnarzt", Language: "de", Status: "PENDING", Body: "nicht freigegeben"},
	)
}

func templateEnv(t *testing.T, tpls templateList) *testEnv {
	t.Helper()
	ch := &waChannel{}
	return newEnv(t, func(d *app.Deps) {
		chans := map[string]campaign.Channel{"wa": ch}
		eng, err := campaign.New(campaign.Config{Store: d.Store, Channels: chans, Logger: slog.New(slog.DiscardHandler),
			Location: time.UTC, Region: "DE", Templates: tpls})
		if err != nil {
			t.Fatal(err)
		}
		ch.mu.Lock()
		ch.eng = eng
		ch.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		d.Campaigns = app.EngineCampaigns(eng, chans)
		d.Templates = tpls
	})
}

var templateOptionRE = regexp.MustCompile(`<option value="([^"|]+\|[^"]+)"`)

// pickerOptions are the template keys the form's picker offers.
func pickerOptions(body string) []string {
	i := strings.Index(body, `id="template" name="template"`)
	if i < 0 {
		return nil
	}
	sel := body[i:]
	sel = sel[:strings.Index(sel, "</select>")]
	var keys []string
	for _, m := range templateOptionRE.FindAllStringSubmatch(sel, -1) {
		keys = append(keys, m[1])
	}
	return keys
}

func TestMatchTemplate(t *testing.T) {
	t.Parallel()
	tpl := campaign.TemplateInfo{Name: "Rechnung_Faellig", Language: "de", Category: "UTILITY", HeaderText: "Erinnerung",
		Body: "Ihre Rechnung {{1}} ist fällig.", Footer: "Stadtwerke"}
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"", true}, {"  ", true},
		{"rechnung", true}, {"RECHNUNG", true}, // case-insensitive name
		{"utility", true}, {"de", true}, // category, language
		{"fällig", true}, {"FÄLLIG", true}, // body, non-ASCII folded
		{"erinnerung stadtwerke", true}, // header text and footer, every word
		{"rechnung marketing", false},   // one word missing
		{"mahnung", false},
	} {
		if got := app.MatchTemplate(tpl, tc.q); got != tc.want {
			t.Errorf("MatchTemplate(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
	list := []campaign.TemplateInfo{tpl, {Name: "b", Language: "en", Body: "x"}, {Name: "c", Language: "fr", Body: "y"}}
	got := app.FilterTemplates(list, "fr", "b|en")
	if len(got) != 2 || got[0].Name != "b" || got[1].Name != "c" {
		t.Errorf("FilterTemplates keeps the chosen template and the matches in order: %+v", got)
	}
	if got := app.FilterTemplates(list, "", ""); len(got) != 3 {
		t.Errorf("an empty search keeps all: %d", len(got))
	}
}

// TestTemplateSearchWithoutScript posts the campaign form's "Search"
// button as a browser without JavaScript does: the picker offers only the
// matching templates (by name, language, category and body text), keeps
// the chosen one, counts them in German and English and judges nothing
// else of the half-filled form.
func TestTemplateSearchWithoutScript(t *testing.T) {
	t.Parallel()
	env := templateEnv(t, manyTemplates(300))
	c := env.client()
	c.setup("admin password")
	c.get("/lang/de?next=/campaigns/new")
	tok := c.csrf("/campaigns/new")
	if n := len(pickerOptions(c.body)); n != 303 {
		t.Fatalf("the unfiltered picker offers %d templates, want the 303 approved ones", n)
	}
	search := func(q, chosen string) resp {
		t.Helper()
		r := c.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{"csrf_token": tok, "sender": "wa|",
			"template": chosen, "template_q": q, "template_search": "1", "send": "now"}})
		if r.code != http.StatusOK || strings.Contains(r.body, `class="err"`) {
			t.Fatalf("search %q: %d, errors shown: %v", q, r.code, strings.Contains(r.body, `class="err"`))
		}
		return r
	}
	for _, tc := range []struct {
		q, chosen string
		want      []string
		count     string
	}{
		{"rechnung", "", []string{"rechnung_faellig|de"}, "1 von 303 Vorlagen"},
		{"zahnarzt", "", []string{"termin_hinweis|de"}, "1 von 303 Vorlagen"},                           // body only; the pending one is not offered
		{"tr utility", "", []string{"kontoauszug|tr"}, "1 von 303 Vorlagen"},                            // language and category
		{"AKTION_007 woche", "", []string{"aktion_007|en"}, "1 von 303 Vorlagen"},                       // name and body words
		{"Weiß", "aktion_001|en", []string{"aktion_001|en", "termin_hinweis|de"}, "1 von 303 Vorlagen"}, // footer; the choice stays but is no match
		{"mahnung", "", nil, "Keine Vorlage passt zur Suche."},
		{"mahnung", "aktion_002|fr", []string{"aktion_002|fr"}, "Keine Vorlage passt zur Suche."},
	} {
		r := search(tc.q, tc.chosen)
		got := pickerOptions(r.body)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("search %q: picker offers %v, want %v", tc.q, got, tc.want)
		}
		mustContain(t, r.body, tc.count, fmt.Sprintf(`name="template_q" value="%s"`, strings.ReplaceAll(tc.q, "ß", "ß")))
	}
	if got := pickerOptions(search("authentication", "").body); len(got) != 100 {
		t.Errorf("category search offers %d templates, want 100", len(got))
	}
	c.get("/lang/en?next=/campaigns/new")
	r := search("rechnung", "")
	mustContain(t, r.body, "1 of 303 templates", `<label for="template_q">Search templates</label>`, `aria-live="polite"`)
}

// TestBrowserTemplateSearch drives Chromium through the template search
// with 300 templates, in German and English, at 1366 and 390 px: typing
// filters the picker as the user types and the live region counts the
// matches; with JavaScript off the "Search" button filters on the server.
// Screenshots: testdata/artifacts/tplsearch-*.png.
func TestBrowserTemplateSearch(t *testing.T) {
	env := templateEnv(t, manyTemplates(300))
	b := startBrowser(t, env, "tplsearch-", 300*time.Second)
	options := func() int {
		n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.getElementById("template").options.length - 1`))
		if err != nil {
			b.Fail("count options", err)
		}
		return n
	}
	waitText := func(step, sel, want string) {
		poll := chromedp.Poll[bool](fmt.Sprintf(`document.querySelector(%q).textContent.trim() === %q`, sel, want),
			chromedp.WithPollingInterval(50*time.Millisecond))
		b.Run(step, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error { _, err := poll(ctx, tg); return err }))
	}
	for _, tc := range []struct {
		lang, one, none, zahnarzt string
		width, height             int64
	}{
		{"de", "1 von 303 Vorlagen", "Keine Vorlage passt zur Suche.", "1 von 303 Vorlagen", 1366, 768},
		{"de", "1 von 303 Vorlagen", "Keine Vorlage passt zur Suche.", "1 von 303 Vorlagen", 390, 844},
		{"en", "1 of 303 templates", "No template matches the search.", "1 of 303 templates", 1366, 768},
		{"en", "1 of 303 templates", "No template matches the search.", "1 of 303 templates", 390, 844},
	} {
		name := fmt.Sprintf("%s-%d", tc.lang, tc.width)
		b.Run(name+" open",
			chromedp.EmulateViewport(tc.width, tc.height),
			chromedp.Navigate(env.srv.URL+"/lang/"+tc.lang+"?next=/campaigns/new"),
			chromedp.WaitVisible(chromedp.CSS("#sender")),
			browsertest.SetValue("#sender", "wa|"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("sender").dispatchEvent(new Event("change"))`),
			chromedp.WaitVisible(chromedp.CSS("#template_q")),
		)
		if n := options(); n != 303 {
			t.Errorf("%s: %d templates offered before searching, want 303", name, n)
		}
		b.Run(name+" type", browsertest.TypeIn("#template_q", "rechnung"))
		waitText(name+" count one", "#template-count", tc.one)
		if n := options(); n != 1 {
			t.Errorf("%s: %d templates offered for \"rechnung\", want 1", name, n)
		}
		b.Run(name+" choose",
			browsertest.SetValue("#template", "rechnung_faellig|de"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("template").dispatchEvent(new Event("change"))`),
			chromedp.WaitVisible(chromedp.CSS(`[data-template="rechnung_faellig|de"]`)),
			chromedp.ScrollIntoView(chromedp.CSS("#template-search-box")),
			b.Shot(name+"-01-rechnung"),
		)
		// A body word; the chosen template stays on offer (not counted).
		b.Run(name+" body word", SetValueAndInput("#template_q", "Zahnarzt"))
		waitText(name+" count zahnarzt", "#template-count", tc.zahnarzt)
		if n := options(); n != 2 {
			t.Errorf("%s: %d templates offered for \"Zahnarzt\", want the match and the chosen one", name, n)
		}
		if v, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById("template").value`)); v != "rechnung_faellig|de" {
			t.Errorf("%s: searching changed the chosen template to %q", name, v)
		}
		b.Run(name+" nothing", SetValueAndInput("#template_q", "gibtsnicht"))
		waitText(name+" count none", "#template-count", tc.none)
		b.Run(name+" shot none", chromedp.ScrollIntoView(chromedp.CSS("#template-search-box")), b.Shot(name+"-02-none"))
		sw, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			b.Fail("measure", err)
		}
		if int64(sw) > tc.width {
			t.Errorf("%s: the form is %d px wide at %d px", name, sw, tc.width)
		}
	}

	// Without JavaScript: the button posts the form and the server filters.
	if _, err := chromedp.Call(b.Ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		b.Fail("disable script", err)
	}
	b.Run("no script",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(env.srv.URL+"/lang/de?next=/campaigns/new"),
		chromedp.WaitVisible(chromedp.CSS("#template_q")),
		browsertest.SetValue("#sender", "wa|"),
		browsertest.SetValue("#template_q", "tr utility"),
		browsertest.Click("#template-search"),
		chromedp.WaitVisible(chromedp.CSS(`#template_q[value="tr utility"]`)),
		chromedp.ScrollIntoView(chromedp.CSS("#template-search-box")),
		b.Shot("de-390-03-noscript"),
	)
	if got := b.Text("#template-count"); got != "1 von 303 Vorlagen" {
		t.Errorf("without script: count %q", got)
	}
	if n := options(); n != 1 {
		t.Errorf("without script: %d templates offered for \"tr utility\", want 1", n)
	}
}

// SetValueAndInput replaces an input's value and fires "input" as typing does.
func SetValueAndInput(sel, v string) browsertest.Action {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function(){var e=document.querySelector(%q);e.value=%q;e.dispatchEvent(new Event("input"));})()`, sel, v))
}

// BenchmarkCampaignFormTemplates renders the campaign form with 303
// WhatsApp templates (the picker, every template's fields and preview),
// through the real router with a signed-in admin.
func BenchmarkCampaignFormTemplates(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	us := users.New(st, users.WithParams(fastHash))
	if err := us.Add(context.Background(), "admin", "admin password", users.RoleAdmin); err != nil {
		b.Fatal(err)
	}
	tpls := manyTemplates(300)
	chans := map[string]campaign.Channel{"wa": &waChannel{}}
	eng, err := campaign.New(campaign.Config{Store: st, Channels: chans, Logger: slog.New(slog.DiscardHandler), Location: time.UTC, Region: "DE", Templates: tpls})
	if err != nil {
		b.Fatal(err)
	}
	s, err := newServer(app.Deps{Store: st, Users: us, Logger: slog.New(slog.DiscardHandler), Location: time.UTC, DefaultCountry: "DE",
		Now: time.Now, Campaigns: app.EngineCampaigns(eng, chans), Templates: tpls})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SaveSettings(app.Settings{SetupDone: true, Language: "de"}); err != nil {
		b.Fatal(err)
	}
	id, _, err := s.Sessions.Create("admin")
	if err != nil {
		b.Fatal(err)
	}
	h := s.handler()
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		req := httptest.NewRequest("GET", "/campaigns/new", nil)
		req.AddCookie(&http.Cookie{Name: app.SessionCookie, Value: id})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || len(pickerOptions(w.Body.String())) != 303 {
			b.Fatalf("form: %d", w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "page-bytes")
}

// BenchmarkFilterTemplates is the server-side search over 303 templates
// (two words, one match).
func BenchmarkFilterTemplates(b *testing.B) {
	tpls := manyTemplates(300)
	b.ReportAllocs()
	for b.Loop() {
		if got := app.FilterTemplates(tpls, "zahnarzt morgen", ""); len(got) != 1 {
			b.Fatalf("%d matches", len(got))
		}
	}
}
