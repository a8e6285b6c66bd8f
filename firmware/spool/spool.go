// Package spool is the hand-over between the portal and the privileged
// update service: the daemon (unprivileged) verifies an uploaded bundle,
// writes it under a temporary name into the spool directory and renames
// it to Pending; pbxgate-update.path sees it and starts
// `pbxgate update --spool DIR`, which renames it to Processing, applies it
// and leaves ResultFile for the portal.
package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pbxgate/pbxgate/firmware/bundle"
)

// File names in the spool directory.
const (
	Pending    = "pending.pbxup"
	Processing = "processing.pbxup"
	ResultFile = "result.json"
)

var (
	// ErrUnavailable: no spool directory (no appliance update service).
	ErrUnavailable = errors.New("firmware updates from the portal are not available here")
	// ErrBusy: a bundle is waiting or being applied.
	ErrBusy = errors.New("an update is already waiting or being applied")
	// ErrTooLarge: the upload exceeds the size limit.
	ErrTooLarge = errors.New("update bundle is too large")
)

// Result is what the update service reports about its last run.
type Result struct {
	Time       time.Time `json:"time"`
	OK         bool      `json:"ok"`
	RolledBack bool      `json:"rolled_back,omitempty"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	Slot       string    `json:"slot,omitempty"`
	Backup     string    `json:"backup,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// WriteResult stores r atomically as dir/ResultFile, readable by the
// daemon (root writes it; the daemon's user shows it).
func WriteResult(dir string, r Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, ResultFile)
	if err := os.WriteFile(path+".tmp", append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// State is what the portal shows.
type State struct {
	Pending    bool    // uploaded, not yet picked up
	Processing bool    // being applied now
	Last       *Result // nil before the first update
}

// Status reads the spool directory.
func Status(dir string) (State, error) {
	if err := usable(dir); err != nil {
		return State{}, err
	}
	var st State
	st.Pending = exists(filepath.Join(dir, Pending))
	st.Processing = exists(filepath.Join(dir, Processing))
	b, err := os.ReadFile(filepath.Join(dir, ResultFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return st, err
	default:
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return st, fmt.Errorf("%s: %w", ResultFile, err)
		}
		st.Last = &r
	}
	return st, nil
}

func usable(dir string) error {
	if dir == "" {
		return fmt.Errorf("%w (updates.spool_dir is empty; use `pbxgate update FILE`)", ErrUnavailable)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("%w (no directory %s: install the pbxgate package's pbxgate-update.path, or use `pbxgate update FILE`)", ErrUnavailable, dir)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Stage copies a bundle from r (at most maxBytes) into dir, verifies it
// against p and, only if it passes, renames it to Pending. A bundle that
// fails leaves nothing behind; the error says why (bundle's sentinel
// errors, ErrTooLarge, ErrBusy).
func Stage(ctx context.Context, dir string, r io.Reader, maxBytes int64, p bundle.Policy) (bundle.Manifest, error) {
	if err := usable(dir); err != nil {
		return bundle.Manifest{}, err
	}
	if exists(filepath.Join(dir, Pending)) || exists(filepath.Join(dir, Processing)) {
		return bundle.Manifest{}, ErrBusy
	}
	f, err := os.CreateTemp(dir, ".upload-*.part")
	if err != nil {
		return bundle.Manifest{}, fmt.Errorf("spool: %w", err)
	}
	tmp := f.Name()
	keep := false
	defer func() {
		f.Close()
		if !keep {
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(ctxReader{ctx, r}, maxBytes+1))
	if err != nil {
		return bundle.Manifest{}, fmt.Errorf("spool: receiving the bundle: %w", err)
	}
	if n > maxBytes {
		return bundle.Manifest{}, fmt.Errorf("%w (more than %d MB)", ErrTooLarge, maxBytes>>20)
	}
	if err := f.Sync(); err != nil {
		return bundle.Manifest{}, fmt.Errorf("spool: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return bundle.Manifest{}, err
	}
	m, err := bundle.Verify(f, p)
	if err != nil {
		return m, err
	}
	if err := f.Close(); err != nil {
		return m, err
	}
	// The update service runs as root and reads it; nobody else needs to.
	if err := os.Rename(tmp, filepath.Join(dir, Pending)); err != nil {
		return m, fmt.Errorf("spool: %w", err)
	}
	keep = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return m, nil
}

// ctxReader stops a long upload when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// MaxBundleSize bounds an uploaded bundle (a pbxgate binary is ~30 MB).
const MaxBundleSize = 256 << 20

// Spool is the portal's view of one spool directory.
type Spool struct {
	Dir       string // updates.spool_dir
	Keys      string // trusted public keys (PEM file)
	Installed string // the running version
	Arch      string // this machine's (bundle.Arch())
}

// Status reads the spool directory.
func (s Spool) Status() (State, error) { return Status(s.Dir) }

// Stage verifies an uploaded bundle against the trusted keys, this
// machine's architecture and the running version, and hands it over.
func (s Spool) Stage(ctx context.Context, r io.Reader) (bundle.Manifest, error) {
	if err := usable(s.Dir); err != nil {
		return bundle.Manifest{}, err
	}
	keys, err := bundle.LoadPublicKeys(s.Keys)
	if err != nil {
		return bundle.Manifest{}, fmt.Errorf("%w (%v)", bundle.ErrNoKeys, err)
	}
	return Stage(ctx, s.Dir, r, MaxBundleSize, bundle.Policy{Keys: keys, Arch: s.Arch, Installed: s.Installed})
}
