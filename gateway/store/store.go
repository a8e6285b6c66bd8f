// Package store is pbxgate's embedded database: Badger v4 tuned for a 1 GB
// Raspberry Pi, with a schema version, migrations, value-log GC on a ticker
// and online backup/restore.
//
// Keys are namespaced by the package that owns them ("campaign/…",
// "modem/…"); values are JSON unless a package needs otherwise. Packages use
// Update and View with Badger transactions and the JSON helpers here.
package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Sentinel errors callers branch on.
var (
	// ErrLocked: another pbxgate (or a backup/restore) has the directory open.
	ErrLocked = errors.New("data directory is in use by another pbxgate process")
	// ErrNotWritable: the directory cannot be created or written.
	ErrNotWritable = errors.New("data directory is not writable")
	// ErrNotFound: no value under the key.
	ErrNotFound = badger.ErrKeyNotFound
	// ErrNotEmpty: restore needs an empty data directory.
	ErrNotEmpty = errors.New("data directory is not empty")
	// ErrNewerSchema: the data was written by a newer pbxgate.
	ErrNewerSchema = errors.New("data was written by a newer pbxgate")
)

// Txn is a Badger transaction; re-exported so callers need not import badger
// for function signatures.
type Txn = badger.Txn

// Profile selects Badger's memory footprint.
type Profile string

const (
	// Small keeps RSS around 64 MB for a Raspberry Pi with 1 GB.
	Small Profile = "small"
	// Default is Badger's own tuning (~250 MB RSS): for big boxes.
	Default Profile = "default"
)

// Options configure Open.
type Options struct {
	Dir        string
	Profile    Profile
	SyncWrites bool
	Logger     *slog.Logger
	ReadOnly   bool
	// Guard, when set, is asked before every write transaction; its error
	// (e.g. diskguard.ErrDiskFull with the free space) is returned
	// instead of writing, so a full disk refuses writes cleanly before
	// Badger's memory-mapped files could fault.
	Guard WriteGuard
}

// WriteGuard decides whether the store may write now.
type WriteGuard interface {
	CanWrite() error
}

// Store is an open pbxgate database.
type Store struct {
	db    *badger.DB
	log   *slog.Logger
	dir   string
	guard WriteGuard
	// syncWrites: Update waits for a group sync (groupsync.go); Badger
	// itself runs with SyncWrites off.
	syncWrites bool
	gs         *groupSync
	// commitMu: transactions commit under its read lock, syncAll under
	// its write lock (groupsync.go).
	commitMu   sync.RWMutex
	vlogSynced int           // newest value-log file a sync covered
	logFiles   logFiles      // the log files the next group sync covers (syncAll)
	commits    atomic.Uint64 // read-write transactions committed (benchmarks)
	lazyMu     sync.Mutex
	lazyTimer  *time.Timer
	lazyWindow time.Duration // 0: the lazyWindow constant (tests change it)
	closed     bool
}

func badgerOptions(o Options) badger.Options {
	bo := badger.DefaultOptions(o.Dir).
		WithSyncWrites(o.SyncWrites).
		WithLogger(badgerLogger{o.Logger}).
		WithReadOnly(o.ReadOnly).
		WithMetricsEnabled(false)
	if o.Profile == Default {
		return bo
	}
	return small.apply(bo)
}

// tuning is Badger's memory and disk sizing for the small profile.
type tuning struct {
	memTable     int64 // memtable size: its skiplist arena is Go heap, its WAL a 2× mmapped file
	numMemtables int   // memtables kept in memory (one active, the rest waiting to flush)
	baseTable    int64 // SST size at L1; table builders hold a whole table in memory
	baseLevel    int64 // L1 size
	tableMult    int   // SST size growth per level
	l0Tables     int   // L0 tables that start a compaction into L1
	l0Stall      int   // L0 tables at which writes stall
	blockCache   int64
	indexCache   int64
	compression  options.CompressionType
	vlogFile     int64 // value-log file size (mmapped at 2×)
	// builders: finished tables a compaction keeps in flight (written
	// and synced) besides those its sub-compactions fill — an option of
	// the patched Badger copy (gateway/store/badger/PATCHES.md); upstream
	// hard-codes 8.
	builders int
	// valueThreshold: larger values go to the value log. Every value
	// written there stays mapped (resident) until value-log GC rewrites
	// its file, and old versions are only reclaimed by that GC; in the
	// LSM tree compaction drops them. pbxgate's largest frequent value,
	// a campaign record (~1.1 KiB, rewritten as it progresses), stays in
	// the tree.
	valueThreshold int64
}

