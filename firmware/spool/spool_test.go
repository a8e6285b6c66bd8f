package spool

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/firmware/bundle"
)

func makeBundle(t *testing.T, key ed25519.PrivateKey, version, arch string) []byte {
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

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestStageVerifiesBeforeHandingOver(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	ctx := context.Background()
	policy := bundle.Policy{Keys: []ed25519.PublicKey{pub}, Arch: "arm64", Installed: "1.2.0"}
	good := makeBundle(t, priv, "1.3.0", "arm64")

	tampered := bytes.Clone(good)
	tampered[len(tampered)/2] ^= 0xff
	bad := []struct {
		name string
		data []byte
		max  int64
		want error
	}{
		{"other key", makeBundle(t, other, "1.3.0", "arm64"), 1 << 20, bundle.ErrBadSignature},
		{"wrong architecture", makeBundle(t, priv, "1.3.0", "amd64"), 1 << 20, bundle.ErrWrongArch},
		{"older version", makeBundle(t, priv, "1.1.0", "arm64"), 1 << 20, bundle.ErrNotNewer},
		{"truncated", good[:len(good)/3], 1 << 20, bundle.ErrTruncated},
		{"not a bundle", bytes.Repeat([]byte("PK\x03\x04 a zip file "), 200), 1 << 20, bundle.ErrMalformed},
		{"too large", good, int64(len(good)) - 1, ErrTooLarge},
	}
	for _, c := range bad {
		_, err := Stage(ctx, dir, bytes.NewReader(c.data), c.max, policy)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if n := names(t, dir); len(n) != 0 {
			t.Fatalf("%s left %v in the spool", c.name, n)
		}
	}
	if _, err := Stage(ctx, dir, bytes.NewReader(tampered), 1<<20, policy); err == nil {
		t.Fatal("tampered bundle accepted")
	}
	if n := names(t, dir); len(n) != 0 {
		t.Fatalf("tampered bundle left %v", n)
	}

	m, err := Stage(ctx, dir, bytes.NewReader(good), 1<<20, policy)
	if err != nil || m.Version != "1.3.0" {
		t.Fatalf("good bundle: %+v %v", m, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, Pending))
	if err != nil || !bytes.Equal(got, good) {
		t.Fatalf("pending bundle differs from the upload (%v)", err)
	}
	st, err := Status(dir)
	if err != nil || !st.Pending || st.Last != nil {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := Stage(ctx, dir, bytes.NewReader(good), 1<<20, policy); !errors.Is(err, ErrBusy) {
		t.Fatalf("second upload while one waits: %v, want ErrBusy", err)
	}

	// The update service picks it up, applies it and reports.
	if err := os.Rename(filepath.Join(dir, Pending), filepath.Join(dir, Processing)); err != nil {
		t.Fatal(err)
	}
	if st, _ := Status(dir); st.Pending || !st.Processing {
		t.Fatalf("while applying: %+v", st)
	}
	os.Remove(filepath.Join(dir, Processing))
	want := Result{Time: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), RolledBack: true, From: "1.2.0", To: "1.3.0", Error: "update rolled back: /healthz did not answer"}
	if err := WriteResult(dir, want); err != nil {
		t.Fatal(err)
	}
	st, err = Status(dir)
	if err != nil || st.Pending || st.Processing || st.Last == nil || *st.Last != want {
		t.Fatalf("after the run: %+v %v", st, err)
	}
}

func TestUnavailableSpool(t *testing.T) {
	for _, dir := range []string{"", filepath.Join(t.TempDir(), "missing")} {
		if _, err := Status(dir); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Status(%q): %v", dir, err)
		}
		_, err := Stage(context.Background(), dir, strings.NewReader("x"), 10, bundle.Policy{})
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("Stage(%q): %v", dir, err)
		}
	}
}
