package store

import (
	"errors"
	"fmt"
	"testing"
)

// TestLoaderWritesSortedStreams: keys loaded in several streams (more than
// one batch) are all there, with their values, after a reopen, and the
// store takes ordinary writes afterwards.
func TestLoaderWritesSortedStreams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, dir)
	l, err := s.NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	const n = 6_000 // 2 × 6,000 × 3 KB values: more than one 16 MiB batch
	val := func(p string, i int) []byte { return fmt.Appendf(nil, "%s%03000d", p, i) }
	for _, p := range []string{"a/", "b/"} {
		stream := uint32(p[0])
		for i := range n {
			if err := l.Put(stream, fmt.Appendf(nil, "%s%08d", p, i), val(p, i)); err != nil {
				l.Cancel()
				t.Fatal(err)
			}
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(txn *Txn) error { return txn.Set([]byte("c/after"), []byte("x")) }); err != nil {
		t.Fatalf("write after load: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	defer s.Close()
	err = s.View(func(txn *Txn) error {
		for _, p := range []string{"a/", "b/"} {
			i := 0
			err := Each(txn, p, func(k string, v []byte) error {
				if want := fmt.Sprintf("%s%08d", p, i); k != want {
					return fmt.Errorf("key %d: %q, want %q", i, k, want)
				}
				if string(v) != string(val(p, i)) {
					return fmt.Errorf("%s: wrong value", k)
				}
				i++
				return nil
			})
			if err != nil {
				return err
			}
			if i != n {
				return fmt.Errorf("%s: %d keys, want %d", p, i, n)
			}
		}
		if ok, err := Exists(txn, "c/after"); !ok || err != nil {
			return fmt.Errorf("c/after after reopen: %v %v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTxnTooBigIsReported: a transaction larger than the small profile's
// memtable (8 MiB) fails with ErrTxnTooBig, which callers turn into an
// actionable error (campaign.ErrLimit), and writes nothing.
func TestTxnTooBigIsReported(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir())
	defer s.Close()
	val := make([]byte, 100)
	err := s.Update(func(txn *Txn) error {
		for i := range 1_000_000 { // 100 MB of values: far beyond one memtable
			if err := txn.Set(fmt.Appendf(nil, "big/%07d", i), val); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, ErrTxnTooBig) {
		t.Fatalf("want ErrTxnTooBig, got %v", err)
	}
	err = s.View(func(txn *Txn) error {
		if n := Count(txn, "big/"); n != 0 {
			return fmt.Errorf("%d keys of the failed transaction were written", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
