package store

import (
	"errors"
	"fmt"
	"testing"
)

type refuse struct{ err error }

func (r refuse) CanWrite() error { return r.err }

// A batch larger than one Badger transaction is committed in several, all
// of it readable after a reopen; with SyncWrites it costs one group sync;
// a refusing Guard stops it before anything is written.
func TestWriteBatchSpansTransactionsAndSyncsOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40_000 // ~ 5 MB: several transactions at the small profile's limits
	val := make([]byte, 120)
	syncs := s.Syncs()
	var inner int
	err = s.WriteBatch(func(b *Batch) error {
		for i := range n {
			if err := b.Set(fmt.Appendf(nil, "batch/%06d", i), val); err != nil {
				return err
			}
		}
		inner = b.commits
		return nil
	})
	if inner < 2 {
		t.Errorf("transactions committed inside the batch: %d, want several", inner)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs() - syncs; got != 1 {
		t.Errorf("syncs for one batch: %d, want 1", got)
	}
	if err := s.WriteBatch(func(b *Batch) error { return b.Delete([]byte("batch/000000")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir, Guard: refuse{errors.New("disk full")}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var count int
	if err := s.View(func(txn *Txn) error { count = Count(txn, "batch/"); return nil }); err != nil {
		t.Fatal(err)
	}
	if count != n-1 {
		t.Fatalf("keys after reopen: %d, want %d", count, n-1)
	}
	called := false
	err = s.WriteBatch(func(*Batch) error { called = true; return nil })
	if err == nil || called {
		t.Fatalf("guard refused: err %v, fn called %v", err, called)
	}
}
