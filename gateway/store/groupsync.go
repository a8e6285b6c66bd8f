package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
)

// Group commit. With SyncWrites on, Badger msyncs its write-ahead log (and
// the value log) once per transaction, so every stored state change of an
// SMS paid its own sync: 11.5 per SMS end to end (docs/benchmarks.md, "Group
// commit"). The store therefore opens Badger with its own SyncWrites off and
// makes commits durable itself: Update commits (Badger appends the
// transaction to its log, in commit order) and then waits for a sync that
// started after its commit. Only one sync runs at a time; every commit
// that arrives while it runs is covered by the next one, so concurrent
// writers — the pool's SIM workers, its status outbox, the campaign engine,
// the message log — share one sync instead of paying one each (classic
// group commit). Update still returns only once its writes are on disk, as
// before; UpdateNoSync is for writes whose loss in a power cut is repaired
// by a later synced write (see its comment).
//
// A kill -9 loses nothing either way (the log lives in the page cache, the
// kernel writes it out); the syncs protect against power loss, for which
// Badger's replay keeps the longest intact prefix of its log: a synced
// commit makes every earlier commit durable too.

// groupSync runs at most one sync at a time and lets each waiter return
// once a sync that started after it arrived has finished.
type groupSync struct {
	mu        sync.Mutex
	cond      *sync.Cond
	started   uint64 // syncs started
	completed uint64 // syncs finished
	running   bool
	failedAt  uint64 // the last sync that failed (0: none)
	failErr   error
	syncs     uint64 // syncs done (for tests and benchmarks)
}

