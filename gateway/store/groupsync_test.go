package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A waiter whose commit came while a sync was running must not be
// released by that sync (it may have started before the commit), only by
// the next one — the group-commit rule.
func TestGroupSyncWaitsForASyncThatStartedAfterIt(t *testing.T) {
	t.Parallel()
	g := newGroupSync()
	release := make(chan struct{})
	var calls sync.Mutex
	n := 0
	slow := func() error {
		calls.Lock()
		n++
		first := n == 1
		calls.Unlock()
		if first {
			<-release
		}
		return nil
	}
	firstDone := make(chan error, 1)
	go func() { firstDone <- g.wait(slow) }()
	// Wait until the first sync runs.
	for {
		g.mu.Lock()
		running := g.running
		g.mu.Unlock()
		if running {
			break
		}
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { second <- g.wait(slow) }()
	select {
	case <-second:
		t.Fatal("the second waiter returned while only a sync older than its call had run")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	calls.Lock()
	defer calls.Unlock()
	if n != 2 {
		t.Fatalf("syncs run: %d, want 2 (the second waiter needs one of its own)", n)
	}
}

// Many writers waiting at once share syncs: fewer syncs than waiters, and
// every waiter is covered by one that started after it came.
func TestGroupSyncSharesOneSyncAmongConcurrentWaiters(t *testing.T) {
	t.Parallel()
	g := newGroupSync()
	var mu sync.Mutex
	n := 0
	gate := make(chan struct{})
	syncFn := func() error {
		mu.Lock()
		n++
		mu.Unlock()
		<-gate
		return nil
	}
	const waiters = 50
	var wg sync.WaitGroup
	// One sync is running (blocked on gate) while 50 others arrive.
	wg.Add(1)
	go func() { defer wg.Done(); _ = g.wait(syncFn) }()
	for {
		mu.Lock()
		started := n
		mu.Unlock()
		if started == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for range waiters {
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.wait(syncFn) }()
	}
	time.Sleep(20 * time.Millisecond) // let them park behind the running sync
	close(gate)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if n > 3 {
		t.Fatalf("%d syncs for %d concurrent waiters; want them to share (at most 3)", n, waiters+1)
	}
}

// A sync's error reaches every waiter it covered.
func TestGroupSyncErrorReachesWaiters(t *testing.T) {
	t.Parallel()
	g := newGroupSync()
	boom := errors.New("disk gone")
	if err := g.wait(func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want %v", err, boom)
	}
	// The next, successful sync clears it for later callers.
	if err := g.wait(func() error { return nil }); err != nil {
		t.Fatalf("after a good sync: %v", err)
	}
}

// waitWithin rides on a sync somebody else runs instead of running one
// itself.
func TestGroupSyncWithinRidesOnAnotherSync(t *testing.T) {
	t.Parallel()
	g := newGroupSync()
	var mu sync.Mutex
	n := 0
	syncFn := func() error { mu.Lock(); n++; mu.Unlock(); return nil }
	done := make(chan error, 1)
	go func() { done <- g.waitWithin(syncFn, time.Hour) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("waitWithin returned before any sync ran")
	default:
	}
	if err := g.wait(syncFn); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waitWithin did not return after another caller's sync")
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return n }
	if c := count(); c != 1 {
		t.Fatalf("syncs: %d, want 1 (shared)", c)
	}
	// Alone, it runs the sync itself once the delay is over.
	if err := g.waitWithin(syncFn, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if count() != 2 {
		t.Fatalf("syncs: %d, want 2", n)
	}
}

// With sync_writes, Update returns after a group sync; concurrent Updates
// on a real store share syncs, and everything they wrote is there after a
// reopen.
func TestUpdateGroupCommitOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, dir)
	const writers = 64
	before := s.Syncs()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Update(func(txn *Txn) error { return SetJSON(txn, fmt.Sprintf("t/%03d", i), i) })
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	syncs := s.Syncs() - before
	if syncs == 0 || syncs > writers {
		t.Fatalf("%d syncs for %d Updates", syncs, writers)
	}
	t.Logf("%d Updates, %d group syncs", writers, syncs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	defer s.Close()
	err := s.View(func(txn *Txn) error {
		if n := Count(txn, "t/"); n != writers {
			return fmt.Errorf("%d keys after reopen, want %d", n, writers)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// UpdateNoSync (and UpdateCtx with DeferSync) commit without a sync of
// their own; a background sync follows within lazyWindow.
func TestUpdateNoSyncIsSyncedSoon(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir())
	defer s.Close()
	s.lazyMu.Lock()
	s.lazyWindow = time.Hour // no background sync while the first part looks
	s.lazyMu.Unlock()
	before := s.Syncs()
	if err := s.UpdateCtx(DeferSync(context.Background()), func(txn *Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs(); got != before {
		t.Fatalf("a deferred write ran %d syncs before returning", got-before)
	}
	if err := s.View(func(txn *Txn) error { _, err := txn.Get([]byte("k")); return err }); err != nil {
		t.Fatalf("committed write not visible: %v", err)
	}
	// With the real window a background sync follows.
	s.lazyMu.Lock()
	s.lazyTimer.Stop()
	s.lazyTimer, s.lazyWindow = nil, 0
	s.lazyMu.Unlock()
	if err := s.UpdateNoSync(func(txn *Txn) error { return txn.Set([]byte("k1"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Syncs() == before {
		if time.Now().After(deadline) {
			t.Fatal("no background sync after a deferred write")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A plain Update syncs.
	before = s.Syncs()
	if err := s.UpdateCtx(context.Background(), func(txn *Txn) error { return txn.Set([]byte("k2"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if s.Syncs() == before {
		t.Fatal("Update returned without a sync")
	}
}

// Without sync_writes nothing waits for a sync (the store behaves as
// before), but Sync still syncs.
func TestNoSyncWritesRunsNoGroupSync(t *testing.T) {
	t.Parallel()
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 10 {
		if err := s.Update(func(txn *Txn) error { return SetJSON(txn, fmt.Sprint("k", i), i) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Syncs(); n != 0 {
		t.Fatalf("%d syncs with sync_writes off", n)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := s.Syncs(); n != 1 {
		t.Fatalf("Sync ran %d syncs, want 1", n)
	}
}

// syncAll writes back every memtable log and the value log: a rotated-out
// memtable Badger no longer syncs itself included. Values of 1 KB and more
// go to the value log; enough of them rotate the 8 MB memtable.
func TestSyncAllCoversEveryLogFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	big := []byte(strings.Repeat("x", 2048))
	mems := map[int]bool{}
	for i := range 200 {
		if err := s.Update(func(txn *Txn) error {
			for j := range 50 {
				if err := txn.Set(fmt.Appendf(nil, "b/%04d/%02d", i, j), big); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// The round of this Update covered the newest files of the
		// directory without listing it again (rotations found by number).
		vlog, mem := newestLogs(t, dir)
		lf := &s.logFiles
		if got := lf.vlogs[len(lf.vlogs)-1]; got != vlog {
			t.Fatalf("update %d: newest value log synced %d, directory has %d", i, got, vlog)
		}
		if got := lf.mems[len(lf.mems)-1]; got != mem {
			t.Fatalf("update %d: newest memtable synced %d, directory has %d", i, got, mem)
		}
		mems[mem] = true
	}
	if len(mems) < 2 {
		t.Fatalf("the memtable never rotated (%v): the test proves nothing", mems)
	}
	if n := s.logFiles.lists; n != 1 {
		t.Fatalf("data directory listed %d times, want once", n)
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	newest, mem := -1, false
	for _, e := range es {
		if f, ok := strings.CutSuffix(e.Name(), ".vlog"); ok {
			var id int
			if _, err := fmt.Sscanf(f, "%d", &id); err == nil {
				newest = max(newest, id)
			}
		}
		mem = mem || filepath.Ext(e.Name()) == ".mem"
	}
	if newest < 0 || !mem {
		t.Fatalf("expected .vlog and .mem files in %s", dir)
	}
	if err := s.syncAll(); err != nil {
		t.Fatalf("syncAll: %v", err)
	}
	if s.vlogSynced != newest {
		t.Fatalf("newest value log synced: %d, want %d", s.vlogSynced, newest)
	}
}

// newestLogs is the highest value-log and memtable file number in dir.
func newestLogs(t *testing.T, dir string) (vlog, mem int) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	vlog, mem = -1, -1
	for _, e := range es {
		var id int
		if f, ok := strings.CutSuffix(e.Name(), ".vlog"); ok {
			if _, err := fmt.Sscanf(f, "%d", &id); err == nil {
				vlog = max(vlog, id)
			}
		} else if f, ok := strings.CutSuffix(e.Name(), ".mem"); ok {
			if _, err := fmt.Sscanf(f, "%d", &id); err == nil {
				mem = max(mem, id)
			}
		}
	}
	return vlog, mem
}

// Fsyncs counts the fdatasync calls of the group syncs: one per log file a
// sync covers — in a fresh store the value log and the memtable log.
func TestFsyncsCounted(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir())
	defer s.Close()
	s.logFiles.mtimeTracks = false // every round syncs the value log (see TestValueLogSyncedOnlyWhenWritten)
	syncs, fsyncs := s.Syncs(), s.Fsyncs()
	for i := range 3 {
		if err := s.Update(func(txn *Txn) error { return SetJSON(txn, fmt.Sprintf("f/%d", i), i) }); err != nil {
			t.Fatal(err)
		}
	}
	ds, df := s.Syncs()-syncs, s.Fsyncs()-fsyncs
	if ds != 3 || df != 2*ds {
		t.Fatalf("%d group syncs made %d fdatasync calls, want 3 and two each", ds, df)
	}
}

// A group sync leaves out the value log when nothing was written to it
// since the round that last synced it (every value under the threshold
// goes to the memtable log only): one fdatasync per round instead of two.
// A value at or above the threshold is in the value log, and the next
// round syncs it — every round does until one that synced it started
// more than the margin after its mtime.
func TestValueLogSyncedOnlyWhenWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	if !s.logFiles.mtimeTracks {
		t.Skipf("the file system of %s does not stamp mapped writes; the value log is always synced", dir)
	}
	margin := s.logFiles.vlogMargin
	if margin > vlogMarginFine {
		t.Skipf("the file system of %s keeps whole seconds: the test would take too long", dir)
	}
	small := func(i int) {
		t.Helper()
		if err := s.Update(func(txn *Txn) error { return SetJSON(txn, fmt.Sprintf("s/%d", i), i) }); err != nil {
			t.Fatal(err)
		}
	}
	// fsyncsOf is how many fdatasync calls the round of one small update made.
	fsyncsOf := func(i int) uint64 {
		t.Helper()
		f := s.Fsyncs()
		small(i)
		return s.Fsyncs() - f
	}
	if n := fsyncsOf(0); n != 2 {
		t.Fatalf("first round: %d fdatasync calls, want 2 (value log and memtable log)", n)
	}
	time.Sleep(2 * margin)
	if n := fsyncsOf(1); n != 2 {
		// The file's mtime (created at Open) is within the margin of the
		// first round's start: synced again.
		t.Logf("second round: %d fdatasync calls", n)
	}
	time.Sleep(2 * margin)
	for i := range 5 {
		if n := fsyncsOf(2 + i); n != 1 {
			t.Fatalf("round %d with only small values: %d fdatasync calls, want 1 (memtable log only)", i, n)
		}
	}
	// A large value goes to the value log: the next round must sync it.
	big := []byte(strings.Repeat("v", 64<<10))
	f := s.Fsyncs()
	if err := s.Update(func(txn *Txn) error { return txn.Set([]byte("big"), big) }); err != nil {
		t.Fatal(err)
	}
	if n := s.Fsyncs() - f; n != 2 {
		t.Fatalf("round after a value-log write: %d fdatasync calls, want 2", n)
	}
	// The round that synced it started right after the write, within the
	// margin of its mtime: the next round syncs it once more (and starts
	// more than the margin after the write); the one after that skips it.
	time.Sleep(2 * margin)
	fsyncsOf(10)
	if n := fsyncsOf(11); n != 1 {
		t.Fatalf("second round after the margin: %d fdatasync calls, want 1", n)
	}
	// Written again later (a page the last sync cleaned): synced again.
	f = s.Fsyncs()
	if err := s.Update(func(txn *Txn) error { return txn.Set([]byte("big2"), big) }); err != nil {
		t.Fatal(err)
	}
	if n := s.Fsyncs() - f; n != 2 {
		t.Fatalf("round after a second value-log write: %d fdatasync calls, want 2", n)
	}
	if err := s.View(func(txn *Txn) error {
		it, err := txn.Get([]byte("big2"))
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		if string(v) != string(big) {
			return fmt.Errorf("value of %d bytes read back", len(v))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The probe the store runs at Open finds what the kernel does in the test
// directory (ext4 and the like stamp mapped writes); a directory it cannot
// write in disables the skip.
func TestMmapWritesStampMtimeProbe(t *testing.T) {
	t.Parallel()
	if ok, _ := mmapWritesStampMtime(filepath.Join(t.TempDir(), "missing")); ok {
		t.Fatal("a probe that could not run said yes")
	}
	dir := t.TempDir()
	ok, fine := mmapWritesStampMtime(dir)
	t.Logf("stamps in %s: %v, fraction of a second: %v", dir, ok, fine)
}