// small keeps pbxgate under its memory limit on a 1 GB Raspberry Pi (see
// docs/benchmarks.md, "Memory budget", for the measurements behind it).
// ValueThreshold stays under 15% of the memtable; NumCompactors must be 0
// or >= 2.
//
// Badger's transient memory is its table builders, all Go heap: a builder
// keeps a whole table in an allocator that starts at twice the table size
// and doubles (2T, +4T, +8T, …) as the table grows. A compaction runs up to
// five builders at once (sub-compactions), more while earlier tables are
// being synced to disk, Badger keeps up to eight finished allocators pooled
// for reuse at their largest size, and every table built allocated a 3 MiB
// index builder that is garbage right after (upstream; the patched copy
// sizes it from the table). Under the daemon's memory
// limit (64 MiB) that heap decides how often the collector runs: with
// Snappy, a builder holds each block twice (uncompressed, and a
// worst-case-sized buffer for the compressed copy) and tables count their
// compressed size, so a 512 KiB table's builder grew to 7 MiB, the live
// heap sat at the limit while sending, and the daemon spent more than half
// its CPU collecting (170–690 collections per 1,000 SMS). So:
//   - no compression: a builder holds one copy of the table, no more than
//     its initial allocator (2 × the table size), and reads need no block
//     cache (the blocks are read through the mapping instead of being
//     decompressed into the heap) — 9 collections per 1,000 SMS, less than
//     half the CPU per SMS; the price is more bytes on disk (3–4×) and
//     written;
//   - 1 MiB tables (a builder's allocator: 2 MiB). A compaction keeps up
//     to builders + 2 × its sub-compactions alive: one filling per
//     sub-compaction, one finished waiting per sub-compaction, and
//     builders tables being written and synced (upstream hard-codes
//     8; dgraph-io/badger#1373). On a busy disk that queue fills: the
//     anonymous peaks of the 100,000-SMS runs held 12 × (4 + 3 MiB) with
//     2 MiB tables and 21 allocators plus 10 index builders (73 MB) with
//     1 MiB tables — the count, not the table size, sets that peak
//     (docs/benchmarks.md). The patched copy lets pbxgate set builders
//     (2) and sizes each table's index builder from its blocks instead of
//     3 MiB;
//   - tables keep one size on every level (tableMult 1): with the default
//     doubling the deepest level's builders grow with the store (the late
//     anonymous peak of the 100,000-SMS run, docs/benchmarks.md);
//   - 2 MiB memtables: flushing one (one at a time) builds a single L0
//     table of all of it (an allocator of 2 + 4 MiB), and the two arenas
//     are 2 × 2.6 MiB;
//   - compaction into L1 waits for 6 L0 tables instead of 2: each one
//     rewrites the overlapping L1 tables, so batching more L0 tables
//     writes fewer bytes per message (the SD card's wear);
//   - no index cache: it is used only for encrypted tables (the indexes
//     are read through the mapping otherwise).
var small = tuning{
	memTable:     2 << 20,
	numMemtables: 2,
	baseTable:    1 << 20,
	baseLevel:    8 << 20,
	tableMult:    1,
	l0Tables:     6,
	l0Stall:      14,
	blockCache:   0,
	indexCache:   0,
	compression:  options.None,
	vlogFile:     16 << 20,
	builders:     2,
	// 16 KiB stays well under 15 % of the memtable (307 KiB).
	valueThreshold: 16 << 10,
}

