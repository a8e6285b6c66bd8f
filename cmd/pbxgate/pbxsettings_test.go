package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitReadies waits until the daemon has logged ready n times (it restarts
// in place after a restore or saved PBX settings) and returns its portal.
func waitReadies(t *testing.T, p *proc, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got, portal := p.readyCount(); got >= n {
			return portal
		}
		select {
		case err := <-p.done:
			t.Fatalf("daemon exited instead of restarting: %v\n%s", err, p.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready a %d. time within 20 s:\n%s", n, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// PBX settings saved through the API take effect after the in-place
// restart; settings that cannot start (port taken) do not keep the
// gateway down: the configuration file's apply and the log says why.
func TestPBXSettingsFromPortalApplyAfterRestart(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	addr := freePort(t, "tcp")
	cfg := fmt.Sprintf("data_dir: %s\nlog:\n  format: json\nhttp:\n  listen: %s\nmodems:\n  discover: false\nshutdown_timeout: 5s\n", dataDir, addr)
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath)
	completeSetup(t, p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", dataDir)
	if code != 0 {
		t.Fatal(stderr)
	}
	token := strings.TrimSpace(out)
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	readyz := func() string {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if strings.Contains(readyz(), `"sip"`) {
		t.Fatal("SIP runs before it was configured")
	}
	peer := fmt.Sprintf(`{"enabled":true,"mode":"peer","transport":"udp","listen":%q,"peer_address":"127.0.0.1:5999","allow_from":["127.0.0.1"],"max_body_bytes":1000,"idle_timeout":"24h"}`, freePort(t, "udp"))
	if code, body := call("PUT", "/api/v1/pbx/settings", strings.Replace(peer, `"mode":"peer"`, `"mode":"trunk"`, 1)); code != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"sip.mode"`) {
		t.Fatalf("bad mode: %d %s", code, body)
	}
	if code, body := call("PUT", "/api/v1/pbx/settings", peer); code != http.StatusAccepted {
		t.Fatalf("save: %d %s", code, body)
	}
	if portal := waitReadies(t, p, 2); portal != "http://"+addr+"/" {
		t.Fatalf("portal moved to %s", portal)
	}
	if rz := readyz(); !strings.Contains(rz, `"sip"`) {
		t.Fatalf("no SIP after saving the PBX settings: %s", rz)
	}
	if code, body := call("GET", "/api/v1/pbx/settings", ""); code != http.StatusOK || !strings.Contains(body, `"changed_in_portal":true`) || !strings.Contains(body, `"mode":"peer"`) {
		t.Fatalf("settings after restart: %d %s", code, body)
	}

	// A SIP port someone else holds: the daemon comes back without SIP.
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if code, body := call("PUT", "/api/v1/pbx/settings", fmt.Sprintf(`{"enabled":true,"mode":"peer","transport":"udp","listen":%q,"peer_address":"127.0.0.1:5999","allow_from":["127.0.0.1"],"max_body_bytes":1000,"idle_timeout":"24h"}`, taken.LocalAddr().String())); code != http.StatusAccepted {
		t.Fatalf("save busy port: %d %s", code, body)
	}
	waitReadies(t, p, 3)
	if !strings.Contains(p.log(), "do not start; using the configuration file's") {
		t.Fatalf("no fallback in the log:\n%s", p.log())
	}
	if rz := readyz(); strings.Contains(rz, `"sip"`) {
		t.Fatalf("SIP claimed with its port taken: %s", rz)
	}
	p.stop(t)
}
