package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

type fixture struct {
	dir     string
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	payload []byte
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	pub, err := GenerateKey(filepath.Join(dir, "release.key"), filepath.Join(dir, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(filepath.Join(dir, "release.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "release.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v", fi.Mode().Perm())
	}
	keys, err := LoadPublicKeys(filepath.Join(dir, "release.pub"))
	if err != nil || !keys[0].Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	payload := bytes.Repeat([]byte("pbxgate binary bytes "), 5000)
	if err := os.WriteFile(filepath.Join(dir, "pbxgate"), payload, 0o755); err != nil {
		t.Fatal(err)
	}
	return fixture{dir: dir, priv: priv, pub: pub, payload: payload}
}

func (f fixture) make(t *testing.T, m Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Create(&buf, m, f.priv, []Source{{Name: "pbxgate", Path: filepath.Join(f.dir, "pbxgate"), Mode: 0o755}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (f fixture) policy(installed string) Policy {
	return Policy{Keys: []ed25519.PublicKey{f.pub}, Arch: "arm64", Installed: installed}
}

func TestVerifyAndExtract(t *testing.T) {
	f := newFixture(t)
	b := f.make(t, Manifest{Version: "v1.2.0", Architecture: "arm64", MinVersion: "v1.0.0"})
	m, err := Verify(bytes.NewReader(b), f.policy("v1.1.3"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "v1.2.0" || len(m.Payloads) != 1 || m.Payloads[0].Size != int64(len(f.payload)) {
		t.Fatalf("manifest %+v", m)
	}
	out := t.TempDir()
	if _, err := Extract(bytes.NewReader(b), f.policy("v1.1.3"), out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "pbxgate"))
	if err != nil || !bytes.Equal(got, f.payload) {
		t.Fatalf("extracted payload differs (%v)", err)
	}
	if fi, _ := os.Stat(filepath.Join(out, "pbxgate")); fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	good := f.make(t, Manifest{Version: "v1.2.0", Architecture: "arm64", MinVersion: "v1.0.0"})
	manifestAt := bytes.Index(good, []byte(`"version": "v1.2.0"`))
	payloadAt := bytes.LastIndex(good, []byte("pbxgate binary bytes"))
	if manifestAt < 0 || payloadAt < 0 {
		t.Fatal("fixture layout unexpected")
	}
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x01
		return b
	}
	otherPub, _, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name      string
		bundle    []byte
		installed string
		mutate    func(*Policy)
		want      error
	}{
		{"tampered manifest", flip(manifestAt + len(`"version": "v1.`)), "v1.1.0", nil, ErrBadSignature},
		{"tampered payload", flip(payloadAt), "v1.1.0", nil, ErrPayloadMismatch},
		{"truncated in payload", good[:payloadAt], "v1.1.0", nil, ErrTruncated},
		{"truncated after manifest", good[:1536], "v1.1.0", nil, ErrTruncated},
		{"truncated in manifest", good[:600], "v1.1.0", nil, ErrTruncated},
		{"empty", nil, "v1.1.0", nil, ErrTruncated},
		{"not a tar", []byte("<html>404 not found</html>" + string(make([]byte, 1024))), "v1.1.0", nil, ErrMalformed},
		{"other key", good, "v1.1.0", func(p *Policy) { p.Keys = []ed25519.PublicKey{otherPub} }, ErrBadSignature},
		{"no keys", good, "v1.1.0", func(p *Policy) { p.Keys = nil }, ErrNoKeys},
		{"wrong architecture", good, "v1.1.0", func(p *Policy) { p.Arch = "armhf" }, ErrWrongArch},
		{"older", good, "v1.3.0", nil, ErrNotNewer},
		{"same", good, "v1.2.0", nil, ErrNotNewer},
		{"release over its rc is newer, rc over release is not", good, "v1.2.0-rc.1", nil, nil},
		{"below minimum", good, "v0.9.9", nil, ErrTooOld},
		{"unparsable installed", good, "abc1234", nil, ErrBadVersion},
		{"forced downgrade", good, "v1.3.0", func(p *Policy) { p.Force = true }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := f.policy(c.installed)
			if c.mutate != nil {
				c.mutate(&p)
			}
			_, err := Verify(bytes.NewReader(c.bundle), p)
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			// Extraction of a refused bundle must fail the same way.
			out := t.TempDir()
			if _, err := Extract(bytes.NewReader(c.bundle), p, out); !errors.Is(err, c.want) {
				t.Fatalf("extract: got %v, want %v", err, c.want)
			}
		})
	}
}

func TestExtraEntryRejected(t *testing.T) {
	f := newFixture(t)
	good := f.make(t, Manifest{Version: "v1.2.0", Architecture: "arm64"})
	// Copy the signed bundle entry by entry and append a file the manifest
	// does not list: the signature still verifies, the extra file must not
	// be accepted.
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(good)), tar.NewWriter(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "payload/evil", Mode: 0o755, Size: 1, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	if _, err := Verify(bytes.NewReader(out.Bytes()), f.policy("")); !errors.Is(err, ErrPayloadMismatch) {
		t.Fatalf("extra entry: %v", err)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	src := []Source{{Name: "pbxgate", Path: filepath.Join(f.dir, "pbxgate")}}
	if _, err := Create(&buf, Manifest{Version: "latest", Architecture: "arm64"}, f.priv, src); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("bad version: %v", err)
	}
	if _, err := Create(&buf, Manifest{Version: "v1.0.0", Architecture: "arm64"}, f.priv, []Source{{Name: "../etc/passwd", Path: src[0].Path}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("path traversal name: %v", err)
	}
	if _, err := GenerateKey(filepath.Join(f.dir, "release.key"), filepath.Join(f.dir, "x.pub")); err == nil {
		t.Fatal("GenerateKey overwrote an existing key")
	}
}

func TestVersionCompare(t *testing.T) {
	order := []string{"v0.9.0", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "1.0.1", "v1.10.0", "v2.0.0"}
	for i := range order {
		for j := range order {
			a, err := ParseVersion(order[i])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := ParseVersion(order[j])
			want := cmpInt(i, j)
			if got := a.Compare(b); got != want {
				t.Errorf("%s vs %s: %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	for _, bad := range []string{"", "1.2", "v1.2.x", "v01.2.3", "v1.2.3-", "dev"} {
		if _, err := ParseVersion(bad); !errors.Is(err, ErrBadVersion) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
