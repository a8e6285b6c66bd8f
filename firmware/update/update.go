// Package update installs a verified pbxgate bundle side by side with the
// running version and switches to it, or switches back.
//
// Layout under Root (on the appliance /var/lib/pbxgate-system, on the data
// partition so it survives a read-only root):
//
//	a/ b/      slots: the pbxgate binary and the manifest it came with
//	current -> a   symlink the service starts from (ExecStart=…/current/pbxgate)
//
// Apply verifies the bundle completely before it touches anything, unpacks it
// into the inactive slot, stops the service, backs the store up, switches the
// symlink atomically (rename), starts the service and waits for /healthz. If
// the new version is not healthy in time it stops it, switches back, puts the
// pre-update store back (the new version may have migrated it) and starts the
// old version again.
package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// BinaryName is the payload every bundle carries and the file the service runs.
const BinaryName = "pbxgate"

const (
	currentLink  = "current"
	manifestFile = "manifest.json"
	lockFile     = ".update.lock"
)

// Sentinel errors callers branch on.
var (
	// ErrRolledBack: the new version was installed but failed its health
	// check; the previous version runs again with the pre-update store.
	ErrRolledBack = errors.New("update rolled back")
	// ErrBusy: another update is running.
	ErrBusy = errors.New("another update is in progress")
	// ErrRollbackFailed: the rollback itself failed; the box needs a person.
	ErrRollbackFailed = errors.New("ROLLBACK FAILED: manual intervention needed")
)

// Service starts and stops the daemon (systemd in production, a child
// process in tests).
type Service interface {
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
}

// ExitWatcher may be implemented by a Service that can tell when the
// process it started died, so a crashing new version is rolled back at once
// instead of at the health timeout. (With systemd and Type=notify, a daemon
// that dies before READY=1 already fails systemctl start.)
type ExitWatcher interface {
	Exited() <-chan struct{}
}

// Options configure Apply.
type Options struct {
	Root      string // slots and the current symlink
	DataDir   string // the store, backed up before the switch; "" skips the backup
	BackupDir string // where the pre-update backup goes
	Service   Service
	// PrepareService, if set, runs while the service is stopped and the
	// symlink points at a slot (e.g. writes the systemd drop-in that starts
	// current/pbxgate on a box that ran the packaged binary so far).
	PrepareService func(ctx context.Context) error
	// HealthURL is polled (GET, 200 = healthy) after the switch.
	HealthURL     string
	HealthTimeout time.Duration // default 90 s: a Pi with a big store is slow to open it
	PollInterval  time.Duration // default 1 s
	// Policy: trusted keys, this machine's architecture, Force. Installed
	// is filled in from the current slot (or RunningVersion).
	Policy bundle.Policy
	// RunningBinary and RunningVersion describe the installed pbxgate when
	// no slot exists yet (first update of a freshly flashed or packaged
	// box): it is copied into slot a so there is something to roll back to.
	RunningBinary  string
	RunningVersion string
	Log            *slog.Logger
	Client         *http.Client
}

// Result describes a finished update.
type Result struct {
	From, To string // versions
	Slot     string // slot now current
	Backup   string // pre-update store backup ("" when no store)
}

