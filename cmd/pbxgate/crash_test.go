package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCampaignSurvivesKill9 kills a real pbxgate with SIGKILL at random
// moments of a 1,000-recipient campaign sent through simulated modems (in a
// process of their own, so what they sent outlives each daemon), restarts it
// every time, and proves on the wire that no recipient was lost or sent twice:
// every recipient ends in exactly one final state, and each number appears at
// most once in what the modems sent — more often only if recorded unknown.
func TestCampaignSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 soak test; run without -short")
	}
	t.Parallel()
	const n = 1000
	rig := startCampaignRig(t, true)
	sim, cfgPath, p, api := rig.sim, rig.cfgPath, rig.p, rig.api
	created, numbers := rig.campaign("kill -9", "+4915901", n, "Ihre Bestellung ist da")

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	for round := 0; round < 5; round++ {
		time.Sleep(time.Duration(200+rng.IntN(1200)) * time.Millisecond)
		if api.campaignState(created.ID) == "completed" {
			break
		}
		p.cmd.Process.Kill()
		<-p.done
		kills++
		p = startDaemon(t, cfgPath)
		api.base = p.portal
	}
	if kills < 2 {
		t.Fatalf("the campaign finished after %d kill(s); the test needs a slower campaign to mean anything", kills)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for api.campaignState(created.ID) != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("campaign not completed 3 minutes after the last of %d kills: %s", kills, api.campaignState(created.ID))
		}
		time.Sleep(250 * time.Millisecond)
	}

	// What the campaign says about each recipient.
	status := map[string]string{}
	for offset := 0; ; offset += 200 {
		var page struct {
			Items []struct {
				Number string `json:"number"`
				Status string `json:"state"`
			} `json:"items"`
			Total int `json:"total"`
		}
		api.do("GET", fmt.Sprintf("/api/v1/campaigns/%s/recipients?offset=%d&limit=200", created.ID, offset), nil, &page)
		for _, it := range page.Items {
			if _, dup := status[it.Number]; dup {
				t.Errorf("recipient %s listed twice", it.Number)
			}
			status[it.Number] = it.Status
		}
		if offset+200 >= page.Total {
			break
		}
	}
	if len(status) != n {
		t.Fatalf("campaign lists %d recipients, want %d", len(status), n)
	}
	// What went out on the wire.
	sent := sim.sentCounts(t)
	counts := map[string]int{}
	for _, num := range numbers {
		st := status[num]
		c := sent[num]
		counts[st]++
		switch st {
		case "sent", "delivered":
			if c != 1 {
				t.Errorf("%s is %s but the modems sent it %d times", num, st, c)
			}
		case "unknown":
			// May or may not have gone out; never resent blindly.
			if c > 1 {
				t.Errorf("%s is unknown but went out %d times", num, c)
			}
		default:
			t.Errorf("%s ended in %q, not a final state of a completed campaign", num, st)
		}
	}
	t.Logf("%d kills; final states %v", kills, counts)
}

var (
	firstPasswordRE = regexp.MustCompile(`Password \(shown only this once\): (\S+)`)
	formTokenRE     = regexp.MustCompile(`name="form_token" value="([^"]+)"`)
)

// campaignRig is pbxgate sending through two modems of a modemsim in its
// own process (what the modems sent outlives the daemon), set up, with an
// admin API client.
type campaignRig struct {
	sim     *modemsimProc
	cfgPath string
	p       *proc
	api     *apiClient
}

func startCampaignRig(t *testing.T, autoResume bool) *campaignRig {
	t.Helper()
	work := t.TempDir()
	r := &campaignRig{sim: startModemsim(t, work), cfgPath: filepath.Join(work, "pbxgate.yaml")}
	dataDir := filepath.Join(work, "data")
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json, level: info}
http: {listen: "127.0.0.1:0"}
shutdown_timeout: 5s
modems:
  discover: false
  command_timeout: 3s
  devices:
    - {name: a, device: %s, delivery_reports: false}
    - {name: b, device: %s, delivery_reports: false}
