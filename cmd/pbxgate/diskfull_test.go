package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/diskguard/diskguardtest"
)

// TestDiskFillsDuringCampaignAndInbound runs the real daemon with its data
// directory on a real 160 MiB file system (tmpfs; skipped unless root) and
// fills that file system while a campaign sends and SMS arrive:
//
//  1. below store.min_free_space: /readyz says "degraded" with the free
//     space and the directory, the portal shows the banner, the campaign
//     hands nothing more to the modems, and inbound SMS stay on the SIM;
//  2. completely full (another program took the last byte): the daemon
//     keeps running (no SIGBUS from Badger's mmapped files), /readyz is
//     503 with "disk full, writes refused";
//  3. when space returns, everything resumes by itself: the campaign
//     completes with every recipient sent exactly once (checked on the
//     simulated modems' wire), and the held inbound SMS are stored and
//     deleted from the SIM.
func TestDiskFillsDuringCampaignAndInbound(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a file system; run without -short")
	}
	fs := diskguardtest.SmallFS(t, 160<<20)
	work := t.TempDir()
	sim := startModemsim(t, work)
	dataDir := filepath.Join(fs, "data")
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json, level: info}
http: {listen: "127.0.0.1:0"}
shutdown_timeout: 5s
store: {min_free_space: 48MiB, write_floor: 24MiB, disk_reserve: 16MiB, disk_check_interval: 200ms}
modems:
  discover: false
  command_timeout: 3s
  devices:
    - {name: a, device: %s, delivery_reports: true}
    - {name: b, device: %s, delivery_reports: true}
sms_channels:
  - {name: sms, modems: [a, b]}
`, dataDir, filepath.Join(sim.links, "modem0"), filepath.Join(sim.links, "modem1"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath)
	completeSetup(t, p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", dataDir)
	if code != 0 {
		t.Fatalf("user token: %s", stderr)
	}
	api := &apiClient{t: t, token: strings.TrimSpace(out), base: p.portal}
	const n = 600
	numbers := make([]string, n)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("+4915902%06d", i)
	}
	// Throttled, so the backlog stays in the campaign (where the gate
	// holds it) instead of the modem pool's queue.
	body, _ := json.Marshal(map[string]any{"name": "disk full", "channel": "sms", "numbers": numbers,
		"text": "Ihr Termin morgen um 10 Uhr", "send": "now", "rate_per_minute": 1000})
	var created createdCampaign
	api.do("POST", "/api/v1/campaigns", body, &created)
	sent := func() (int, string) {
		var c struct {
			Sent  int    `json:"sent"`
			State string `json:"state"`
		}
		api.do("GET", "/api/v1/campaigns/"+created.ID, nil, &c)
		return c.Sent, c.State
	}
	waitFor(t, 30*time.Second, "the campaign to send 50", func() bool { s, _ := sent(); return s >= 50 })

	// 1. Almost full.
	filler1 := diskguardtest.Fill(t, fs, 36<<20)
	waitFor(t, 10*time.Second, "/readyz to report the low disk", func() bool {
		_, state, detail := diskReadiness(t, p)
		return state == "degraded" && strings.HasPrefix(detail, "disk almost full: ") && strings.HasSuffix(detail, " MiB free on "+dataDir)
	})
	time.Sleep(2 * time.Second) // what the channels already took goes out
	before, _ := sent()
	time.Sleep(3 * time.Second)
	after, state := sent()
	if after != before || after >= n || state == "completed" {
		t.Fatalf("campaign went on with the disk almost full: sent %d → %d of %d (%s)", before, after, n, state)
	}
	web := newPortalClient(t, p.portal)
	web.login("admin", "a new admin password")
	if page := string(web.get("/")); !strings.Contains(page, `id="disk-banner"`) || !strings.Contains(page, "Speicherplatz fast voll") || !strings.Contains(page, dataDir) {
		t.Fatalf("no low-disk banner on the dashboard:\n%s", page)
	}
	var modems []struct {
		IMEI string `json:"imei"`
	}
	getJSON(t, sim.api+"/modems", &modems)
	imei := modems[0].IMEI
	for i := range 3 {
		body, _ := json.Marshal(map[string]string{"from": fmt.Sprintf("+4917100000%02d", i), "text": fmt.Sprintf("Antwort %d", i)})
		resp, err := http.Post(sim.api+"/modems/"+imei+"/inject", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitFor(t, 10*time.Second, "3 SMS in the SIM's storage", func() bool { return simStored(t, sim, imei) == 3 })
	time.Sleep(3 * time.Second)
	if got := simStored(t, sim, imei); got != 3 {
		t.Fatalf("%d SMS left on the SIM while the disk is almost full; want 3 (not read, not deleted)", got)
	}

	// 2. Full to the last byte.
	filler2 := diskguardtest.Fill(t, fs, 0)
	waitFor(t, 10*time.Second, "/readyz to report the full disk", func() bool {
		code, state, detail := diskReadiness(t, p)
		return code == http.StatusServiceUnavailable && state == "down" && strings.HasPrefix(detail, "disk full, writes refused: ")
	})
	time.Sleep(3 * time.Second)
	select {
	case err := <-p.done:
		t.Fatalf("daemon died on a full disk: %v\n%s", err, p.log())
	default:
	}

	// 3. Space returns.
	os.Remove(filler2)
	os.Remove(filler1)
	waitFor(t, 10*time.Second, "/readyz to report the disk ok", func() bool {
		code, state, _ := diskReadiness(t, p)
		return code == http.StatusOK && state == "ok"
	})
	waitFor(t, 2*time.Minute, "the campaign to complete", func() bool { _, st := sent(); return st == "completed" })
	waitFor(t, 30*time.Second, "the held SMS to leave the SIM", func() bool { return simStored(t, sim, imei) == 0 })
	var in struct {
		Items []struct {
			Text string `json:"text"`
		} `json:"items"`
	}
	waitFor(t, 10*time.Second, "3 inbound SMS in the message log", func() bool {
		api.do("GET", "/api/v1/messages?dir=in&limit=50", nil, &in)
		return len(in.Items) == 3
	})
	wire := sim.sentCounts(t)
	for _, num := range numbers {
		if wire[num] != 1 {
			t.Errorf("%s went out %d times", num, wire[num])
		}
	}
	if strings.Contains(p.log(), "SIGBUS") || strings.Contains(p.log(), "panic") {
		t.Fatalf("daemon log:\n%s", p.log())
	}
	p.stop(t)
}

// diskReadiness returns /readyz's status code and its disk component.
func diskReadiness(t *testing.T, p *proc) (code int, state, detail string) {
	t.Helper()
	resp, err := http.Get(p.portal + "readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyz
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	state, detail, _ = r.component("disk")
	return resp.StatusCode, state, detail
}

// simStored is how many received SMS the simulated SIM holds.
func simStored(t *testing.T, sim *modemsimProc, imei string) int {
	t.Helper()
	var st struct {
		Storage map[string]struct {
			Used int `json:"used"`
		} `json:"storage"`
	}
	getJSON(t, sim.api+"/modems/"+imei, &st)
	n := 0
	for name, m := range st.Storage {
		// Delivery reports of the campaign's SMS that arrive during
		// the hold stay in "SR" (not read either); count what
		// customers sent.
		if name != "SR" {
			n += m.Used
		}
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
