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

// idleChecks is how many checks in a row without growth of the resident
// mapped pages count as idle (RunTrim then hands back all of them): 30 s
// at the daemon's 250 ms.
const idleChecks = 120

// exeSettleChecks is when RunTrim hands back the binary's pages once after
// the start (60 s at the daemon's 250 ms): by then initialisation is over,
// and what it alone touched need not stay resident.
const exeSettleChecks = 240

// exeRepeatChecks is how often the binary's pages are handed back while
// the daemon runs (60 s at 250 ms): under load its resident pages creep
// back up (35–44 MB in the 100,000-SMS runs, of a working set of ~21 MB)
// and count in the peak RSS; the pages in use come back from the page
// cache (minor faults).
const exeRepeatChecks = 240

// RunTrim keeps the resident pages of the store's memory-mapped files at or
// under budget bytes, checking every interval, until ctx ends; once they
// have not grown for idleChecks checks in a row (the daemon is idle), it
// hands back all of them.
//
// Badger v4 reads and writes its tables, value log and memtable logs
// through shared file mappings (it has no option to use read/write
// instead), and every page it touched — each table it wrote by compaction
// in full — stays in the process's resident set until the file is deleted:
// RSS grows with the database, not with what pbxgate uses. Above budget the
// trimmer hands the pages back (madvise MADV_PAGEOUT: the kernel writes
// back what is dirty and drops them from memory), which is what a cgroup's
// memory.high would do; pages Badger needs again are read back from disk.
// On kernels without MADV_PAGEOUT (before Linux 5.4) or systems without
// /proc it logs once and returns.
//
// The running binary's read-only pages (code, read-only data) are handed
// back too: from exeSettleChecks checks after the start every
// exeRepeatChecks while the mapped pages grow (the daemon is busy), and
// whenever the daemon goes idle. The pages in use come
// back from the file at once; the rest — startup code, fault-around
// neighbours — no longer count in RSS.
func (s *Store) RunTrim(ctx context.Context, interval time.Duration, budget int64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var other int64 // last measured resident size of other files
	var last int64  // last reading of residentShared
	quiet := 0      // checks in a row without growth
	checks := 0
	exeOK := true               // pageOutExecutable works here
	exeLast := -exeRepeatChecks // check of the last page-out of the binary
	pageOutExe := func(gap int) {
		// At most every gap checks: the pages in use come back from the
		// file each time.
		if !exeOK || checks-exeLast < gap {
			return
		}
		exeLast = checks
		other = 0 // re-measured by the next Trim
		if n, err := pageOutExecutable(); err != nil {
			exeOK = false
			s.log.Warn("store: cannot hand back the binary's resident pages", "err", err)
		} else {
			s.log.Debug("store: handed back the binary's resident pages", "resident", n)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		checks++
		shared, err := residentShared()
		if err != nil {
			s.log.Warn("store: cannot watch the resident size of mapped files; not trimming", "err", err)
			return
		}
		if shared > last {
			quiet = 0
			if checks >= exeSettleChecks {
				// Busy: the binary's pages every exeRepeatChecks.
				pageOutExe(exeRepeatChecks)
			}
		} else {
			quiet++
		}
		last = shared
		limit := budget
		switch {
		case quiet == idleChecks:
			limit = 0
			// Just gone idle: a busy page-out is at least idleChecks
			// ago unless the daemon was busy only briefly.
			pageOutExe(idleChecks)
		case shared <= other+budget:
			continue // cheap check (statm) says the store is within budget
		}
		r, err := s.Trim(limit)
		if err != nil {
			s.log.Warn("store: cannot trim resident pages of mapped files; not trimming", "err", err)
			return
		}
		other = r.Other
		if shared, err = residentShared(); err == nil {
			last = shared
		}
	}
}
