package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/firmware/bundle"
)

// buildGate builds testdata/gate as one "release" of pbxgate.
func buildGate(t *testing.T, dir, version string, schema int, healthy bool) string {
	t.Helper()
	out := filepath.Join(dir, "gate-"+version)
	h := "yes"
	if !healthy {
		h = "no"
	}
	cmd := exec.Command("go", "build", "-o", out,
		"-ldflags", fmt.Sprintf("-X main.version=%s -X main.schema=%d -X main.healthy=%s", version, schema, h), "./testdata/gate")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building gate %s: %v\n%s", version, err, b)
	}
	return out
}

// procService runs the binary the current symlink points at (or the
// "packaged" one before the first update) as a child process, the way
// systemd runs ExecStart.
type procService struct {
	t        *testing.T
	root     string
	packaged string
	args     []string
	cmd      *exec.Cmd
	exited   chan struct{}
	starts   int
}

func (p *procService) Start(ctx context.Context) error {
	bin := filepath.Join(p.root, "current", BinaryName)
	if _, err := os.Stat(bin); err != nil {
		bin = p.packaged
	}
	p.cmd = exec.Command(bin, p.args...)
	var out bytes.Buffer
	p.cmd.Stdout, p.cmd.Stderr = &out, &out
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.starts++
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		p.t.Logf("%s exited: %s %s", bin, cmd.ProcessState, bytes.TrimSpace(out.Bytes()))
		close(done)
	}(p.cmd, p.exited)
	return nil
}

func (p *procService) Exited() <-chan struct{} { return p.exited }

func (p *procService) Stop(ctx context.Context) error {
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
	return nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type health struct {
	Version string   `json:"version"`
	Starts  []string `json:"starts"`
}

func getHealth(t *testing.T, url string) health {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func makeBundle(t *testing.T, dir string, priv ed25519.PrivateKey, bin, version, arch string) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("pbxgate-%s-%s.pbxup", version, arch))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := bundle.Create(f, bundle.Manifest{Version: version, Architecture: arch}, priv, []bundle.Source{{Name: BinaryName, Path: bin, Mode: 0o755}}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestApplySwitchesAndRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three binaries")
	}
	dir := t.TempDir()
	v1 := buildGate(t, dir, "v1.0.0", 1, true)
	v11 := buildGate(t, dir, "v1.1.0", 2, true)
	v12 := buildGate(t, dir, "v1.2.0", 3, false)
	pub, err := bundle.GenerateKey(filepath.Join(dir, "release.key"), filepath.Join(dir, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := bundle.LoadPrivateKey(filepath.Join(dir, "release.key"))
	if err != nil {
		t.Fatal(err)
	}
	arch := bundle.Arch()
	otherArch := "armhf"
	if arch == otherArch {
		otherArch = "amd64"
	}

	root, data := filepath.Join(dir, "system"), filepath.Join(dir, "data")
	addr := freeAddr(t)
	url := "http://" + addr + "/healthz"
	svc := &procService{t: t, root: root, packaged: v1, args: []string{"--data", data, "--listen", addr}}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	prepared := 0
	opts := Options{
		Root: root, DataDir: data, BackupDir: filepath.Join(dir, "backups"), Service: svc,
		PrepareService: func(context.Context) error { prepared++; return nil },
		HealthURL:      url, HealthTimeout: 15 * time.Second, PollInterval: 20 * time.Millisecond,
		Policy:        bundle.Policy{Keys: []ed25519.PublicKey{pub}, Arch: arch},
		RunningBinary: v1, RunningVersion: "v1.0.0",
	}
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := opts.waitHealthyDefaults(ctx); err != nil {
		t.Fatal(err)
	}

	// Refused bundles change nothing: same process, no slot, no backup.
	pid := svc.cmd.Process.Pid
	refused := []struct {
		path string
		want error
	}{
		{makeBundle(t, dir, priv, v11, "v1.1.0", otherArch), bundle.ErrWrongArch},
		{makeBundle(t, dir, priv, v11, "v0.9.0", arch), bundle.ErrNotNewer},
		{makeBundle(t, dir, priv, v11, "v1.0.0", arch), bundle.ErrNotNewer},
	}
	tampered := makeBundle(t, dir, priv, v11, "v1.0.1", arch)
	b, _ := os.ReadFile(tampered)
	b[len(b)-2048] ^= 0xff // inside the payload
	os.WriteFile(tampered, b, 0o644)
	refused = append(refused, struct {
		path string
		want error
	}{tampered, bundle.ErrPayloadMismatch})
	truncated := makeBundle(t, dir, priv, v11, "v1.0.2", arch)
	b, _ = os.ReadFile(truncated)
	os.WriteFile(truncated, b[:len(b)/2], 0o644)
	refused = append(refused, struct {
		path string
		want error
	}{truncated, bundle.ErrTruncated})
	for _, r := range refused {
		if _, err := Apply(ctx, opts, r.path); !errors.Is(err, r.want) {
			t.Fatalf("%s: got %v, want %v", filepath.Base(r.path), err, r.want)
		}
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if e.Name() != lockFile {
				t.Fatalf("refused bundle left %s in %s", e.Name(), root)
			}
		}
		if svc.cmd == nil || svc.cmd.Process.Pid != pid || svc.starts != 1 {
			t.Fatal("refused bundle restarted the service")
		}
	}
	if _, err := os.Stat(opts.BackupDir); !os.IsNotExist(err) {
		t.Fatalf("refused bundle made a backup: %v", err)
	}

	// A healthy new version: switched, store migrated and kept.
	res, err := Apply(ctx, opts, makeBundle(t, dir, priv, v11, "v1.1.0", arch))
	if err != nil {
		t.Fatal(err)
	}
	if res.Slot != "b" || res.From != "v1.0.0" || res.To != "v1.1.0" || res.Backup == "" || prepared != 1 {
		t.Fatalf("result %+v, prepared %d", res, prepared)
	}
	if h := getHealth(t, url); h.Version != "v1.1.0" || !slices.Equal(h.Starts, []string{"v1.0.0", "v1.1.0"}) {
		t.Fatalf("after update: %+v", h)
	}
	if slot, m, err := Current(root); err != nil || slot != "b" || m.Version != "v1.1.0" {
		t.Fatalf("current %s %+v %v", slot, m, err)
	}
	if a, _, _ := readSlot(root, "a"); a != "v1.0.0" {
		t.Fatalf("slot a holds %q, want the seeded v1.0.0", a)
	}

	// A version that migrates the store and then fails: rolled back to
	// v1.1.0 with the pre-update store (else v1.1.0 would refuse schema 3).
	res, err = Apply(ctx, opts, makeBundle(t, dir, priv, v12, "v1.2.0", arch))
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("broken update: %v", err)
	}
	t.Logf("broken update: %v", err)
	if res.Slot != "b" {
		t.Fatalf("after rollback slot %q", res.Slot)
	}
	if h := getHealth(t, url); h.Version != "v1.1.0" || !slices.Equal(h.Starts, []string{"v1.0.0", "v1.1.0", "v1.1.0"}) {
		t.Fatalf("after rollback: %+v", h)
	}
	if slot, m, _ := Current(root); slot != "b" || m.Version != "v1.1.0" {
		t.Fatalf("current after rollback %s %+v", slot, m)
	}
	failed, _ := filepath.Glob(data + ".failed-update-*")
	if len(failed) != 1 {
		t.Fatalf("failed version's store not kept aside: %v", failed)
	}
	// A forced downgrade is attempted, but v1.0.0 cannot read the schema
	// v1.1.0 migrated to: it is rolled back too.
	opts.Policy.Force = true
	if _, err := Apply(ctx, opts, makeBundle(t, dir, priv, v1, "v1.0.0", arch)); !errors.Is(err, ErrRolledBack) {
		t.Fatalf("forced downgrade across a schema change: %v", err)
	}
	if failed, _ := filepath.Glob(data + ".failed-update-*"); len(failed) != 2 {
		t.Fatalf("each rollback keeps its own failed store: %v", failed)
	}
	// A forced reinstall of the running version works.
	if res, err := Apply(ctx, opts, makeBundle(t, dir, priv, v11, "v1.1.0", arch)); err != nil || res.Slot != "a" {
		t.Fatalf("forced reinstall: %+v %v", res, err)
	}
	if h := getHealth(t, url); h.Version != "v1.1.0" || len(h.Starts) != 5 {
		t.Fatalf("after forced reinstall: %+v", h)
	}
}