func newGroupSync() *groupSync {
	g := &groupSync{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// wait returns once a call of sync that started after wait was called has
// finished, running it itself when no other caller is; the error is that
// of the sync that covered the caller.
func (g *groupSync) wait(sync func() error) error {
	return g.waitWithin(sync, 0)
}

// waitWithin is wait, but leaves the sync to other callers for up to
// delay: a write that can wait that long rides on a sync somebody else
// needs anyway, and runs one itself only if none started by then.
func (g *groupSync) waitWithin(sync func() error, delay time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	// A sync already running may have started before the caller's
	// commit: only the next one to start counts.
	target := g.started + 1
	var deadline time.Time
	if delay > 0 {
		deadline = time.Now().Add(delay)
		t := time.AfterFunc(delay, func() {
			g.mu.Lock()
			g.cond.Broadcast()
			g.mu.Unlock()
		})
		defer t.Stop()
	}
	for g.completed < target {
		if g.running || (g.started < target && delay > 0 && time.Now().Before(deadline)) {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		round := g.started
		g.mu.Unlock()
		err := sync()
		g.mu.Lock()
		g.running = false
		g.completed = round
		g.syncs++
		if err != nil {
			g.failedAt, g.failErr = round, err
		}
		g.cond.Broadcast()
	}
	if g.failedAt >= target {
		return g.failErr
	}
	return nil
}

// openOptions are Badger's options for Open: those of badgerOptions, with
// Badger's per-transaction sync replaced by the store's group sync.
func openOptions(o Options) badger.Options {
	bo := badgerOptions(o)
	bo.SyncWrites = false
	return bo
}

// syncAll makes every commit so far durable. It holds commitMu, so no
// transaction is half-way into the logs while it runs, and writes the
// value log (values of 1 KB and more) before the write-ahead logs that
// point into it — the order Badger keeps with its own SyncWrites, so a
// power cut never leaves a log entry pointing at a value that is not on
// disk. Every memtable log that may hold unsynced commits is synced, not
// only the active one: a memtable that was rotated out (full, waiting to
// be flushed to a table) still holds commits Badger itself no longer
// syncs; once flushed, its file is gone and its data in a synced table.
// fdatasync on a file Badger has mapped writes the same dirty pages back
// as Badger's msync.
//
// Which files: the first round lists the data directory; later rounds do
// not (listing it cost about an eighth of a sync). Badger numbers both
// kinds of log file in sequence — a new memtable gets nextMemFid, which
// grows only once its file was created (memtable.go newMemTable), a new
// value-log file maxFid+1 (value.go createVlogFile) — and writes only to
// the newest of each: a rotated-out file never changes again. So a round
// syncs the newest file of each kind the previous round synced plus every
// file that appeared after it, found by looking for the next number until
// one is missing. A file that rotated out is synced by the first round
// that sees its successor, after its last write (a write that goes to it
// commits before the rotation, and the rotation before the successor
// exists), and never needs it again. (DropAll and DropPrefix, which start
// memtables outside this sequence, are not used by the store.)
func (s *Store) syncAll() error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	lf := &s.logFiles
	if len(lf.vlogs) == 0 || len(lf.mems) == 0 {
		if err := lf.list(s.dir, s.vlogSynced); err != nil {
			return fmt.Errorf("sync store: %w", err)
		}
	} else {
		var err error
		if lf.vlogs, err = probeNext(lf.vlogs, func(id int) string { return vlogPath(s.dir, id) }); err != nil {
			return fmt.Errorf("sync store: %w", err)
		}
		if lf.mems, err = probeNext(lf.mems, func(id int) string { return memPath(s.dir, id) }); err != nil {
			return fmt.Errorf("sync store: %w", err)
		}
	}
	started := time.Now()
	skipVlog := s.vlogUnwritten(started)
	if !skipVlog {
		for _, id := range lf.vlogs {
			if err := lf.fdatasync(vlogPath(s.dir, id)); err != nil {
				return fmt.Errorf("sync store: %w", err)
			}
		}
	}
	for _, id := range lf.mems {
		if err := lf.fdatasync(memPath(s.dir, id)); err != nil {
			return fmt.Errorf("sync store: %w", err)
		}
	}
	// Only after every file is on disk: a failed round retries them all.
	if !skipVlog {
		lf.vlogSyncedAt = started
	}
	if n := len(lf.vlogs); n > 0 {
		s.vlogSynced = lf.vlogs[n-1]
		lf.vlogs = append(lf.vlogs[:0], lf.vlogs[n-1])
	}
	if n := len(lf.mems); n > 0 {
		lf.mems = append(lf.mems[:0], lf.mems[n-1])
	}
	return nil
}

// logFiles are the log files the next group sync writes back (syncAll):
// the newest value-log and memtable files the last round synced, and
// those found since.
type logFiles struct {
	vlogs, mems []int         // file numbers, ascending
	lists       int           // directory listings so far (tests)
	fsyncs      atomic.Uint64 // fdatasync system calls so far (benchmarks)
	// vlogSyncedAt: when the last round that synced the value log
	// started (zero: none yet); mtimeTracks: writes through a mapping
	// move a file's mtime in the data directory (vlogUnwritten).
	vlogSyncedAt time.Time
	mtimeTracks  bool
	vlogMargin   time.Duration // how much older the mtime must be (vlogUnwritten)
}

// How much older than the start of the last round that synced it the
// value log's mtime must be for a round to skip it: the kernel stamps
// mtime from its coarse clock (up to a tick, 10 ms at HZ=100, behind the
// time), and some file systems (ext4 with 128-byte inodes) keep whole
// seconds only — the probe at Open tells which.
const (
	vlogMarginFine   = 100 * time.Millisecond
	vlogMarginCoarse = 2 * time.Second
)

// vlogUnwritten reports whether this round (starting at now) may leave
// out the value log: nothing can have been written to it since the last
// round that synced it. Values under the value threshold (every record
// pbxgate writes per message) go to the memtable log only, so most rounds
// have nothing to write back there, yet each fdatasync of it was a system
// call (with an open and a close), half of the store's per message.
//
// Badger writes the value log through a shared mapping. The first write
// to a page after fdatasync cleaned it faults, and the kernel stamps the
// file's mtime then (file_update_time in page_mkwrite; a write to a page
// that is still dirty needs no stamp: the round that cleans it is still
// to come). So if the newest value-log file — the only one Badger writes,
// and the only one this round covers (a file found since means a
// rotation: all are synced) — has an mtime well before the start of the
// last round that synced it, nothing was written after that round's
// fdatasync. Whether the file system stamps mapped writes is checked
// once when the store opens (mmapWritesStampMtime); if not, or on any
// doubt (no round yet, the clock went back, a stat error), the value log
// is synced as before.
func (s *Store) vlogUnwritten(now time.Time) bool {
	lf := &s.logFiles
	if !lf.mtimeTracks || len(lf.vlogs) != 1 || lf.vlogSyncedAt.IsZero() || now.Before(lf.vlogSyncedAt) {
		return false
	}
	var st unix.Stat_t
	if err := unix.Stat(vlogPath(s.dir, lf.vlogs[0]), &st); err != nil {
		return false
	}
	return time.Unix(st.Mtim.Unix()).Before(lf.vlogSyncedAt.Add(-lf.vlogMargin))
}

// mmapWritesStampMtime reports whether, in dir, a write through a shared
// mapping to a page fdatasync cleaned moves the file's mtime (as ext4,
// f2fs, xfs and btrfs do): a probe file is mapped, written, synced, its
// mtime set an hour back, written again through the mapping and looked
// at; and whether the stamp has a fraction of a second (fine). Any error:
// false.
func mmapWritesStampMtime(dir string) (stamps, fine bool) {
	// One a kill left behind (the probe takes a few milliseconds).
	if old, err := filepath.Glob(filepath.Join(dir, ".mtime-probe-*")); err == nil {
		for _, p := range old {
			os.Remove(p)
		}
	}
	f, err := os.CreateTemp(dir, ".mtime-probe-*")
	if err != nil {
		return false, false
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const size = 4096
	if err := f.Truncate(size); err != nil {
		return false, false
	}
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return false, false
	}
	defer unix.Munmap(data)
	data[0] = 1
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return false, false
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(f.Name(), old, old); err != nil {
		return false, false
	}
	data[1] = 1
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, false
	}
	return time.Unix(st.Mtim.Unix()).After(old.Add(30 * time.Minute)), st.Mtim.Nsec != 0
}

// fdatasync writes path's data to disk (fdatasyncFile), counted.
func (lf *logFiles) fdatasync(path string) error {
	synced, err := fdatasyncFile(path)
	if synced {
		lf.fsyncs.Add(1)
	}
	return err
}

// list reads the data directory: every memtable log, and the value-log
// files from vlogSynced on (those before it were synced when they were
// newest or by the round that saw them rotate).
func (lf *logFiles) list(dir string, vlogSynced int) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	lf.lists++
	lf.vlogs, lf.mems = lf.vlogs[:0], lf.mems[:0]
	for _, n := range names {
		if f, ok := strings.CutSuffix(n, ".vlog"); ok {
			if id, err := strconv.Atoi(f); err == nil && id >= vlogSynced {
				lf.vlogs = append(lf.vlogs, id)
			}
		} else if f, ok := strings.CutSuffix(n, ".mem"); ok {
			if id, err := strconv.Atoi(f); err == nil {
				lf.mems = append(lf.mems, id)
			}
		}
	}
	slices.Sort(lf.vlogs)
	slices.Sort(lf.mems)
	return nil
}