// Apply installs the bundle at path. It returns an error wrapping a bundle
// sentinel (nothing was changed), ErrRolledBack (the old version runs again)
// or ErrRollbackFailed.
func Apply(ctx context.Context, o Options, path string) (Result, error) {
	o.defaults()
	var res Result
	if err := os.MkdirAll(o.Root, 0o755); err != nil {
		return res, err
	}
	unlock, err := lock(filepath.Join(o.Root, lockFile))
	if err != nil {
		return res, err
	}
	defer unlock()

	prevSlot, prevManifest, err := Current(o.Root)
	if err != nil {
		return res, err
	}
	installed := o.RunningVersion
	if prevManifest != nil {
		installed = prevManifest.Version
	}
	pol := o.Policy
	pol.Installed = installed
	res.From = installed

	// Verify and unpack into a staging directory: a bad bundle leaves no trace.
	staging, err := os.MkdirTemp(o.Root, ".staging-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(staging)
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	m, err := bundle.Extract(f, pol, staging)
	f.Close()
	if err != nil {
		return res, err
	}
	if _, err := os.Stat(filepath.Join(staging, BinaryName)); err != nil {
		return res, fmt.Errorf("%w: bundle has no %s payload", bundle.ErrMalformed, BinaryName)
	}
	if err := writeJSON(filepath.Join(staging, manifestFile), m); err != nil {
		return res, err
	}
	res.To = m.Version

	if prevSlot == "" {
		if prevSlot, err = o.seed(); err != nil {
			return res, fmt.Errorf("preparing slot a from the installed pbxgate: %w", err)
		}
	}
	next := "a"
	if prevSlot == "a" {
		next = "b"
	}
	if err := os.RemoveAll(filepath.Join(o.Root, next)); err != nil {
		return res, err
	}
	if err := os.Rename(staging, filepath.Join(o.Root, next)); err != nil {
		return res, err
	}
	if err := syncDir(o.Root); err != nil {
		return res, err
	}
	o.Log.Info("update unpacked", "version", m.Version, "slot", next, "from", installed)

	if err := o.Service.Stop(ctx); err != nil {
		return res, fmt.Errorf("stopping pbxgate before the switch: %w", err)
	}
	// From here the service is down: every failure path starts it again.
	if o.DataDir != "" {
		res.Backup, err = o.backup(installed, m.Version)
		if err != nil {
			return res, o.restart(ctx, fmt.Errorf("backing up the store before the update (nothing switched): %w", err))
		}
	}
	if err := switchTo(o.Root, next); err != nil {
		return res, o.restart(ctx, fmt.Errorf("switching to slot %s: %w", next, err))
	}
	res.Slot = next
	o.Log.Info("switched slot; starting new version", "slot", next, "version", m.Version)
	var startErr error
	if o.PrepareService != nil {
		startErr = o.PrepareService(ctx)
	}
	if startErr == nil {
		startErr = o.Service.Start(ctx)
	}
	if startErr == nil {
		startErr = o.waitHealthy(ctx)
	}
	if startErr == nil {
		o.Log.Info("update healthy", "version", m.Version, "slot", next)
		return res, nil
	}
	o.Log.Error("new version unhealthy; rolling back", "version", m.Version, "err", startErr)
	if err := o.rollback(ctx, prevSlot, res.Backup); err != nil {
		return res, fmt.Errorf("%w: %v (after: %v)", ErrRollbackFailed, err, startErr)
	}
	res.Slot = prevSlot
	return res, fmt.Errorf("%w to %s: version %s was not healthy: %v", ErrRolledBack, installed, m.Version, startErr)
}

func (o *Options) defaults() {
	if o.HealthTimeout == 0 {
		o.HealthTimeout = 90 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Second}
	}
}

// Current returns the current slot and its manifest ("" and nil before the
// first update).
func Current(root string) (slot string, m *bundle.Manifest, err error) {
	target, err := os.Readlink(filepath.Join(root, currentLink))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if target != "a" && target != "b" {
		return "", nil, fmt.Errorf("%s points at %q, expected a or b", filepath.Join(root, currentLink), target)
	}
	b, err := os.ReadFile(filepath.Join(root, target, manifestFile))
	if err != nil {
		return "", nil, fmt.Errorf("slot %s: %w", target, err)
	}
	m = new(bundle.Manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return "", nil, fmt.Errorf("slot %s manifest: %w", target, err)
	}
	return target, m, nil
}