func (o Options) waitHealthyDefaults(ctx context.Context) error {
	o.defaults()
	return o.waitHealthy(ctx)
}

func readSlot(root, slot string) (string, string, error) {
	b, err := os.ReadFile(filepath.Join(root, slot, manifestFile))
	if err != nil {
		return "", "", err
	}
	var m bundle.Manifest
	err = json.Unmarshal(b, &m)
	return m.Version, m.Architecture, err
}

func TestConcurrentUpdateRefused(t *testing.T) {
	root := t.TempDir()
	unlock, err := lock(filepath.Join(root, lockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Apply(context.Background(), Options{Root: root}, filepath.Join(root, "x"))
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v", err)
	}
}

// The image ships the drop-in pre-installed (its /etc is read-only), so it
// must be byte for byte what EnsureDropIn would write.
func TestImageDropInMatches(t *testing.T) {
	b, err := os.ReadFile("../image/customize.sh")
	if err != nil {
		t.Fatal(err)
	}
	want := DropIn("/var/lib/pbxgate-system", "/etc/pbxgate/pbxgate.yaml")
	start := bytes.Index(b, []byte("<<'UNIT'\n# Written by pbxgate update"))
	if start < 0 {
		t.Fatal("drop-in not found in customize.sh")
	}
	body := b[start+len("<<'UNIT'\n"):]
	body = body[:bytes.Index(body, []byte("UNIT\n"))]
	if string(body) != want {
		t.Fatalf("customize.sh drop-in differs from update.DropIn:\n%s\nwant:\n%s", body, want)
	}
}

func TestEnsureDropInUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pbxgate.service.d", "50-ab-slot.conf")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, []byte(DropIn("/var/lib/pbxgate-system", "/etc/pbxgate/pbxgate.yaml")), 0o644)
	// Identical: nothing written, no systemctl needed.
	changed, err := EnsureDropIn(context.Background(), path, "/var/lib/pbxgate-system", "/etc/pbxgate/pbxgate.yaml")
	if err != nil || changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
}
