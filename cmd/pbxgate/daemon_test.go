package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests build the real binary and run it as a user would.

var pbxgateBin, modemsimBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pbxgate-bin-")
	if err != nil {
		panic(err)
	}
	pbxgateBin = filepath.Join(dir, "pbxgate")
	modemsimBin = filepath.Join(dir, "modemsim")
	// Built as `make build` builds what ships (the Makefile's TAGS):
	// the memory benchmarks measure the binary's resident pages.
	build := exec.Command("go", "build", "-trimpath", "-tags", "nomsgpack", "-o", dir, ".", "../modemsim")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build pbxgate and modemsim: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running pbxgate daemon.
type proc struct {
	cmd    *exec.Cmd
	stdout lockedBuffer
	mu     sync.Mutex
	stderr []string // log lines
	portal string   // http://127.0.0.1:port/
	done   chan error
	ready  chan struct{}
	// readies counts "pbxgate ready" lines: more than one after a
	// restart in place (portal restore).
	readies int
}

// readyCount returns how often the daemon logged ready, and its portal.
func (p *proc) readyCount() (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readies, p.portal
}

// lockedBuffer is a bytes.Buffer the daemon's output goroutine and the test
// may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeConfig(t *testing.T, dataDir string) string {
	t.Helper()
	cfg := fmt.Sprintf("data_dir: %s\nlog:\n  format: json\n  level: info\nhttp:\n  listen: 127.0.0.1:0\nmodems:\n  discover: false\nshutdown_timeout: 5s\n", dataDir)
	path := filepath.Join(t.TempDir(), "pbxgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// oneSIM is a running demo-mode daemon with one simulated SIM (sim1, channel sms),
// first-run setup done, and an admin's API client.
type oneSIM struct {
	p                *proc
	cfgPath, dataDir string
	api              *apiClient
}

// startOneSIM starts such a daemon; extra is appended to its configuration.
func startOneSIM(t *testing.T, extra string) oneSIM {
	t.Helper()
	work := t.TempDir()
	d := oneSIM{dataDir: filepath.Join(work, "data"), cfgPath: filepath.Join(work, "pbxgate.yaml")}
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:0"}
modems: {discover: false, simulate: 1}
sms_channels: [{name: sms, modems: [sim1]}]
`, d.dataDir) + extra
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.p = startDaemon(t, d.cfgPath, "--demo") // tests inject SMS through /sim/
	completeSetup(t, d.p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", d.dataDir)
	if code != 0 {
		t.Fatal(stderr)
	}
	d.api = &apiClient{t: t, base: d.p.portal, token: strings.TrimSpace(out)}
	return d
}

// startDaemon starts pbxgate and waits until it logs "pbxgate ready" (or
// exits). It fails the test if the daemon is not ready within 10 s. extra
// are more arguments of run ("--demo" mounts the simulators' controls).
func startDaemon(t *testing.T, cfgPath string, extra ...string) *proc {
	t.Helper()
	return startDaemonWith(t, nil, cfgPath, extra...)
}

// startDaemonWith is startDaemon with prefix run in front of the binary
// (e.g. "ip netns exec NS", which execs pbxgate in its own process).
func startDaemonWith(t *testing.T, prefix []string, cfgPath string, extra ...string) *proc {
	t.Helper()
	p, err := launchWith(prefix, cfgPath, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case <-p.readyCh():
		return p
	case err := <-p.done:
		t.Fatalf("daemon exited before ready: %v\nlog:\n%s", err, p.log())
	case <-time.After(10 * time.Second):
		t.Fatalf("daemon not ready within 10 s; log:\n%s", p.log())
	}
	return nil
}

func launch(cfgPath string, extra ...string) (*proc, error) {
	return launchWith(nil, cfgPath, extra...)
}

func launchWith(prefix []string, cfgPath string, extra ...string) (*proc, error) {
	p := &proc{done: make(chan error, 1)}
	args := append(append(append([]string{}, prefix...), pbxgateBin, "run", "-c", cfgPath), extra...)
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr = append(p.stderr, line)
			p.mu.Unlock()
			var rec struct {
				Msg    string `json:"msg"`
				Portal string `json:"portal"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "pbxgate ready" {
				p.mu.Lock()
				p.portal = rec.Portal
				p.readies++
				p.mu.Unlock()
				select {
				case <-ready: // ready again after a restart in place
				default:
					close(ready)
				}
			}
		}
		p.done <- p.cmd.Wait()
	}()
	p.ready = ready
	return p, nil
}

func (p *proc) readyCh() <-chan struct{} { return p.ready }

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v\nlog:\n%s", err, p.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("daemon did not stop within 15 s of SIGTERM; log:\n%s", p.log())
	}
}

