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

// restartable is a daemon on a fixed portal address (a restart in place
// must come back there), set up, with an admin API token.
type restartable struct {
	t                    *testing.T
	p                    *proc
	addr, dataDir, token string
}

func startRestartable(t *testing.T) *restartable {
	t.Helper()
	work := t.TempDir()
	r := &restartable{t: t, addr: freePort(t, "tcp"), dataDir: filepath.Join(work, "data")}
	cfg := fmt.Sprintf("data_dir: %s\nlog:\n  format: json\nhttp:\n  listen: %s\nmodems:\n  discover: false\nshutdown_timeout: 5s\nupdates:\n  spool_dir: \"\"\n", r.dataDir, r.addr)
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.p = startDaemon(t, cfgPath)
	completeSetup(t, r.p)
	r.token = strings.TrimSpace(r.cli("", "user", "token", "admin"))
	return r
}

// cli runs a pbxgate command on the daemon's data directory.
func (r *restartable) cli(stdin string, args ...string) string {
	r.t.Helper()
	out, stderr, code := runPbxgate(r.t, stdin, append(args, "--data", r.dataDir)...)
	if code != 0 {
		r.t.Fatalf("pbxgate %s: %s", strings.Join(args, " "), stderr)
	}
	return out
}

// call sends an API request with the admin token.
func (r *restartable) call(method, path, contentType string, body []byte) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.addr+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// restarted waits for the n-th ready and checks the portal stayed put.
func (r *restartable) restarted(n int) {
	r.t.Helper()
	if portal := waitReadies(r.t, r.p, n); portal != "http://"+r.addr+"/" {
		r.t.Fatalf("portal moved to %s after the restart", portal)
	}
}

// PBX settings saved through the API take effect after the in-place
// restart; settings that cannot start (port taken) do not keep the
// gateway down: the configuration file's apply and the log says why.
func TestPBXSettingsFromPortalApplyAfterRestart(t *testing.T) {
	t.Parallel()
	r := startRestartable(t)
	p, addr := r.p, r.addr
	call := func(method, path, body string) (int, string) {
		t.Helper()
		return r.call(method, path, "application/json", []byte(body))
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
	r.restarted(2)
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
	r.restarted(3)
	if !strings.Contains(p.log(), "do not start; using the configuration file's") {
		t.Fatalf("no fallback in the log:\n%s", p.log())
	}
	if rz := readyz(); strings.Contains(rz, `"sip"`) {
		t.Fatalf("SIP claimed with its port taken: %s", rz)
	}
	p.stop(t)
}
