// Package bundle is pbxgate's signed update format: a tar file whose first
// entry is a JSON manifest (version, architecture, minimum version, SHA-256
// and size of each payload), whose second entry is the manifest's Ed25519
// signature, followed by the payload files.
//
// Because the signature covers the manifest and the manifest covers every
// payload byte, a bundle is trusted as a whole: a changed manifest fails the
// signature, a changed or cut payload fails its hash, and an extra or missing
// file is refused. Nothing in a bundle is installed by this package; Extract
// only writes into a staging directory the caller throws away on error.
package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"
)

// Product is the only product name a pbxgate bundle may carry, so a bundle
// signed with the same key for another product is never installed.
const Product = "pbxgate"

// FormatVersion is the manifest format this package reads and writes.
const FormatVersion = 1

const (
	manifestName  = "manifest.json"
	signatureName = "manifest.sig"
	payloadDir    = "payload/"
	// sigContext is signed before the manifest so a signature made with the
	// release key for anything else can never pass as a bundle signature.
	sigContext = "pbxgate-bundle-v1\n"
	// maxManifest bounds what is read before the signature is checked.
	maxManifest = 1 << 20
)

// Reasons a bundle is refused; every error from Verify and Extract wraps one.
var (
	ErrMalformed       = errors.New("not a valid pbxgate update bundle")
	ErrTruncated       = errors.New("bundle is truncated (incomplete download or copy?)")
	ErrBadSignature    = errors.New("bundle signature does not verify with any trusted key (tampered, or signed with another key)")
	ErrPayloadMismatch = errors.New("bundle payload does not match its signed manifest (tampered or damaged)")
	ErrWrongArch       = errors.New("bundle is for another architecture")
	ErrNotNewer        = errors.New("bundle is not newer than the installed version (use --force to downgrade or reinstall)")
	ErrTooOld          = errors.New("installed version is older than the bundle's minimum version")
	ErrBadVersion      = errors.New("bad version")
	ErrNoKeys          = errors.New("no trusted update key configured")
)

// Manifest describes a bundle. It is what the release key signs.
type Manifest struct {
	Format       int    `json:"format"`
	Product      string `json:"product"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	// MinVersion is the oldest installed version this bundle may be applied
	// on (e.g. because its store migrations assume an earlier one ran).
	MinVersion string    `json:"min_version,omitempty"`
	Created    time.Time `json:"created"`
	Payloads   []Payload `json:"payloads"`
}

// Payload is one file of a bundle.
type Payload struct {
	Name   string      `json:"name"`
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256"`
	Mode   os.FileMode `json:"mode"`
}

var payloadNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Arch is the Debian name of this machine's architecture (amd64, arm64,
// armhf), the name manifests use.
func Arch() string { return DebianArch(runtime.GOARCH) }

// DebianArch maps a GOARCH to the Debian architecture name.
func DebianArch(goarch string) string {
	if goarch == "arm" {
		return "armhf"
	}
	return goarch
}

// Source is a file to put in a bundle.
type Source struct {
	Name string // payload name, a plain file name such as "pbxgate"
	Path string // where it is read from
	Mode os.FileMode
}

