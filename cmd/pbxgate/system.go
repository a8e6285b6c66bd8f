package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// logKeep is how many recent log records the portal can show.
const logKeep = 2000

// errRestart ends run when the daemon is to start again in place (after
// a restore uploaded in the portal).
var errRestart = errors.New("restart requested")

// requestRestart asks the run loop to stop and start again; repeated
// requests while one is pending are dropped.
func (d *daemon) requestRestart(reason string) {
	select {
	case d.restart <- reason:
	default:
	}
}

// reexec replaces the process with a fresh pbxgate with the same
// arguments: the PID stays, so systemd (Type=notify, told RELOADING=1)
// and process supervisors keep tracking it, and the new process reports
// READY=1 again.
func reexec() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return syscall.Exec(exe, os.Args, os.Environ())
}

// notifyReloading tells systemd the daemon restarts in place.
func notifyReloading() {
	_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReloading)
}

// backupDir is where pbxgate keeps automatic backups: beside the data
// directory (/var/lib/pbxgate-backups on the appliance, a StateDirectory).
func (d *daemon) backupDir() string {
	return filepath.Join(filepath.Dir(filepath.Clean(d.cfg.DataDir)), filepath.Base(d.cfg.DataDir)+"-backups")
}

// restoreStager implements web.RestoreStager: the uploaded backup is
// loaded beside the store, the current store is saved to the backup
// directory, and the next start swaps them (store.ApplyStagedRestore).
type restoreStager struct{ d *daemon }

func (r restoreStager) StageRestore(ctx context.Context, rd io.Reader) (string, error) {
	d := r.d
	if err := store.StageRestore(ctx, d.cfg.DataDir, rd, len(migrations), d.log); err != nil {
		return "", err
	}
	dir := d.backupDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", d.unstage(fmt.Errorf("restore: %w: %w", store.ErrSafetyBackup, err))
	}
	path := filepath.Join(dir, "before-restore-"+time.Now().UTC().Format("20060102T150405Z")+".pbxbak")
	if _, err := d.store.BackupFile(path); err != nil {
		return "", d.unstage(fmt.Errorf("restore: %w: %w", store.ErrSafetyBackup, err))
	}
	d.log.Info("restore staged; the current store was saved", "backup", path)
	return path, nil
}

// unstage drops a staged restore whose safety backup failed.
func (d *daemon) unstage(err error) error {
	if rerr := store.DiscardStagedRestore(d.cfg.DataDir); rerr != nil {
		d.log.Error("removing the staged restore", "err", rerr)
	}
	return err
}

func (r restoreStager) RestorePending() bool { return store.HasStagedRestore(r.d.cfg.DataDir) }
