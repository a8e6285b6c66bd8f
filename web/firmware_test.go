package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/firmware/spool"
)

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
	env := newEnv(t, func(d *app.Deps) {
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
	env := newEnv(t, func(d *app.Deps) { d.Updates = spool.Spool{Dir: ""} })
	c := env.client()
	c.setup("admin password")
	mustContain(t, c.get("/system").body, `id="update-unavailable"`, "pbxgate update FILE")
	if strings.Contains(c.body, `id="update-form"`) {
		t.Fatal("upload form shown without a spool directory")
	}
}