// seed copies the running binary into slot a and points current at it.
func (o *Options) seed() (string, error) {
	if o.RunningBinary == "" {
		return "", errors.New("no slot installed and no running binary to seed it from")
	}
	dir := filepath.Join(o.Root, "a")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := copyFile(o.RunningBinary, filepath.Join(dir, BinaryName), 0o755); err != nil {
		return "", err
	}
	m := bundle.Manifest{Format: bundle.FormatVersion, Product: bundle.Product, Version: o.RunningVersion, Architecture: o.Policy.Arch}
	if err := writeJSON(filepath.Join(dir, manifestFile), m); err != nil {
		return "", err
	}
	if err := switchTo(o.Root, "a"); err != nil {
		return "", err
	}
	return "a", nil
}

func (o *Options) backup(from, to string) (string, error) {
	if err := os.MkdirAll(o.BackupDir, 0o750); err != nil {
		return "", err
	}
	s, err := store.Open(store.Options{Dir: o.DataDir, Logger: o.Log})
	if err != nil {
		return "", err
	}
	path := filepath.Join(o.BackupDir, fmt.Sprintf("pre-update-%s-to-%s-%s.pbxbak", from, to, time.Now().UTC().Format("20060102T150405Z")))
	_, err = s.BackupFile(path)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	o.Log.Info("store backed up before the update", "file", path)
	return path, nil
}

// restart starts the old version again after a failure before the switch.
func (o *Options) restart(ctx context.Context, cause error) error {
	if err := o.Service.Start(ctx); err != nil {
		return fmt.Errorf("%w; starting pbxgate again also failed: %v", cause, err)
	}
	return cause
}

func (o *Options) rollback(ctx context.Context, prev, backup string) error {
	if err := o.Service.Stop(ctx); err != nil {
		o.Log.Warn("stopping the failed version", "err", err)
	}
	if err := switchTo(o.Root, prev); err != nil {
		return err
	}
	if backup != "" {
		// The failed version may have migrated the store to a schema the old
		// one refuses: keep its data aside for diagnosis and restore the
		// pre-update backup.
		aside := fmt.Sprintf("%s.failed-update-%s", o.DataDir, time.Now().UTC().Format("20060102T150405Z"))
		for i := 2; ; i++ {
			if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
				break
			}
			aside = fmt.Sprintf("%s.failed-update-%s-%d", o.DataDir, time.Now().UTC().Format("20060102T150405Z"), i)
		}
		if err := os.Rename(o.DataDir, aside); err != nil {
			return fmt.Errorf("moving the failed version's store aside: %w", err)
		}
		f, err := os.Open(backup)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := store.Restore(ctx, o.DataDir, f, o.Log); err != nil {
			return fmt.Errorf("restoring %s: %w", backup, err)
		}
		o.Log.Info("store restored from the pre-update backup", "backup", backup, "failed_store", aside)
	}
	if err := o.Service.Start(ctx); err != nil {
		return fmt.Errorf("starting the previous version: %w", err)
	}
	if err := o.waitHealthy(ctx); err != nil {
		return fmt.Errorf("previous version after rollback: %w", err)
	}
	return nil
}

// waitHealthy polls HealthURL until it answers 200 or HealthTimeout passes.
func (o *Options) waitHealthy(ctx context.Context) error {
	if o.HealthURL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.HealthTimeout)
	defer cancel()
	t := time.NewTicker(o.PollInterval)
	defer t.Stop()
	var last error
	var exited <-chan struct{}
	if w, ok := o.Service.(ExitWatcher); ok {
		exited = w.Exited()
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.HealthURL, nil)
		if err != nil {
			return err
		}
		resp, err := o.Client.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s answered %s", o.HealthURL, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no healthy answer from %s within %s: %v", o.HealthURL, o.HealthTimeout, last)
		case <-exited:
			return fmt.Errorf("pbxgate exited before it answered %s (see its log)", o.HealthURL)
		case <-t.C:
		}
	}
}

// switchTo points current at slot atomically: a new symlink renamed over
// the old one, so a power cut leaves either the old or the new link.
func switchTo(root, slot string) error {
	tmp := filepath.Join(root, ".current.tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(slot, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(root, currentLink)); err != nil {
		return err
	}
	return syncDir(root)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// lock takes an exclusive non-blocking flock on path.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}