sms_channels:
  - {name: sms, modems: [a, b]}
campaigns: {auto_resume: %t}
`, dataDir, filepath.Join(r.sim.links, "modem0"), filepath.Join(r.sim.links, "modem1"), autoResume)
	if err := os.WriteFile(r.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.p = startDaemon(t, r.cfgPath)
	completeSetup(t, r.p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", dataDir)
	if code != 0 {
		t.Fatalf("user token: %s", stderr)
	}
	r.api = &apiClient{t: t, token: strings.TrimSpace(out), base: r.p.portal}
	return r
}

// campaign starts an SMS campaign to n numbers prefix+000000… now.
type createdCampaign struct {
	ID string `json:"id"`
}

func (r *campaignRig) campaign(name, prefix string, n int, text string) (createdCampaign, []string) {
	r.api.t.Helper()
	numbers := make([]string, n)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	body, _ := json.Marshal(map[string]any{"name": name, "channel": "sms", "numbers": numbers, "text": text, "send": "now"})
	var created createdCampaign
	r.api.do("POST", "/api/v1/campaigns", body, &created)
	if created.ID == "" {
		r.api.t.Fatal("campaign not created")
	}
	return created, numbers
}

// completeSetup does the portal's first-run setup as a browser would: the
// API answers only afterwards.
func completeSetup(t *testing.T, p *proc) {
	t.Helper()
	pw := firstRunPassword(t, p)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(p.portal + "setup")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := formTokenRE.FindSubmatch(page)
	if tok == nil {
		t.Fatalf("no form token on the setup page:\n%s", page)
	}
	form := url.Values{"form_token": {string(tok[1])}, "current_password": {pw},
		"password": {"a new admin password"}, "password2": {"a new admin password"},
		"language": {"de"}, "country": {"DE"}, "timezone": {"Europe/Berlin"}}
	resp, err = c.PostForm(p.portal+"setup", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `name="current_password"`) {
		t.Fatalf("setup failed: %s\n%s", resp.Status, body)
	}
}

// firstRunPassword is the admin password the daemon printed on stdout. The
// daemon prints it before it logs "ready" on stderr, but the two pipes are
// copied separately, so stdout may lag a little.
func firstRunPassword(t *testing.T, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m := firstPasswordRE.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no first-run password on stdout:\n%s", p.stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type apiClient struct {
	t     testing.TB
	base  string
	token string
}

func (a *apiClient) do(method, path string, body []byte, out any) {
	a.t.Helper()
	req, _ := http.NewRequest(method, strings.TrimSuffix(a.base, "/")+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		a.t.Fatalf("%s %s: %s %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

func (a *apiClient) campaignState(id string) string {
	var c struct {
		State string `json:"state"`
	}
	a.do("GET", "/api/v1/campaigns/"+id, nil, &c)
	return c.State
}

// modemsimProc is cmd/modemsim running as its own process.
type modemsimProc struct {
	links string // DIR/modemN symlinks to the ptys
	api   string // control API base URL
}

func startModemsim(t *testing.T, work string) *modemsimProc {
	t.Helper()
	links := filepath.Join(work, "links")
	api := startModemsimTB(t, links, "-n", "2", "-latency", "15ms", "-report-delay", "20ms")
	return &modemsimProc{links: links, api: api}
}

// sentCounts returns how many complete messages each number received.
func (m *modemsimProc) sentCounts(t *testing.T) map[string]int {
	t.Helper()
	var modems []struct {
		IMEI string `json:"imei"`
	}
	getJSON(t, m.api+"/modems", &modems)
	counts := map[string]int{}
	for _, md := range modems {
		var sent []struct {
			To         string            `json:"to"`
			Duplicates []json.RawMessage `json:"duplicates"`
		}
		getJSON(t, m.api+"/modems/"+md.IMEI+"/sent", &sent)
		for _, s := range sent {
			counts[s.To] += 1 + len(s.Duplicates)
		}
	}
	return counts
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