// probeNext appends to ids (ascending, not empty) the files numbered
// after its last one that exist, stopping at the first that does not; an
// error other than "does not exist" fails the sync rather than skip a
// file.
func probeNext(ids []int, path func(int) string) ([]int, error) {
	for next := ids[len(ids)-1] + 1; ; next++ {
		var st unix.Stat_t
		err := unix.Stat(path(next), &st)
		if errors.Is(err, unix.ENOENT) {
			return ids, nil
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, next)
	}
}

func vlogPath(dir string, id int) string {
	return filepath.Join(dir, fmt.Sprintf("%06d.vlog", id))
}

func memPath(dir string, id int) string {
	return filepath.Join(dir, fmt.Sprintf("%05d.mem", id))
}

// fdatasyncFile writes path's data to disk and says whether it made the
// system call: a file that is gone (a memtable flushed and deleted
// meanwhile, a value-log file collected) needs nothing.
func fdatasyncFile(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = unix.Fdatasync(int(f.Fd()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return true, err
}

// durable waits until every commit made before the call is on disk (one
// group sync); with SyncWrites off it returns at once.
func (s *Store) durable() error {
	if !s.syncWrites {
		return nil
	}
	return s.gs.wait(s.syncAll)
}

// UpdateNoSync is Update without waiting for the sync: the transaction is
// committed (visible to every reader, kept by a kill -9) but may be lost
// in a power cut until the next Update, Sync or group sync — which then
// makes it durable too, since it comes earlier in the log. Use it only
// where such a loss is repaired: e.g. applying a status event whose
// source record is deleted by a later (synced) write, or removing records
// that are only read to skip work already done.
func (s *Store) UpdateNoSync(fn func(txn *Txn) error) error {
	if err := s.update(fn); err != nil {
		return err
	}
	s.syncSoon()
	return nil
}

// UpdateWithin is Update, but the sync that makes the transaction durable
// may start up to delay later: under load the write rides on a sync other
// writers run anyway (the SIM workers before each AT+CMGS), so it costs no
// sync of its own. For writes that must be durable before something
// outside happens but not at once — a delivery report the driver deletes
// from the modem once it is stored.
func (s *Store) UpdateWithin(delay time.Duration, fn func(txn *Txn) error) error {
	if err := s.update(fn); err != nil {
		return err
	}
	if !s.syncWrites {
		return nil
	}
	return s.gs.waitWithin(s.syncAll, delay)
}

// UpdateCtx is Update, or UpdateNoSync when ctx says the caller will redo
// the write itself if a power cut loses it (DeferSync).
func (s *Store) UpdateCtx(ctx context.Context, fn func(txn *Txn) error) error {
	if SyncDeferred(ctx) {
		return s.UpdateNoSync(fn)
	}
	return s.Update(fn)
}

type deferSyncKey struct{}

// DeferSync marks ctx for calls whose writes need not be on disk before
// they return: the caller keeps what it asked for durably itself and asks
// again (idempotently) when a power cut lost the write — e.g. the SMS
// pool's status outbox, which holds an event until the consumer's write
// came before a later synced one; or a campaign handing a message to a
// channel that takes the same ID twice as once (ResendSafety).
func DeferSync(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferSyncKey{}, true)
}

// SyncDeferred reports whether ctx was marked with DeferSync.
func SyncDeferred(ctx context.Context) bool {
	v, _ := ctx.Value(deferSyncKey{}).(bool)
	return v
}

// lazyWindow bounds how long an UpdateNoSync write stays in the page
// cache only: if no other write syncs it meanwhile, a group sync runs
// after this long.
const lazyWindow = 100 * time.Millisecond

// syncSoon makes sure a group sync starts within lazyWindow.
func (s *Store) syncSoon() {
	if !s.syncWrites {
		return
	}
	s.lazyMu.Lock()
	defer s.lazyMu.Unlock()
	if s.lazyTimer != nil || s.closed {
		return
	}
	window := s.lazyWindow
	if window == 0 {
		window = lazyWindow
	}
	s.lazyTimer = time.AfterFunc(window, func() {
		s.lazyMu.Lock()
		s.lazyTimer = nil
		closed := s.closed
		s.lazyMu.Unlock()
		if closed {
			return
		}
		if err := s.gs.wait(s.syncAll); err != nil {
			s.log.Warn("store: background sync failed", "err", err)
		}
	})
}

// stopLazy stops the background sync before the store closes (Badger's
// Close writes everything out itself).
func (s *Store) stopLazy() {
	s.lazyMu.Lock()
	defer s.lazyMu.Unlock()
	s.closed = true
	if s.lazyTimer != nil {
		s.lazyTimer.Stop()
		s.lazyTimer = nil
	}
}

// Fsyncs is how many fdatasync system calls the group syncs made (one
// per log file a sync covers: the value log's and the memtable logs').
func (s *Store) Fsyncs() uint64 { return s.logFiles.fsyncs.Load() }

// Syncs is how many group syncs the store has run (benchmarks report it
// per message).
func (s *Store) Syncs() uint64 {
	s.gs.mu.Lock()
	defer s.gs.mu.Unlock()
	return s.gs.syncs
}

// gcOnce runs value-log GC until it finds nothing to rewrite and returns
// how many files it rewrote. Badger (running without its own SyncWrites)
// deletes a rewritten file right after moving its live values, before
// they are synced — unless an iterator is open, which defers the delete
// until the last one closes. So an iterator stays open across the GC and
// a group sync, and the old files go only once the moved values are on
// disk.
func (s *Store) gcOnce() int {
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(Prefix("\xff-gc-hold/", true, false))
	n := 0
	for s.db.RunValueLogGC(0.5) == nil {
		n++
	}
	if n > 0 && s.syncWrites {
		if err := s.Sync(); err != nil {
			s.log.Warn("store: sync after value-log GC failed", "err", err)
		}
	}
	it.Close()
	return n
}
