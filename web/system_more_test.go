package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/firmware/spool"
	"github.com/pbxgate/pbxgate/gateway/logbuf"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// upload posts a streamed multipart form: fields in order, then the file.
func (c *client) uploadFile(path, field, name string, data []byte, fields ...string) resp {
	c.env.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	fw, _ := w.CreateFormFile(field, name)
	fw.Write(data)
	w.Close()
	return c.do("POST", path, &buf, map[string]string{"Content-Type": w.FormDataContentType()})
}

func operatorClient(t *testing.T, env *testEnv) *client {
	t.Helper()
	if err := env.users.Add(context.Background(), "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	if r := op.login("olga", "operator password"); r.code != http.StatusSeeOther {
		t.Fatalf("operator login: %d", r.code)
	}
	return op
}

func TestLogsPage(t *testing.T) {
	t.Parallel()
	ring := logbuf.New(100)
	log := slog.New(ring.Handler(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})))
	env := newEnv(t, func(d *Deps) { d.Logs, d.Logger = ring, log })
	c := env.client()
	c.setup("admin password")
	log.Info("modem online", "modem", "ec25-1", "operator", "Telekom.de")
	log.Warn("modem signal weak", "modem", "ec25-2", "rssi", -109)
	log.Error("SIP registration failed", "registrar", "pbx.lan:5060", "err", "timeout") // netscope: a log line

	r := c.get("/system/logs")
	mustContain(t, r.body, "modem online", "operator=Telekom.de", "SIP registration failed", "Warning")
	r = c.get("/system/logs?level=warn&q=ec25")
	mustContain(t, r.body, "modem signal weak")
	if strings.Contains(r.body, "modem online") || strings.Contains(r.body, "SIP registration") {
		t.Fatal("level or search filter ignored")
	}
	r = c.get("/system/logs.txt?level=info")
	if r.code != http.StatusOK || !strings.Contains(r.body, "WARN  modem signal weak modem=ec25-2 rssi=-109") {
		t.Fatalf("download: %d\n%s", r.code, r.body)
	}
	if i, j := strings.Index(r.body, "modem online"), strings.Index(r.body, "SIP registration"); i < 0 || j < i {
		t.Fatal("download is not oldest first")
	}
	c.get("/lang/de")
	mustContain(t, c.get("/system/logs?level=error").body, "Protokoll", "Fehler", "SIP registration failed")

	tok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	auth := map[string]string{"Authorization": "Bearer " + tok}
	r = c.do("GET", "/api/v1/logs?level=error", nil, auth)
	mustContain(t, r.body, `"msg":"SIP registration failed"`, `"attrs":"registrar=pbx.lan:5060 err=timeout"`) // netscope: a log line
	if strings.Contains(r.body, "modem online") {
		t.Fatal("API level filter ignored")
	}
	if r = c.do("GET", "/api/v1/logs?level=loud", nil, auth); r.code != http.StatusBadRequest || !strings.Contains(r.body, `"field":"level"`) {
		t.Fatalf("bad level: %d %s", r.code, r.body)
	}

	op := operatorClient(t, env)
	if r := op.get("/system/logs"); r.code != http.StatusForbidden {
		t.Fatalf("operator reads logs: %d", r.code)
	}
}

