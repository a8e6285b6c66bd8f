// Package diskguard keeps pbxgate within its disk budget: it watches the free
// space of the data directory's file system and closes a gate when it runs
// low, so that work that writes (campaigns, inbound messages) waits instead of
// filling the disk, and the store refuses writes cleanly before Badger's
// memory-mapped files could fault (SIGBUS) on a full disk.
//
// Three measures work together:
//
//   - The gate closes below MinFree: readiness degrades with the reason, the
//     portal shows a banner, campaigns wait (Wait), modems leave inbound SMS
//     on the SIM (Blocked). It opens by itself when space returns.
//   - Below WriteFloor, CanWrite returns ErrDiskFull and the store refuses
//     transactions with that reason.
//   - A reserve file of Reserve bytes in the data directory is released when
//     the gate closes, so Badger can still flush its memtables and compact
//     even when another program took the rest of the disk; it is recreated
//     when space returns. Badger's write-ahead files (*.mem, *.vlog) are
//     sparse and written through mmap: the guard allocates their blocks
//     (fallocate) as soon as they appear, so a write into them never needs
//     a new block from a full disk.
//
// Free space is reported as if the reserve were held, so the numbers do not
// jump when it is released.
package diskguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrDiskFull is returned by CanWrite (and so by store writes) below the
// write floor.
var ErrDiskFull = errors.New("disk full")

// ReserveName is the reserve file in the data directory.
const ReserveName = ".pbxgate-disk-reserve"

// Config configures a Guard.
type Config struct {
	Dir string // the data directory
	// MinFree closes the gate, WriteFloor refuses writes (bytes).
	MinFree, WriteFloor int64
	// Reserve is the size of the reserve file; 0: none.
	Reserve int64
	// Interval between checks of the free space (and of new Badger files).
	Interval time.Duration
	Logger   *slog.Logger
}

// Status is the last reading.
type Status struct {
	Dir   string
	Free  int64 // bytes available to pbxgate, counting a released reserve as used
	Total int64 // size of the file system
	// Low: below MinFree (gate closed); Full: below WriteFloor.
	Low, Full bool
	// ReserveHeld tells whether the reserve file is in place.
	ReserveHeld bool
	Checked     time.Time
}

// Reason describes a low disk for readiness and logs; "" when not low.
func (s Status) Reason() string {
	if !s.Low {
		return ""
	}
	what := "disk almost full"
	if s.Full {
		what = "disk full, writes refused"
	}
	return fmt.Sprintf("%s: %s free on %s", what, MiB(s.Free), s.Dir)
}

// MiB renders bytes as "12.3 MiB".
func MiB(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// Guard watches one data directory. Its methods are safe for concurrent use.
type Guard struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	st      Status
	changed chan struct{} // closed and replaced when the gate opens or closes
	// alloc remembers the Badger files whose blocks are allocated (name → size).
	alloc map[string]int64
}

// maxAge is how old a reading CanWrite accepts before it reads again: writes
// come in bursts, statfs is cheap but not free.
const maxAge = 100 * time.Millisecond

