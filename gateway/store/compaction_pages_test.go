//go:build linux

package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// tableResident sums the resident size (Rss in /proc/self/smaps) of the
// store's table files (*.sst) mapped into this process, and counts their
// mappings. Only this store's directory counts: other tests' stores may be
// open at the same time.
func tableResident(t *testing.T, s *Store) (resident int64, tables int) {
	t.Helper()
	prefix, err := s.mapPrefix()
	if err != nil {
		t.Fatal(err)
	}
	err = eachSmaps(func(_ mapping, _, path []byte) bool {
		mine := bytes.HasPrefix(path, prefix) && bytes.HasSuffix(path, []byte(".sst"))
		if mine {
			tables++
		}
		return mine
	}, func(rss int64) { resident += rss })
	if err != nil {
		t.Fatal(err)
	}
	return resident, tables
}

// fillSeeded writes n values of 512 bytes under "test/%08d", each derived
// from its index, in batches of 200 and in a shuffled order, so that the
// memtables are flushed into tables that each span the whole key range and
// compactions rewrite (read) the tables they overlap instead of moving
// them; checkSeeded reads them back.
func fillSeeded(t *testing.T, s *Store, n int) {
	t.Helper()
	order := rand.New(rand.NewPCG(3, 4)).Perm(n)
	for i := 0; i < n; {
		err := s.Update(func(txn *Txn) error {
			for j := 0; j < 200 && i < n; j++ {
				k := order[i]
				if err := txn.Set(seededKey(k), seededValue(k)); err != nil {
					return err
				}
				i++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func seededKey(i int) []byte { return fmt.Appendf(nil, "test/%08d", i) }

func seededValue(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	v := make([]byte, 512)
	for j := range v {
		v[j] = byte(rng.Uint32())
	}
	return v
}

func checkSeeded(t *testing.T, s *Store, n int) {
	t.Helper()
	got := 0
	if err := s.View(func(txn *Txn) error {
		return Each(txn, "test/", func(key string, val []byte) error {
			if key != string(seededKey(got)) {
				return fmt.Errorf("key %d is %q; want %q", got, key, seededKey(got))
			}
			if !bytes.Equal(val, seededValue(got)) {
				return fmt.Errorf("%s: value differs from what was written", key)
			}
			got++
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("read %d values back; want %d", got, n)
	}
}

// TestCompactionLeavesTablePagesOut: Badger writes every table it builds
// through a fresh mapping and reads a compaction's input tables through
// theirs; upstream, every page of both stays resident until the table is
// deleted, so a compaction raised RSS by tens of MB (docs/benchmarks.md,
// "Memory budget: the compaction spike"). The patched copy
// (gateway/store/badger, PATCHES.md) drops the pages of a new table once
// it is synced and those of an input once the compaction read past them.
// After ~24 MB written and a forced compaction of everything into one
// level (db.Flatten), and while it runs (sampled every millisecond), the
// table files' resident pages stay under a bound of a few pages per table
// (the index and the first and last blocks, read when a table is opened,
// with the kernel's fault-around of 64 KiB each) plus the reading
// compactions' drop chunks — a quarter of the tables' size here — and all
// data reads back after reopening.
func TestCompactionLeavesTablePagesOut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resident pages are measured through /proc/self/smaps (Linux)")
	}
	dir := t.TempDir()
	s := openT(t, dir)
	const n = 48_000 // × 512 bytes: ~24 MB
	var peak, peakTables int64
	var mu sync.Mutex
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			r, n := tableResident(t, s)
			mu.Lock()
			if r > peak {
				peak, peakTables = r, int64(n)
			}
			mu.Unlock()
		}
	}()
	fillSeeded(t, s, n)
	if err := s.DB().Flatten(2); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-sampled
	resident, tables := tableResident(t, s)
	var size int64
	for _, ti := range s.DB().Tables() {
		size += int64(ti.OnDiskSize)
	}
	t.Logf("after Flatten: %d tables, %d kB on disk, %d kB resident; peak while writing and compacting %d kB in %d tables",
		tables, size>>10, resident>>10, peak>>10, peakTables)
	if tables == 0 || size < 16<<20 {
		t.Fatalf("%d tables of %d bytes: want more than 16 MB of tables for this test to mean anything", tables, size)
	}
	// Upstream leaves every page of the new tables resident: size.
	if bound := size / 4; resident > bound {
		t.Errorf("table files hold %d kB resident after the compaction; want at most %d kB (a quarter of their %d kB)", resident>>10, bound>>10, size>>10)
	}
	if bound := size / 4; peak > bound {
		t.Errorf("table files held up to %d kB resident while writing and compacting; want at most %d kB (a quarter of their %d kB)", peak>>10, bound>>10, size>>10)
	}
	checkSeeded(t, s, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	defer s.Close()
	checkSeeded(t, s, n)
}
