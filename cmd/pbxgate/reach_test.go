package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 21 through the real daemon: a short-link campaign sent by a
// simulated modem whose links count clicks per recipient, and a WhatsApp
// campaign (Cloud API emulator) whose unreachable recipients get the SMS
// fallback exactly once through the simulated modem.

// reachDaemon starts a demo daemon (one simulated SIM on channel sms,
// optionally the WhatsApp emulator) with http.public_url set, setup done
// and an admin token.
func reachDaemon(t *testing.T, whatsapp bool) (*proc, *apiClient, string, string) {
	t.Helper()
	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	// The public URL is only written into the links; the test requests
	// their paths at the portal's real (loopback) address.
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:0", public_url: "http://127.0.0.1:9"}
modems: {discover: false, simulate: 1}
sms_channels: [{name: sms, modems: [sim1]}]
`, dataDir)
	if whatsapp {
		cfg += "whatsapp: {enabled: true, emulate: true}\n"
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath, "--demo")
	completeSetup(t, p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", dataDir)
	if code != 0 {
		t.Fatal(stderr)
	}
	return p, &apiClient{t: t, base: p.portal, token: strings.TrimSpace(out)}, cfgPath, dataDir
}

type simSent struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

// modemSent is what the simulated modems transmitted, by recipient.
func modemSent(t *testing.T, p *proc) map[string][]string {
	t.Helper()
	var modems []struct {
		IMEI string `json:"imei"`
	}
	getJSON(t, p.portal+"sim/modems", &modems)
	out := map[string][]string{}
	for _, m := range modems {
		var sent []simSent
		getJSON(t, p.portal+"sim/modems/"+m.IMEI+"/sent", &sent)
		for _, s := range sent {
			out[s.To] = append(out[s.To], s.Text)
		}
	}
	return out
}

var shortLinkRE = regexp.MustCompile(`http://127\.0\.0\.1:9(/s/[A-Za-z0-9_-]{12})`) // netscope: the links the daemon writes; the test requests their paths at the portal

func TestShortLinkCampaignCountsClicksPerRecipient(t *testing.T) {
	t.Parallel()
	p, api, _, _ := reachDaemon(t, false)
	numbers := []string{"+4917011100001", "+4917011100002", "+4917011100003"}
	body, _ := json.Marshal(map[string]any{"name": "Links", "channel": "sms", "sender": "", "numbers": numbers, "send": "now",
		"text": "Angebot: https://shop.example.de/sale", "shorten_links": true}) // netscope: never fetched
	var created struct {
		ID string `json:"id"`
	}
	api.do("POST", "/api/v1/campaigns", body, &created)
	var sent map[string][]string
	deadline := time.Now().Add(60 * time.Second)
	for {
		sent = modemSent(t, p)
		if len(sent) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("modem sent %v within 60 s; log:\n%s", sent, p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	paths := map[string]string{}
	for _, n := range numbers {
		if len(sent[n]) != 1 {
			t.Fatalf("%s got %q", n, sent[n])
		}
		m := shortLinkRE.FindStringSubmatch(sent[n][0])
		if m == nil {
			t.Fatalf("%s got no short link: %q", n, sent[n][0])
		}
		paths[n] = m[1]
	}
	if paths[numbers[0]] == paths[numbers[1]] {
		t.Fatal("two recipients got the same short link")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get(strings.TrimSuffix(p.portal, "/") + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// No login: the redirect names only the target.
	for _, n := range []string{numbers[0], numbers[0], numbers[2]} {
		r := get(paths[n])
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "https://shop.example.de/sale" { // netscope: never fetched
			t.Fatalf("redirect of %s: %d %q", n, r.StatusCode, r.Header.Get("Location"))
		}
	}
	if r := get("/s/AAAAAAAAAAAA"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown key: %d", r.StatusCode)
	}
	var detail struct {
		Clicks struct {
			Clicks       int            `json:"clicks"`
			Clicked      int            `json:"clicked"`
			PerRecipient map[string]int `json:"per_recipient"`
		} `json:"clicks"`
		ClickRate float64 `json:"click_rate"`
	}
	api.do("GET", "/api/v1/campaigns/"+created.ID, nil, &detail)
	if detail.Clicks.Clicks != 3 || detail.Clicks.Clicked != 2 || detail.Clicks.PerRecipient["1"] != 2 || detail.Clicks.PerRecipient["3"] != 1 || detail.Clicks.PerRecipient["2"] != 0 {
		t.Fatalf("clicks %+v", detail.Clicks)
	}
	// Rate limit: one address gets a burst of 20; 4 are used.
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		r := get("/s/AAAAAAAAAAAB")
		limited = r.StatusCode == http.StatusTooManyRequests && r.Header.Get("Retry-After") != ""
	}
	if !limited {
		t.Fatal("40 redirects in a row from one address were not rate-limited")
	}
}

func TestWhatsAppCampaignFallsBackToSMSOnce(t *testing.T) {
	t.Parallel()
	p, api, cfgPath, _ := reachDaemon(t, true)
	// A: the template is accepted but undeliverable (status webhook with
	// 131026); B: refused at once with 131026; C and D are on WhatsApp.
	numbers := []string{"+4917022200001", "+4917022200002", "+4917022200003", "+4917022200004"}
	post := func(path, body string) {
		t.Helper()
		resp, err := http.Post(p.portal+path, "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	post("waemu/_emu/undeliverable", `{"to":"4917022200001","code":131026}`)
	post("waemu/_emu/fail", `{"to":"4917022200002","codes":[131026]}`)
	body, _ := json.Marshal(map[string]any{"name": "WA+SMS", "channel": "whatsapp", "sender": "106540352242922", "numbers": numbers, "send": "now",
		"whatsapp": map[string]any{"template": "hello_world", "language": "en_US"},
		"fallback": map[string]any{"channel": "sms", "text": "Hallo, wir haben Sie per WhatsApp nicht erreicht."}})
	var created struct {
		ID string `json:"id"`
	}
	api.do("POST", "/api/v1/campaigns", body, &created)
	type recip struct {
		Number  string `json:"number"`
		State   string `json:"state"`
		Channel string `json:"channel"`
	}
	channels := func() map[string]string {
		var page struct {
			Items []recip `json:"items"`
		}
		api.do("GET", "/api/v1/campaigns/"+created.ID+"/recipients", nil, &page)
		out := map[string]string{}
		for _, r := range page.Items {
			out[r.Number] = r.Channel
		}
		return out
	}
	want := map[string]string{numbers[0]: "sms", numbers[1]: "sms", numbers[2]: "whatsapp", numbers[3]: "whatsapp"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := channels()
		sent := modemSent(t, p)
		ok := len(sent[numbers[0]]) == 1 && len(sent[numbers[1]]) == 1
		for n, w := range want {
			ok = ok && got[n] == w
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("channels %v, SMS %v; want %v; log:\n%s", got, sent, want, p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Exactly once: nothing more after a while, nor after a restart.
	time.Sleep(2 * time.Second)
	check := func(when string) {
		t.Helper()
		sent := modemSent(t, p)
		for i, n := range numbers {
			wantN := 0
			if i < 2 {
				wantN = 1
			}
			if len(sent[n]) != wantN {
				t.Errorf("%s: %s got %d SMS %q, want %d", when, n, len(sent[n]), sent[n], wantN)
			}
			for _, txt := range sent[n] {
				if txt != "Hallo, wir haben Sie per WhatsApp nicht erreicht." {
					t.Errorf("%s: SMS text %q", when, txt)
				}
			}
		}
	}
	check("after 2 s")
	var detail struct {
		Reach struct {
			WhatsApp int `json:"whatsapp"`
			SMS      int `json:"sms"`
		} `json:"reach"`
	}
	api.do("GET", "/api/v1/campaigns/"+created.ID, nil, &detail)
	if detail.Reach.WhatsApp != 2 || detail.Reach.SMS != 2 {
		t.Errorf("reach %+v", detail.Reach)
	}
	p.stop(t)
	p = startDaemon(t, cfgPath, "--demo")
	api.base = p.portal
	time.Sleep(2 * time.Second)
	// The simulator starts empty with the new daemon: nothing was sent again.
	if sent := modemSent(t, p); len(sent) != 0 {
		t.Errorf("after restart the modem sent %v", sent)
	}
	if got := channels(); got[numbers[0]] != "sms" || got[numbers[2]] != "whatsapp" {
		t.Errorf("after restart: %v", got)
	}
}
