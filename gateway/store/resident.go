package store

import (
	"context"
	"time"
)

// Resident is how much of the store's memory-mapped files (tables, value
// log, memtable write-ahead logs) is resident in the process, in bytes, and
// how much of other files (the pbxgate binary).
type Resident struct {
	Store, Other int64
	Mappings     int // mappings of store files
}

// TrimOptions configure RunTrim. Zero durations take the defaults below.
type TrimOptions struct {
	// Interval between two checks of the resident file pages while the
	// daemon is busy (a read of /proc/self/statm, which walks no page
	// tables); once idle it checks idleSlowdown times less often, until the
	// pages grow again. Default 20 ms: with upstream Badger a
	// compaction made ~50 MB of table pages resident within ~170 ms
	// (docs/benchmarks.md, "Memory budget: the compaction spike"), so a
	// check every 250 ms saw the spike only after it had set the peak
	// (the patched copy no longer does; the interval was not re-measured).
	Interval time.Duration
	// Budget in bytes for the store's resident mapped pages.
	Budget int64
	// IdleAfter: once the resident file pages have not grown for this
	// long the daemon counts as idle and every page is handed back.
	// Default 30 s.
	IdleAfter time.Duration
	// ExeSettle: the binary's read-only pages are handed back this long
	// after the start — by then initialisation is over, and what it alone
	// touched need not stay resident. Default 10 s.
	ExeSettle time.Duration
	// ExeRepeat: while busy, the binary's pages are handed back this
	// often (under load they creep back up, by ~2 MB a minute in the
	// 100,000-SMS runs, to a working set of ~20 MB). Default 60 s.
	ExeRepeat time.Duration
}

// idleSlowdown: an idle daemon checks this many times less often (every
// 500 ms at the default interval) — an appliance at rest should not wake
// 50 times a second; the first growth brings the short interval back.
const idleSlowdown = 25

func (o TrimOptions) withDefaults() TrimOptions {
	if o.Interval <= 0 {
		o.Interval = 20 * time.Millisecond
	}
	if o.IdleAfter <= 0 {
		o.IdleAfter = 30 * time.Second
	}
	if o.ExeSettle <= 0 {
		o.ExeSettle = 10 * time.Second
	}
	if o.ExeRepeat <= 0 {
		o.ExeRepeat = time.Minute
	}
	return o
}

// RunTrim keeps the resident pages of the store's memory-mapped files at or
// under o.Budget bytes, checking every o.Interval, until ctx ends; once
// they have not grown for o.IdleAfter (the daemon is idle), it hands back
// all of them.
//
// Badger v4 reads its tables, and reads and writes its value log and
// memtable logs, through shared file mappings (it has no option to use
// read/write instead), and every page it touched stays in the process's
// resident set until the file is deleted: RSS grows with the database, not
// with what pbxgate uses. Upstream, a compaction also wrote its new tables
// through mappings and left its inputs resident — tens of MB within a
// fraction of a second, faster than any trim; the patched copy
// (gateway/store/badger/PATCHES.md) writes tables with write(2) and drops
// a compaction's input pages as it reads them, so what is left for the
// trimmer are the pages reads and the logs make resident. Above budget the trimmer hands the pages back (madvise MADV_PAGEOUT: the
// kernel writes back what is dirty and drops them from memory), which is
// what a cgroup's memory.high would do; pages Badger needs again are read
// back from disk. MADV_DONTNEED would keep them in the page cache, but
// Badger may unmap a table between the trimmer's look at
// /proc/self/smaps and the madvise, and the Go runtime may map anonymous
// memory at that address: DONTNEED would zero it, PAGEOUT never changes
// contents. On kernels without MADV_PAGEOUT (before Linux 5.4) or systems
// without /proc it logs once and returns.
//
// The running binary's read-only pages (code, read-only data) are handed
// back too: o.ExeSettle after the start, then — once the store went over
// budget since the last time — every o.ExeRepeat while the daemon is busy
// and when it goes idle. The pages in use come back from the file at
// once; the rest — startup code, fault-around neighbours — no longer
// count in RSS. An idle daemon checks o.Interval×idleSlowdown apart.
func (s *Store) RunTrim(ctx context.Context, o TrimOptions) {
	o = o.withDefaults()
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	start := time.Now()
	// other: resident file pages that are not the store's (the binary),
	// as of the last trim; the check compares statm against other+budget.
	var other int64
	var last int64 // last reading of residentShared
	grew := start  // last time the resident file pages grew
	idle := false  // everything was handed back since the last growth
	exeOK := true  // pageOutExecutable works here
	var exeLast time.Time
	// trimmed: the store went over budget since the binary's last
	// page-out. Only then is the binary handed back again (while busy or
	// on going idle): an idle daemon's timers touch a few pages of it,
	// which counts as growth, and handing it back after each such growth
	// would read its idle working set (~7 MB) from disk again each time.
	trimmed := false
	pageOutExe := func(now time.Time) {
		if !exeOK {
			return
		}
		exeLast, trimmed = now, false
		if n, err := pageOutExecutable(); err != nil {
			exeOK = false
			s.log.Warn("store: cannot hand back the binary's resident pages", "err", err)
		} else {
			s.log.Debug("store: handed back the binary's resident pages", "resident", n)
		}
	}
	// trim hands back every resident page of the store's files; other is
	// re-measured from /proc/self/smaps on the way (the binary's
	// resident pages change: page-outs, and the working set coming back).
	trim := func() bool {
		r, err := s.Trim(0)
		if err != nil {
			s.log.Warn("store: cannot trim resident pages of mapped files; not trimming", "err", err)
			return false
		}
		other = r.Other
		if last, err = residentShared(); err != nil {
			s.log.Warn("store: cannot watch the resident size of mapped files; not trimming", "err", err)
			return false
		}
		return true
	}
	r, err := s.Resident()
	if err != nil {
		s.log.Warn("store: cannot watch the resident size of mapped files; not trimming", "err", err)
		return
	}
	other = r.Other
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		shared, err := residentShared()
		if err != nil {
			s.log.Warn("store: cannot watch the resident size of mapped files; not trimming", "err", err)
			return
		}
		if shared > last {
			if idle {
				t.Reset(o.Interval)
			}
			grew, idle = now, false
		}
		last = shared
		if exeOK && (exeLast.IsZero() && now.Sub(start) >= o.ExeSettle ||
			!exeLast.IsZero() && !idle && trimmed && now.Sub(exeLast) >= o.ExeRepeat) {
			pageOutExe(now)
			if !trim() {
				return
			}
			continue
		}
		if !idle && now.Sub(grew) >= o.IdleAfter {
			idle = true
			t.Reset(o.Interval * idleSlowdown)
			if trimmed && now.Sub(exeLast) >= o.IdleAfter {
				pageOutExe(now)
			}
			if !trim() {
				return
			}
			continue
		}
		if shared > other+o.Budget {
			trimmed = true
			if !trim() {
				return
			}
		}
	}
}
