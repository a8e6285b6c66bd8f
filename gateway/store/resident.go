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

// exeRepeatChecks is the least number of checks between two page-outs of
// the binary (10 min at 250 ms).
const exeRepeatChecks = 2400

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
// back too: once exeSettleChecks checks after the start and whenever the
// daemon goes idle. The pages in use come back from the file at once; the
// rest — startup code, fault-around neighbours — no longer count in RSS.
func (s *Store) RunTrim(ctx context.Context, interval time.Duration, budget int64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var other int64 // last measured resident size of other files
	var last int64  // last reading of residentShared
	quiet := 0      // checks in a row without growth
	checks := 0
	exeOK := true               // pageOutExecutable works here
	exeLast := -exeRepeatChecks // check of the last page-out of the binary
	pageOutExe := func() {
		// At most every exeRepeatChecks: the pages in use come back from
		// the file each time.
		if !exeOK || checks-exeLast < exeRepeatChecks {
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
		if checks == exeSettleChecks {
			pageOutExe()
		}
		shared, err := residentShared()
		if err != nil {
			s.log.Warn("store: cannot watch the resident size of mapped files; not trimming", "err", err)
			return
		}
		if shared > last {
			quiet = 0
		} else {
			quiet++
		}
		last = shared
		limit := budget
		switch {
		case quiet == idleChecks:
			limit = 0
			pageOutExe()
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