func (t tuning) apply(bo badger.Options) badger.Options {
	bo.TableSizeMultiplier = t.tableMult // no With method
	return bo.
		WithMemTableSize(t.memTable).
		WithNumMemtables(t.numMemtables).
		WithValueThreshold(min(t.valueThreshold, t.memTable*15/100-1)).
		WithBaseTableSize(t.baseTable).
		WithBaseLevelSize(t.baseLevel).
		WithNumLevelZeroTables(t.l0Tables).
		WithNumLevelZeroTablesStall(t.l0Stall).
		WithBlockCacheSize(t.blockCache).
		WithIndexCacheSize(t.indexCache).
		WithNumCompactors(2).
		WithCompactionBuilders(t.builders).
		WithValueLogFileSize(t.vlogFile).
		WithCompression(t.compression).
		WithNumGoroutines(4)
}

// Open opens (creating if needed) the store in o.Dir.
func Open(o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Profile == "" {
		o.Profile = Small
	}
	if !o.ReadOnly {
		if err := checkWritable(o.Dir); err != nil {
			return nil, err
		}
	}
	db, err := badger.Open(openOptions(o))
	// Badger formats wrapped errors with %+v, so only the text survives.
	if err != nil && strings.Contains(err.Error(), z.NewFile.Error()) && !o.ReadOnly {
		// A crash between creating a memtable or value-log file and its
		// first write leaves it empty, and Badger's Open then fails with
		// z.NewFile after sizing the file (dgraph-io/badger#2207). The
		// file holds no data; the second Open reads it as empty.
		o.Logger.Warn("store: recovering an empty log file left by a crash", "dir", o.Dir)
		db, err = badger.Open(openOptions(o))
	}
	if err != nil {
		if strings.Contains(err.Error(), "Another process is using this Badger database") {
			return nil, fmt.Errorf("%w: %s (stop the running daemon, e.g. `systemctl stop pbxgate`, or use another data_dir)", ErrLocked, o.Dir)
		}
		return nil, fmt.Errorf("open store in %s: %w", o.Dir, err)
	}
	s := &Store{db: db, log: o.Logger, dir: o.Dir, guard: o.Guard,
		syncWrites: o.SyncWrites && !o.ReadOnly, gs: newGroupSync()}
	if s.syncWrites {
		var fine bool
		s.logFiles.mtimeTracks, fine = mmapWritesStampMtime(o.Dir)
		s.logFiles.vlogMargin = vlogMarginCoarse
		if fine {
			s.logFiles.vlogMargin = vlogMarginFine
		}
	}
	return s, nil
}

func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%w: %s: %v (create it and give the pbxgate user write access)", ErrNotWritable, dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("%w: %s: %v (give the pbxgate user write access)", ErrNotWritable, dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

// DB exposes Badger to the store's own tests and the benchmarks that fill a
// store quickly; code writes through Update and WriteBatch (group sync).
func (s *Store) DB() *badger.DB { return s.db }

// Close flushes and closes the store.
func (s *Store) Close() error {
	s.stopLazy()
	return s.db.Close()
}

// Sync forces pending writes to disk, for callers that just acknowledged a
// customer message when sync_writes is off (or wrote with UpdateNoSync).
// Concurrent callers share one sync (groupsync.go).
func (s *Store) Sync() error { return s.gs.wait(s.syncAll) }

// Update runs fn in a read-write transaction, retrying on conflict. With a
// Guard it first asks whether the disk has room. With SyncWrites it returns
// once the transaction is on disk; concurrent Updates share that sync
// (group commit, groupsync.go).
func (s *Store) Update(fn func(txn *Txn) error) error {
	if err := s.update(fn); err != nil {
		return err
	}
	return s.durable()
}