// New checks the directory once and places the reserve file if there is
// room for it.
func New(cfg Config) (*Guard, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.WriteFloor >= cfg.MinFree {
		return nil, fmt.Errorf("diskguard: write floor %d must be below min free %d", cfg.WriteFloor, cfg.MinFree)
	}
	g := &Guard{cfg: cfg, log: cfg.Logger, changed: make(chan struct{}), alloc: map[string]int64{}}
	g.st.Dir = cfg.Dir
	// A reserve left by the last run is ours: hold it.
	if fi, err := os.Stat(g.reservePath()); err == nil && fi.Size() == cfg.Reserve && cfg.Reserve > 0 {
		g.st.ReserveHeld = true
	} else {
		_ = os.Remove(g.reservePath())
	}
	if _, err := g.Check(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *Guard) reservePath() string { return filepath.Join(g.cfg.Dir, ReserveName) }

// Check reads the free space now, moves the gate and the reserve, and
// returns the reading.
func (g *Guard) Check() (Status, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.checkLocked()
}

func (g *Guard) checkLocked() (Status, error) {
	avail, total, err := statfs(g.cfg.Dir)
	if err != nil {
		return g.st, fmt.Errorf("free space of %s: %w", g.cfg.Dir, err)
	}
	free := g.free(avail)
	wasLow := g.st.Low
	low := free < g.cfg.MinFree
	// Hysteresis: open again only with 1/8 more than the threshold, so
	// the gate does not flap at the edge.
	if wasLow && free < g.cfg.MinFree+g.cfg.MinFree/8 {
		low = true
	}
	if low && g.st.ReserveHeld {
		if err := os.Remove(g.reservePath()); err == nil || errors.Is(err, os.ErrNotExist) {
			g.st.ReserveHeld = false
			g.log.Warn("disk space low: released the disk reserve so the database can still flush", "reserve", MiB(g.cfg.Reserve), "dir", g.cfg.Dir)
		}
	}
	if !low && !g.st.ReserveHeld && g.cfg.Reserve > 0 {
		if err := g.placeReserve(); err != nil {
			g.log.Warn("disk reserve not placed", "err", err)
		} else {
			g.st.ReserveHeld = true
		}
		if a, _, err := statfs(g.cfg.Dir); err == nil {
			avail = a
			free = g.free(avail)
		}
	}
	g.st.Free, g.st.Total, g.st.Low, g.st.Checked = free, total, low, time.Now()
	g.st.Full = free < g.cfg.WriteFloor
	if low != wasLow {
		close(g.changed)
		g.changed = make(chan struct{})
		if low {
			g.log.Error("disk almost full: campaigns pause, inbound SMS stay on the SIM until space returns", "free", MiB(free), "dir", g.cfg.Dir, "min_free_space", MiB(g.cfg.MinFree))
		} else {
			g.log.Info("disk space is back: campaigns and inbound messages resume", "free", MiB(free), "dir", g.cfg.Dir)
		}
	}
	return g.st, nil
}

// free is avail counting a released reserve as used.
func (g *Guard) free(avail int64) int64 {
	if !g.st.ReserveHeld {
		avail -= g.cfg.Reserve
	}
	return max(avail, 0)
}

func (g *Guard) placeReserve() error {
	f, err := os.OpenFile(g.reservePath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = allocate(f, g.cfg.Reserve, false)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(g.reservePath())
	}
	return err
}

// Status returns the last reading.
func (g *Guard) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st
}

// Blocked reports whether the gate is closed, and why.
func (g *Guard) Blocked() (reason string, blocked bool) {
	s := g.Status()
	return s.Reason(), s.Low
}

// Wait returns nil once the gate is open, or ctx's error.
func (g *Guard) Wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		low, ch := g.st.Low, g.changed
		g.mu.Unlock()
		if !low {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// CanWrite returns nil when a store write may go ahead, or an error wrapping
// ErrDiskFull with the reason. It reads the free space again when the last
// reading is older than 100 ms, so a burst of writes notices a filling disk
// in time.
func (g *Guard) CanWrite() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.st
	if time.Since(st.Checked) > maxAge {
		if s, err := g.checkLocked(); err == nil {
			st = s
		}
	}
	if st.Full {
		return fmt.Errorf("%w: %s free on %s; pbxgate keeps %s for its database and writes again when space returns", ErrDiskFull, MiB(st.Free), st.Dir, MiB(g.cfg.WriteFloor))
	}
	return nil
}

// Run checks every Interval until ctx ends.
func (g *Guard) Run(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		g.allocateBadgerFiles()
		if _, err := g.Check(); err != nil {
			g.log.Warn("disk check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// allocateBadgerFiles gives Badger's sparse, memory-mapped write-ahead
// files (memtables *.mem, value logs *.vlog) real blocks, so writes through
// the mapping cannot fault on a full disk.
func (g *Guard) allocateBadgerFiles() {
	entries, err := os.ReadDir(g.cfg.Dir)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".mem") && !strings.HasSuffix(name, ".vlog") {
			continue
		}
		seen[name] = true
		fi, err := e.Info()
		if err != nil {
			continue
		}
		g.mu.Lock()
		done := g.alloc[name] == fi.Size()
		g.mu.Unlock()
		if done {
			continue
		}
		if err := allocateFile(filepath.Join(g.cfg.Dir, name), fi.Size()); err != nil {
			g.log.Warn("could not allocate blocks for a database file; writes may fail when the disk fills", "file", name, "err", err)
			continue
		}
		g.mu.Lock()
		g.alloc[name] = fi.Size()
		g.mu.Unlock()
	}
	g.mu.Lock()
	for name := range g.alloc {
		if !seen[name] {
			delete(g.alloc, name)
		}
	}
	g.mu.Unlock()
}

func allocateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := allocate(f, size, true); !errors.Is(err, errNoFallocate) {
		return err
	}
	return nil // nothing to do on such a file system
}

// errNoFallocate: the file system cannot allocate blocks ahead.
var errNoFallocate = errors.New("the file system does not support fallocate")
