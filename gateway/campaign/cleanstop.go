package campaign

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// A clean stop is recorded so that the next start resumes the campaigns
// that were sending, while a crash leaves them to campaigns.auto_resume.
//
// Why resuming after a clean stop is safe: Run records the stop only after
// its context ended and every dispatcher returned, under wmu. From then on
// no dispatcher can start (launchLocked refuses once runCtx is done) and no
// campaign becomes sending (afterSave does not start pending campaigns
// after the stop), so nothing of this engine hands a message to a channel
// after the record. Every recipient the channels took is "sending" with
// AcceptedAt (the channel reports it later, from its own store); one whose
// Send was cut off is "sending" without AcceptedAt and is handed over again
// with the same ID, which the channel contract makes a no-op if it has it;
// the rest of an interrupted batch went back to "queued" (sendBatch).
//
// The record is two halves with one random token: the key cleanStopKey in
// the store and the file cleanStopFile next to the store's files. Both must
// be there and agree:
//   - A store restored from a backup taken while pbxgate was stopped (the
//     pre-update backup, an offline `pbxgate backup`) carries the key of
//     that stop but not the file of this directory (a restore into a new
//     directory) or a file with another token (a staged restore keeps the
//     directory's other files). Resuming the backup's campaigns would send
//     again whatever went out after the backup was taken, so that is treated
//     like a crash.
//   - New deletes both halves and syncs the store before it returns, before
//     any dispatcher runs: a crash of this run can never look clean.
//   - A crash while the stop is being recorded leaves at most one half (or
//     an unsynced key): treated like a crash, which is the safe side.
const (
	cleanStopKey  = "campaign/meta/clean_stop"
	cleanStopFile = "campaigns.clean-stop"
)

// cleanStop is the stored half of the record.
type cleanStop struct {
	Token     string    `json:"token"`
	At        time.Time `json:"at"`
	Campaigns []string  `json:"campaigns"` // IDs sending at the stop
}

func (e *Engine) cleanStopPath() string {
	if e.st.Dir() == "" {
		return ""
	}
	return filepath.Join(e.st.Dir(), cleanStopFile)
}

// recordCleanStop notes which campaigns were sending when Run stopped with
// no dispatcher left. A failure only means the next start treats the stop
// like a crash.
func (e *Engine) recordCleanStop() {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.saveStaleLocked()
	var ids []string
	for _, id := range e.sortedIDs() {
		if sending(e.camps[id].State) {
			ids = append(ids, id)
		}
	}
	path := e.cleanStopPath()
	if len(ids) == 0 || path == "" {
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	rec := cleanStop{Token: hex.EncodeToString(b[:]), At: e.clock.Now().UTC(), Campaigns: ids}
	err := e.st.Update(func(txn *store.Txn) error { return store.SetJSONFast(txn, cleanStopKey, rec) })
	if err == nil {
		err = writeFileSynced(path, []byte(rec.Token+"\n"))
	}
	if err != nil {
		e.log.Error("cannot record the clean stop; the next start stops the running campaigns as after a crash (campaigns.auto_resume decides)",
			"campaigns", strings.Join(ids, ","), "err", err)
		return
	}
	e.log.Info("campaigns stopped cleanly; they resume at the next start", "campaigns", strings.Join(ids, ","))
}

// takeCleanStop reads and removes the record of the last stop. It returns
// the IDs of the campaigns to resume: none after a crash, or when the two
// halves do not match (a restored backup). Both halves are gone, and the
// store synced, when it returns without error.
func (e *Engine) takeCleanStop() ([]string, error) {
	var rec cleanStop
	found := true
	err := e.st.View(func(txn *store.Txn) error { return store.GetJSONFast(txn, cleanStopKey, &rec) })
	if errors.Is(err, store.ErrNotFound) {
		found = false
	} else if err != nil {
		// Damaged: delete it below and treat the stop like a crash.
		e.log.Warn("clean-stop record unreadable; treating the last stop like a crash", "err", err)
		rec = cleanStop{}
	}
	var token string
	path := e.cleanStopPath()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			e.log.Warn("clean-stop file unreadable; treating the last stop like a crash", "file", path, "err", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if found {
		if err := e.st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(cleanStopKey)) }); err != nil {
			return nil, fmt.Errorf("remove the clean-stop record: %w", err)
		}
		// Durable before anything can send: a later crash must not find it.
		if err := e.st.Sync(); err != nil {
			return nil, fmt.Errorf("remove the clean-stop record: %w", err)
		}
	}
	if token != "" {
		// Without the key a stale file matches nothing; removing it only
		// keeps the directory tidy.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.log.Warn("cannot remove the clean-stop file", "file", path, "err", err)
		} else {
			syncDir(filepath.Dir(path))
		}
	}
	switch {
	case !found:
		return nil, nil
	case rec.Token == "":
		return nil, nil // unreadable, logged above
	case token != rec.Token:
		e.log.Warn("the store says pbxgate stopped cleanly, but not in this data directory (restored from a backup?); treating the stop like a crash",
			"stopped_at", rec.At, "campaigns", strings.Join(rec.Campaigns, ","))
		return nil, nil
	}
	return slices.Clone(rec.Campaigns), nil
}

// writeFileSynced writes path atomically and durably (temporary file,
// fsync, rename, fsync of the directory).
func writeFileSynced(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