func (s *Store) update(fn func(txn *Txn) error) error {
	if s.guard != nil {
		if err := s.guard.CanWrite(); err != nil {
			return err
		}
	}
	for range 10 {
		err := s.commit(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return s.commit(fn)
}

// commit is Badger's DB.Update, with the commit itself under commitMu's
// read lock (see syncAll).
func (s *Store) commit(fn func(txn *Txn) error) error {
	if s.db.IsClosed() {
		return badger.ErrDBClosed
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	s.commitMu.RLock()
	defer s.commitMu.RUnlock()
	s.commits.Add(1)
	return txn.Commit()
}

// Commits is how many read-write transactions the store has committed
// (benchmarks report it per message: unlike CPU time it does not depend
// on the machine's load).
func (s *Store) Commits() uint64 { return s.commits.Load() }

// CanWrite asks the Guard (if any) whether the disk has room for writes, for
// callers that write through DB() (write batches).
func (s *Store) CanWrite() error {
	if s.guard == nil {
		return nil
	}
	return s.guard.CanWrite()
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(txn *Txn) error) error { return s.db.View(fn) }

// GetJSON reads key into v. It returns ErrNotFound when absent.
func GetJSON(txn *Txn, key string, v any) error {
	item, err := txn.Get([]byte(key))
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

// SetJSON writes v under key.
func SetJSON(txn *Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return txn.Set([]byte(key), b)
}

// Each calls fn with every key and value under prefix, in key order, until fn
// returns an error (io.EOF stops without error).
func Each(txn *Txn, prefix string, fn func(key string, val []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(prefix)
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		err := item.Value(func(b []byte) error { return fn(string(item.Key()), b) })
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Count returns how many keys are under prefix (keys only, no values read).
func Count(txn *Txn, prefix string) int {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(prefix)
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	return n
}

// RunGC runs value-log garbage collection every interval until ctx ends;
// Badger never does it by itself.
func (s *Store) RunGC(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n := s.gcOnce()
			if n > 0 {
				s.log.Info("store value-log GC reclaimed files", "rewritten", n)
			}
		}
	}
}

// Size reports the LSM and value-log sizes in bytes.
func (s *Store) Size() (lsm, vlog int64) { return s.db.Size() }

// Backup writes a full online backup of the store to w (the daemon keeps
// running). It returns the version the backup is consistent at.
func (s *Store) Backup(w io.Writer) (uint64, error) {
	return s.db.Backup(w, 0)
}

// Restore loads a backup made by Backup into dir, which must be empty or not
// exist.
func Restore(ctx context.Context, dir string, r io.Reader, logger *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			return fmt.Errorf("%w: %s holds %s; restore only into an empty directory (move the old one away first)", ErrNotEmpty, dir, e.Name())
		}
	}
	s, err := Open(Options{Dir: dir, Logger: logger, SyncWrites: false})
	if err != nil {
		return err
	}
	if err := s.db.Load(&frameCheck{r: r}, 256); err != nil {
		s.Close()
		return fmt.Errorf("restore: %w: %w", ErrDamagedBackup, err)
	}
	if err := s.db.Sync(); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

// maxFrame bounds one record batch of a backup stream. Badger's Load
// allocates whatever size a frame header claims (and panics or runs out of
// memory on garbage), so frames are checked before it sees them; real
// batches are a few MB.
const maxFrame = 256 << 20

var errNotBackup = errors.New("not a pbxgate backup (bad record framing)")

// frameCheck passes a backup stream through, reading and checking each
// frame's 8-byte little-endian length before Badger sees any of it.
type frameCheck struct {
	r      io.Reader
	hdr    [8]byte
	hdrOut int    // header bytes already handed out (8: none pending)
	remain uint64 // body bytes left of the current frame
}

func (f *frameCheck) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.hdrOut == 0 && f.remain == 0 {
		// A new frame: its whole header, checked, before anything else.
		if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, fmt.Errorf("%w: the file ends inside a record header", errNotBackup)
			}
			return 0, err // io.EOF: a clean end between frames
		}
		sz := binary.LittleEndian.Uint64(f.hdr[:])
		if sz > maxFrame {
			return 0, fmt.Errorf("%w: a record batch claims %d bytes", errNotBackup, sz)
		}
		f.remain = sz
		f.hdrOut = 8
	}
	if f.hdrOut > 0 {
		n := copy(p, f.hdr[8-f.hdrOut:])
		f.hdrOut -= n
		return n, nil
	}
	if uint64(len(p)) > f.remain {
		p = p[:f.remain]
	}
	n, err := f.r.Read(p)
	f.remain -= uint64(n)
	if err == io.EOF && f.remain > 0 {
		err = fmt.Errorf("%w: the file ends inside a record batch", errNotBackup)
	}
	return n, err
}

// BackupFile writes a backup to path atomically (temp file, fsync, rename).
func (s *Store) BackupFile(path string) (uint64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".backup-*")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	v, err := s.Backup(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return v, os.Rename(tmp.Name(), path)
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Debugf(string, ...any) {}
