package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The simulators' control routes (/sim/: inject SMS, faults; /waemu/:
// inject WhatsApp customers) exist only with run --demo, not merely
// because modems.simulate or whatsapp.emulate is set; and metrics.token
// puts /metrics behind a bearer token. Same configuration file, once
// without and once with --demo.
func TestSimulatorRoutesOnlyInDemoAndMetricsToken(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	const token = "scrape-token-0123456789"
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:0"}
modems: {discover: false, simulate: 1}
sms_channels: [{name: sms, modems: [sim1]}]
whatsapp: {enabled: true, emulate: true}
metrics: {token: %s}
shutdown_timeout: 5s
`, filepath.Join(work, "data"), token)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	do := func(p *proc, method, path, auth, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, p.portal+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	inject := `{"from":"4917055566677","name":"Erika","type":"text","text":"Hallo"}`

	p := startDaemon(t, cfgPath)
	for _, r := range []struct{ method, path, body string }{
		{"GET", "sim/modems", ""},
		{"POST", "sim/modems/x/inject", `{"from":"+4917012345678","text":"hi"}`},
		{"POST", "waemu/_emu/inbound", inject},
		{"GET", "waemu/_emu/stats", ""},
	} {
		if code, body := do(p, r.method, r.path, "", r.body); code != http.StatusNotFound {
			t.Errorf("without --demo %s /%s: %d %.200s", r.method, r.path, code, body)
		}
	}
	if !strings.Contains(p.log(), "not mounted: they exist only with pbxgate run --demo") {
		t.Errorf("the log does not say why /sim/ is missing:\n%s", p.log())
	}
	if code, _ := do(p, "GET", "metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("metrics without the token: %d", code)
	}
	if code, _ := do(p, "GET", "metrics", "Bearer wrong-token-0123456789", ""); code != http.StatusUnauthorized {
		t.Errorf("metrics with a wrong token: %d", code)
	}
	if code, body := do(p, "GET", "metrics", "Bearer "+token, ""); code != http.StatusOK || !strings.Contains(body, "pbxgate_") {
		t.Errorf("metrics with the token: %d", code)
	}
	if strings.Contains(p.log(), token) {
		t.Error("the metrics token is in the log")
	}
	p.stop(t)

	p = startDaemon(t, cfgPath, "--demo")
	if code, body := do(p, "GET", "sim/modems", "", ""); code != http.StatusOK || !strings.Contains(body, "imei") {
		t.Errorf("--demo GET /sim/modems: %d %.200s", code, body)
	}
	if code, body := do(p, "POST", "waemu/_emu/inbound", "", inject); code != http.StatusOK {
		t.Errorf("--demo POST /waemu/_emu/inbound: %d %.200s", code, body)
	}
	p.stop(t)
}
