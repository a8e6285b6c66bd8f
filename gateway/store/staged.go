package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// A restore from the portal cannot replace the files of the open store, so
// it happens in two steps: StageRestore loads the backup into a directory
// beside the store while the daemon runs; the next start (the daemon
// restarts itself) calls ApplyStagedRestore before Open, which swaps the
// store's files for the staged ones. Each step can be interrupted (crash,
// power loss) and is completed by the next start.
const (
	stagedDir   = "restore-pending"
	stagedReady = "READY"     // in stagedDir: the staged store is complete
	swapMarker  = "RESTORING" // in the data dir: old files are gone, move on
)

// ErrRestorePending: a staged restore waits for the restart.
var ErrRestorePending = errors.New("a restored backup is waiting for the restart")

// Why a restore was refused, for the portal to say in the user's language
// (web/app/restore.go): the file is damaged or no backup at all, or it is
// a backup without pbxgate data; saving the current data first failed.
var (
	ErrDamagedBackup = errors.New("backup file is damaged or not a pbxgate backup")
	ErrNoPbxgateData = errors.New("the backup holds no pbxgate data (no schema version); choose a file made by pbxgate backup or System > Backup")
	ErrSafetyBackup  = errors.New("saving the current data first failed")
)

// NewerSchemaError: the backup was written by a newer pbxgate (it is
// ErrNewerSchema); Backup is its schema, Known the newest this one knows.
type NewerSchemaError struct{ Backup, Known int }

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("%v: the backup has schema %d, this pbxgate knows %d; update pbxgate first", ErrNewerSchema, e.Backup, e.Known)
}

// Is makes errors.Is(err, ErrNewerSchema) hold.
func (e *NewerSchemaError) Is(target error) bool { return target == ErrNewerSchema }

// StageRestore loads the backup in r into dataDir/restore-pending and
// checks it: a damaged file or a backup of a newer pbxgate (schema above
// maxSchema) is refused and leaves nothing behind.
func StageRestore(ctx context.Context, dataDir string, r io.Reader, maxSchema int, logger *slog.Logger) error {
	dir := filepath.Join(dataDir, stagedDir)
	if _, err := os.Stat(filepath.Join(dir, stagedReady)); err == nil {
		return ErrRestorePending
	}
	// Leftovers of an upload that failed half-way.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := Restore(ctx, dir, r, logger); err != nil {
		return err
	}
	s, err := Open(Options{Dir: dir, Logger: logger, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("restore: the loaded backup does not open: %w: %w", ErrDamagedBackup, err)
	}
	v, err := s.SchemaVersion()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if v == 0 {
		return fmt.Errorf("restore: %w", ErrNoPbxgateData)
	}
	if v > maxSchema {
		return &NewerSchemaError{Backup: v, Known: maxSchema}
	}
	if err := writeSynced(filepath.Join(dir, stagedReady)); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ok = true
	return nil
}

// HasStagedRestore reports whether a staged restore waits for a restart.
func HasStagedRestore(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, stagedDir, stagedReady))
	return err == nil
}

// DiscardStagedRestore drops a staged restore (before the restart).
func DiscardStagedRestore(dataDir string) error {
	return os.RemoveAll(filepath.Join(dataDir, stagedDir))
}

// ApplyStagedRestore replaces the store's files in dataDir with a staged
// restore, if one is complete; the store must not be open. It reports
// whether it did. Files that are not the database's (media, sockets) stay.
func ApplyStagedRestore(dataDir string, logger *slog.Logger) (bool, error) {
	dir := filepath.Join(dataDir, stagedDir)
	marker := filepath.Join(dataDir, swapMarker)
	_, readyErr := os.Stat(filepath.Join(dir, stagedReady))
	_, swapErr := os.Stat(marker)
	if readyErr != nil && swapErr != nil {
		if _, err := os.Stat(dir); err == nil {
			// An upload that never finished: nothing to apply.
			return false, os.RemoveAll(dir)
		}
		return false, nil
	}
	if swapErr != nil {
		// Step 1: drop the current database files, then mark it.
		es, err := os.ReadDir(dataDir)
		if err != nil {
			return false, err
		}
		for _, e := range es {
			if !e.IsDir() && isDBFile(e.Name()) {
				if err := os.Remove(filepath.Join(dataDir, e.Name())); err != nil {
					return false, fmt.Errorf("restore: %w", err)
				}
			}
		}
		if err := writeSynced(marker); err != nil {
			return false, err
		}
	}
	// Step 2: move the staged files in (those already moved are gone
	// from dir), then clean up; the marker goes last.
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	for _, e := range es {
		if e.IsDir() || !isDBFile(e.Name()) {
			continue
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(dataDir, e.Name())); err != nil {
			return false, fmt.Errorf("restore: %w", err)
		}
	}
	syncDir(dataDir)
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	if err := os.Remove(marker); err != nil {
		return false, err
	}
	syncDir(dataDir)
	if logger != nil {
		logger.Info("store restored from the uploaded backup", "dir", dataDir)
	}
	return true, nil
}

// isDBFile tells Badger's own files from others in the data directory.
func isDBFile(name string) bool {
	switch name {
	case "MANIFEST", "KEYREGISTRY", "DISCARD", "LOCK":
		return true
	}
	for _, ext := range []string{".sst", ".vlog", ".mem"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func writeSynced(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	syncDir(filepath.Dir(path))
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