func signedBundle(t *testing.T, key ed25519.PrivateKey, version, arch string) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pbxgate")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := bundle.Create(&buf, bundle.Manifest{Version: version, Architecture: arch}, key,
		[]bundle.Source{{Name: "pbxgate", Path: bin, Mode: 0o755}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFirmwareUpdateUpload(t *testing.T) {
	t.Parallel()
	keyDir, spoolDir := t.TempDir(), t.TempDir()
	if _, err := bundle.GenerateKey(filepath.Join(keyDir, "release.key"), filepath.Join(keyDir, "release.pub")); err != nil {
		t.Fatal(err)
	}
	priv, err := bundle.LoadPrivateKey(filepath.Join(keyDir, "release.key"))
	if err != nil {
		t.Fatal(err)
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	env := newEnv(t, func(d *Deps) {
		d.Updates = spool.Spool{Dir: spoolDir, Keys: filepath.Join(keyDir, "release.pub"), Installed: "1.2.3", Arch: bundle.Arch()}
	})
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/system")
	mustContain(t, c.body, `id="update-form"`, "Upload a signed update bundle")
	pending := filepath.Join(spoolDir, spool.Pending)

	// Refusals: shown next to the field, nothing reaches the spool.
	refusals := []struct {
		data []byte
		want string
	}{
		{signedBundle(t, stranger, "1.3.0", bundle.Arch()), "does not match a trusted release key"},
		{signedBundle(t, priv, "1.3.0", "riscv64"), "needs " + bundle.Arch()},
		{signedBundle(t, priv, "1.2.3", bundle.Arch()), "not newer than the installed version"},
		{signedBundle(t, priv, "1.3.0", bundle.Arch())[:900], "incomplete"},
		{bytes.Repeat([]byte("name;phone\n"), 200), "not a pbxgate update bundle"},
	}
	for _, rf := range refusals {
		r := c.uploadFile("/system/update?csrf_token="+url.QueryEscape(tok), "bundle", "x.pbxup", rf.data)
		if r.code != http.StatusUnprocessableEntity {
			t.Fatalf("%s: %d", rf.want, r.code)
		}
		mustContain(t, r.body, rf.want)
		if es, _ := os.ReadDir(spoolDir); len(es) != 0 {
			t.Fatalf("%s: spool holds %d files", rf.want, len(es))
		}
	}
	if r := c.uploadFile("/system/update", "bundle", "x.pbxup", signedBundle(t, priv, "1.3.0", bundle.Arch())); r.code != http.StatusForbidden {
		t.Fatalf("upload without CSRF token: %d", r.code)
	}
	op := operatorClient(t, env)
	opTok := op.csrf("/system")
	if strings.Contains(op.body, "update-form") {
		t.Fatal("operator sees the update form")
	}
	if r := op.uploadFile("/system/update?csrf_token="+url.QueryEscape(opTok), "bundle", "x.pbxup", signedBundle(t, priv, "1.3.0", bundle.Arch())); r.code != http.StatusForbidden {
		t.Fatalf("operator uploads an update: %d", r.code)
	}

	good := signedBundle(t, priv, "1.3.0", bundle.Arch())
	r := c.uploadFile("/system/update?csrf_token="+url.QueryEscape(tok), "bundle", "pbxgate-1.3.0.pbxup", good)
	if r.code != http.StatusOK {
		t.Fatalf("good bundle: %d\n%s", r.code, r.body)
	}
	mustContain(t, r.body, "Update bundle 1.3.0 verified and handed to the update service")
	if b, err := os.ReadFile(pending); err != nil || !bytes.Equal(b, good) {
		t.Fatalf("pending bundle: %v", err)
	}
	c.get("/lang/de")
	r = c.uploadFile("/system/update?csrf_token="+url.QueryEscape(tok), "bundle", "again.pbxup", good)
	mustContain(t, r.body, "Ein Update wartet bereits")
	mustContain(t, c.get("/system").body, "Ein hochgeladenes Update wartet auf den Update-Dienst.")

	// The update service ran and rolled back: the admin sees why.
	os.Remove(pending)
	if err := spool.WriteResult(spoolDir, spool.Result{Time: time.Now(), RolledBack: true, From: "1.2.3", To: "1.3.0",
		Error: "update rolled back: 1.3.0 did not answer /healthz within 1m30s"}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, c.get("/system").body, "Update auf 1.3.0 hat die Funktionsprüfung nicht bestanden", "did not answer /healthz")

	// The API twin.
	apiTok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	auth := map[string]string{"Authorization": "Bearer " + apiTok, "Content-Type": "application/octet-stream"}
	r = c.do("POST", "/api/v1/system/update", bytes.NewReader(signedBundle(t, priv, "1.3.0", "riscv64")), auth)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"code":"update_arch"`) {
		t.Fatalf("api wrong arch: %d %s", r.code, r.body)
	}
	r = c.do("POST", "/api/v1/system/update", bytes.NewReader(good), auth)
	if r.code != http.StatusAccepted || !strings.Contains(r.body, `"version":"1.3.0"`) {
		t.Fatalf("api upload: %d %s", r.code, r.body)
	}
	r = c.do("GET", "/api/v1/system/update", nil, auth)
	mustContain(t, r.body, `"available":true`, `"pending":true`, `"rolled_back":true`)
}

func TestFirmwareUpdateUnavailable(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(d *Deps) { d.Updates = spool.Spool{Dir: ""} })
	c := env.client()
	c.setup("admin password")
	mustContain(t, c.get("/system").body, `id="update-unavailable"`, "pbxgate update FILE")
	if strings.Contains(c.body, `id="update-form"`) {
		t.Fatal("upload form shown without a spool directory")
	}
}

// stagingRestorer stages into the portal's own data directory like the
// daemon does; restart records the request.
type stagingRestorer struct {
	dir string
}

func (r stagingRestorer) StageRestore(ctx context.Context, rd io.Reader) (string, error) {
	return "/var/lib/pbxgate-backups/before-restore.pbxbak", store.StageRestore(ctx, r.dir, rd, 1, nil)
}
func (r stagingRestorer) RestorePending() bool { return store.HasStagedRestore(r.dir) }

func TestRestoreUpload(t *testing.T) {
	t.Parallel()
	// A backup of another installation.
	other, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Migrate([]store.Migration{{Version: 1, Name: "init"}}, nil); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if _, err := other.Backup(&backup); err != nil {
		t.Fatal(err)
	}
	other.Close()

	var mu sync.Mutex
	var restarts []string
	env := newEnv(t, func(d *Deps) {
		d.Restore = stagingRestorer{dir: d.Store.Dir()}
		d.Restart = func(reason string) { mu.Lock(); restarts = append(restarts, reason); mu.Unlock() }
	})
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/system")
	mustContain(t, c.body, `id="restore-form"`)
	path := "/system/restore?csrf_token=" + url.QueryEscape(tok)

	r := c.uploadFile(path, "backup", "pbxgate.badger", backup.Bytes())
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("without confirmation: %d", r.code)
	}
	mustContain(t, r.body, "Confirm that the current data is to be replaced.")
	r = c.uploadFile(path, "backup", "kontakte.csv", []byte("name;phone\nAnna;0171 1234567\n"), "confirm", "yes")
	mustContain(t, r.body, "This file is not a usable pbxgate backup.")
	if store.HasStagedRestore(env.store.Dir()) || len(restarts) != 0 {
		t.Fatal("a refused file was staged or restarted the daemon")
	}

	r = c.uploadFile(path, "backup", "pbxgate.badger", backup.Bytes(), "confirm", "yes")
	if r.code != http.StatusOK {
		t.Fatalf("restore: %d\n%s", r.code, r.body)
	}
	mustContain(t, r.body, "pbxgate restarts now", "before-restore.pbxbak", `data-wait-ready="/healthz"`)
	mu.Lock()
	got := strings.Join(restarts, ",")
	mu.Unlock()
	if got != "restore" || !store.HasStagedRestore(env.store.Dir()) {
		t.Fatalf("restarts %q, staged %v", got, store.HasStagedRestore(env.store.Dir()))
	}
	mustContain(t, c.get("/system").body, `id="restore-pending"`)
	r = c.uploadFile(path, "backup", "pbxgate.badger", backup.Bytes(), "confirm", "yes")
	mustContain(t, r.body, "already waits for the restart")

	op := operatorClient(t, env)
	opTok := op.csrf("/system")
	if strings.Contains(op.body, "restore-form") {
		t.Fatal("operator sees the restore form")
	}
	if r := op.uploadFile("/system/restore?csrf_token="+url.QueryEscape(opTok), "backup", "b", backup.Bytes(), "confirm", "yes"); r.code != http.StatusForbidden {
		t.Fatalf("operator restores: %d", r.code)
	}
}