// Create writes a signed bundle to w. m's Payloads are filled in from srcs;
// Format, Product and (if zero) Created are set here.
func Create(w io.Writer, m Manifest, key ed25519.PrivateKey, srcs []Source) (Manifest, error) {
	m.Format, m.Product = FormatVersion, Product
	if m.Created.IsZero() {
		m.Created = time.Now().UTC().Truncate(time.Second)
	}
	if _, err := ParseVersion(m.Version); err != nil {
		return m, err
	}
	if m.MinVersion != "" {
		if _, err := ParseVersion(m.MinVersion); err != nil {
			return m, fmt.Errorf("min version: %w", err)
		}
	}
	if m.Architecture == "" {
		return m, fmt.Errorf("%w: manifest needs an architecture", ErrMalformed)
	}
	if len(srcs) == 0 {
		return m, fmt.Errorf("%w: a bundle needs at least one payload", ErrMalformed)
	}
	m.Payloads = nil
	seen := map[string]bool{}
	for _, s := range srcs {
		if !payloadNameRE.MatchString(s.Name) || seen[s.Name] {
			return m, fmt.Errorf("%w: payload name %q is not a unique plain file name", ErrMalformed, s.Name)
		}
		seen[s.Name] = true
		sum, size, err := hashFile(s.Path)
		if err != nil {
			return m, err
		}
		mode := s.Mode
		if mode == 0 {
			mode = 0o644
		}
		m.Payloads = append(m.Payloads, Payload{Name: s.Name, Size: size, SHA256: sum, Mode: mode.Perm()})
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	sig := ed25519.Sign(key, signed(mj))

	tw := tar.NewWriter(w)
	add := func(name string, mode os.FileMode, size int64, r io.Reader) error {
		hdr := &tar.Header{Name: name, Mode: int64(mode.Perm()), Size: size, ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err == nil && n != size {
			err = fmt.Errorf("%s changed while it was bundled", name)
		}
		return err
	}
	if err := add(manifestName, 0o644, int64(len(mj)), bytes.NewReader(mj)); err != nil {
		return m, err
	}
	if err := add(signatureName, 0o644, int64(len(sig)), bytes.NewReader(sig)); err != nil {
		return m, err
	}
	for i, s := range srcs {
		f, err := os.Open(s.Path)
		if err != nil {
			return m, err
		}
		err = add(payloadDir+s.Name, m.Payloads[i].Mode, m.Payloads[i].Size, f)
		f.Close()
		if err != nil {
			return m, err
		}
	}
	return m, tw.Close()
}

func signed(manifest []byte) []byte { return append([]byte(sigContext), manifest...) }

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Policy is what a bundle must satisfy to be installed here.
type Policy struct {
	Keys []ed25519.PublicKey // trusted release keys; at least one
	Arch string              // this machine's architecture (Arch())
	// Installed is the running version; empty skips the version checks
	// (release-side verification).
	Installed string
	// Force allows a downgrade or reinstall and ignores MinVersion.
	Force bool
}

// Verify reads a whole bundle and checks its signature, the policy and
// every payload hash. It writes nothing.
func Verify(r io.Reader, p Policy) (Manifest, error) {
	return read(r, p, func(Payload) (io.Writer, func() error, error) { return io.Discard, nil, nil })
}

// Extract verifies a bundle like Verify and writes its payloads into dir
// (which must exist). On error dir may hold partial files: use a staging
// directory and remove it.
func Extract(r io.Reader, p Policy, dir string) (Manifest, error) {
	return read(r, p, func(pl Payload) (io.Writer, func() error, error) {
		f, err := os.OpenFile(filepath.Join(dir, pl.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, pl.Mode.Perm())
		if err != nil {
			return nil, nil, err
		}
		return f, func() error {
			err := f.Sync()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		}, nil
	})
}

type sinkFunc func(Payload) (w io.Writer, done func() error, err error)

func read(r io.Reader, p Policy, sink sinkFunc) (Manifest, error) {
	var m Manifest
	if len(p.Keys) == 0 {
		return m, ErrNoKeys
	}
	// A bundle's first bytes are its manifest's name: anything else (an
	// HTML error page, a zip) is not a bundle, however short; only a
	// file that starts right can be a truncated one.
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(manifestName))
	if len(head) > 0 && !bytes.HasPrefix([]byte(manifestName), head) {
		return m, fmt.Errorf("%w (it does not start with %s)", ErrMalformed, manifestName)
	}
	tr := tar.NewReader(br)
	mj, err := readSmall(tr, manifestName)
	if err != nil {
		return m, err
	}
	sig, err := readSmall(tr, signatureName)
	if err != nil {
		return m, err
	}
	ok := false
	for _, k := range p.Keys {
		if len(sig) == ed25519.SignatureSize && ed25519.Verify(k, signed(mj), sig) {
			ok = true
			break
		}
	}
	if !ok {
		return m, ErrBadSignature
	}
	// Only signed bytes are parsed from here on.
	if err := json.Unmarshal(mj, &m); err != nil {
		return m, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if err := checkManifest(m, p); err != nil {
		return m, err
	}
	want := map[string]Payload{}
	for _, pl := range m.Payloads {
		want[pl.Name] = pl
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, tarErr(err)
		}
		name, isPayload := cutPrefix(hdr.Name, payloadDir)
		pl, known := want[name]
		if !isPayload || !known || hdr.Typeflag != tar.TypeReg {
			return m, fmt.Errorf("%w: unexpected entry %q", ErrPayloadMismatch, hdr.Name)
		}
		delete(want, name)
		if hdr.Size != pl.Size {
			return m, fmt.Errorf("%w: %s is %d bytes, manifest says %d", ErrPayloadMismatch, name, hdr.Size, pl.Size)
		}
		w, done, err := sink(pl)
		if err != nil {
			return m, err
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(w, h), tr)
		if done != nil {
			if derr := done(); err == nil {
				err = derr
			}
		}
		if err != nil {
			return m, tarErr(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != pl.SHA256 {
			return m, fmt.Errorf("%w: %s has SHA-256 %s, manifest says %s", ErrPayloadMismatch, name, got, pl.SHA256)
		}
	}
	for name := range want {
		return m, fmt.Errorf("%w: payload %s is missing", ErrTruncated, name)
	}
	return m, nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

func tarErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, tar.ErrInsecurePath) {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return err
}

// readSmall reads the next entry, which must be name, fully into memory.
func readSmall(tr *tar.Reader, name string) ([]byte, error) {
	hdr, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s missing", ErrTruncated, name)
	}
	if err != nil {
		// A header cut short is a truncated download, not a foreign file.
		if te := tarErr(err); errors.Is(te, ErrTruncated) {
			return nil, fmt.Errorf("reading %s: %w", name, te)
		}
		return nil, fmt.Errorf("%w (reading %s: %v)", ErrMalformed, name, tarErr(err))
	}
	if hdr.Name != name || hdr.Typeflag != tar.TypeReg || hdr.Size > maxManifest {
		return nil, fmt.Errorf("%w: expected %s, found %q", ErrMalformed, name, hdr.Name)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, tarErr(err)
	}
	return b, nil
}

func checkManifest(m Manifest, p Policy) error {
	if m.Format != FormatVersion || m.Product != Product {
		return fmt.Errorf("%w: format %d product %q (want format %d, product %q)", ErrMalformed, m.Format, m.Product, FormatVersion, Product)
	}
	if len(m.Payloads) == 0 {
		return fmt.Errorf("%w: no payloads", ErrMalformed)
	}
	seen := map[string]bool{}
	for _, pl := range m.Payloads {
		if !payloadNameRE.MatchString(pl.Name) || seen[pl.Name] || pl.Size < 0 || len(pl.SHA256) != 64 {
			return fmt.Errorf("%w: bad payload entry %q", ErrMalformed, pl.Name)
		}
		seen[pl.Name] = true
	}
	if p.Arch != "" && m.Architecture != p.Arch {
		return fmt.Errorf("%w: bundle is %s, this machine is %s", ErrWrongArch, m.Architecture, p.Arch)
	}
	v, err := ParseVersion(m.Version)
	if err != nil {
		return fmt.Errorf("bundle version: %w", err)
	}
	if p.Installed == "" || p.Force {
		return nil
	}
	cur, err := ParseVersion(p.Installed)
	if err != nil {
		return fmt.Errorf("installed version %q cannot be compared (a development build?): %w; use --force", p.Installed, err)
	}
	if v.Compare(cur) <= 0 {
		return fmt.Errorf("%w: bundle %s, installed %s", ErrNotNewer, m.Version, p.Installed)
	}
	if m.MinVersion != "" {
		min, err := ParseVersion(m.MinVersion)
		if err != nil {
			return fmt.Errorf("bundle min version: %w", err)
		}
		if cur.Compare(min) < 0 {
			return fmt.Errorf("%w: installed %s, bundle %s needs at least %s: install %s first", ErrTooOld, p.Installed, m.Version, m.MinVersion, m.MinVersion)
		}
	}
	return nil
}
