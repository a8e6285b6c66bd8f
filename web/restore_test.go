package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// stagingRestorer stages into the portal's own data directory like the
// daemon does; restart records the request.
type stagingRestorer struct {
	dir string
}

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
	env := newEnv(t, func(d *app.Deps) {
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

func (r stagingRestorer) StageRestore(ctx context.Context, rd io.Reader) (string, error) {
	return "/var/lib/pbxgate-backups/before-restore.pbxbak", store.StageRestore(ctx, r.dir, rd, 1, nil)
}

func (r stagingRestorer) RestorePending() bool { return store.HasStagedRestore(r.dir) }