func runPbxgate(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(pbxgateBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestDaemonServesHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startDaemon(t, writeConfig(t, dataDir))
	firstRunPassword(t, p)
	for path, want := range map[string]string{
		"healthz": `"status":"ok"`,
		"readyz":  `"ready":true`,
		"metrics": "pbxgate_store_size_bytes",
	} {
		resp, err := http.Get(p.portal + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(strings.ReplaceAll(string(body), " ", ""), want) {
			t.Errorf("GET /%s: %s %s; want 200 containing %s", path, resp.Status, body, want)
		}
	}
	p.stop(t)
	// A second start prints no new password: the admin exists.
	p2 := startDaemon(t, writeConfig(t, dataDir))
	if strings.Contains(p2.stdout.String(), "Password") {
		t.Errorf("second start printed a password again")
	}
	p2.stop(t)
}

func TestSecondDaemonOnSameDataDirFails(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "data"))
	first := startDaemon(t, cfg)
	defer first.stop(t)
	_, stderr, code := runPbxgate(t, "", "run", "-c", cfg)
	if code == 0 {
		t.Fatal("second daemon on the same data directory started")
	}
	if !strings.Contains(stderr, "in use by another pbxgate process") {
		t.Fatalf("second daemon's error is not clear:\n%s", stderr)
	}
}

// Acknowledged writes survive a SIGTERM that arrives while writes are in
// flight: every user the daemon confirmed is there after a restart.
func TestSIGTERMDuringWritesLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, dataDir)
	p := startDaemon(t, cfg)
	ctl := newControlClient(dataDir)

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	ctx := context.Background()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("op%d-%d", w, i)
				err := ctl.call(ctx, "POST", "/v1/users", userRequest{Name: name, Password: "correct horse battery", Role: "operator"}, nil)
				if err != nil {
					return // daemon is going away
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}()
	}
	// Let some writes land, then stop the daemon under load.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 8 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop(t)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before SIGTERM")
	}
	out, stderr, code := runPbxgate(t, "", "user", "list", "--data", dataDir)
	if code != 0 {
		t.Fatalf("user list: %s", stderr)
	}
	for _, name := range acked {
		if !strings.Contains(out, name+" ") {
			t.Errorf("acknowledged user %s lost after SIGTERM", name)
		}
	}
}

func TestOnlineBackupAndRestore(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, dataDir)
	p := startDaemon(t, cfg)
	if _, stderr, code := runPbxgate(t, "a long enough password\n", "user", "add", "carla", "--role", "operator", "--password-stdin", "--data", dataDir); code != 0 {
		t.Fatalf("user add via running daemon: %s", stderr)
	}
	backup := filepath.Join(t.TempDir(), "gw.pbxbak")
	if out, stderr, code := runPbxgate(t, "", "backup", "--data", dataDir, backup); code != 0 || !strings.Contains(out, "backup written") {
		t.Fatalf("online backup: %s %s", out, stderr)
	}
	p.stop(t)

	restored := filepath.Join(t.TempDir(), "restored")
	if _, stderr, code := runPbxgate(t, "", "restore", "--data", restored, backup); code != 0 {
		t.Fatalf("restore: %s", stderr)
	}
	if _, stderr, code := runPbxgate(t, "", "restore", "--data", restored, backup); code == 0 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("restore over existing data must be refused, got code %d: %s", code, stderr)
	}
	out, stderr, code := runPbxgate(t, "", "user", "list", "--data", restored)
	if code != 0 || !strings.Contains(out, "carla") || !strings.Contains(out, "admin") {
		t.Fatalf("restored users: %s %s", out, stderr)
	}
}

func TestConfigCheckNamesKeyAndLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("log:\n  level: loud\nhttp:\n  listen: 127.0.0.1:8080\n  tls: on\n"), 0o600)
	out, _, code := runPbxgate(t, "", "config", "check", "-c", path)
	if code != 1 {
		t.Fatalf("config check exit code %d, want 1", code)
	}
	for _, want := range []string{"2 problem(s)", "line 2: log.level", "line 5: http.tls: unknown key"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte("whatsapp:\n  token: abc-secret-123\n"), 0o600)
	out, _, code = runPbxgate(t, "", "config", "check", "-c", good, "--print")
	if code != 0 || !strings.Contains(out, "OK") || strings.Contains(out, "abc-secret-123") {
		t.Fatalf("config check of a good file: code %d\n%s", code, out)
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	out, _, code := runPbxgate(t, "", "version")
	if code != 0 || !strings.Contains(out, "platform:") || !strings.Contains(out, "go:") {
		t.Fatalf("version: %d %s", code, out)
	}
	for _, c := range commands() {
		out, stderr, code := runPbxgate(t, "", c.name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: pbxgate "+c.name) {
			t.Errorf("%s --help: code %d, stdout %q stderr %q", c.name, code, out, stderr)
		}
	}
}
