package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests cover pbxgate's change 4 to Badger (badger/PATCHES.md):
// ristretto's z.Allocator loses its position where int has 32 bits
// (linux/arm GOARM=7, linux/386) once an allocation needs a second buffer,
// and overwrites what it handed out before. They pass on 64-bit platforms
// either way; built for 386 or arm (`make test-32bit`) they fail without
// the change.

// valueFor is the 512-byte value of key i: incompressible, and different
// for every key, so a block overwritten by another one is noticed.
func valueFor(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 32))
	v := make([]byte, 512)
	for j := range v {
		v[j] = byte(rng.Uint32())
	}
	return v
}

// TestTablesLargerThanTheBuilderArena: with the small profile a flushed
// memtable becomes a table whose blocks (4 KiB + 256 B reserved each) need
// more than the table builder's first arena buffer (2 × baseTable). Every
// value written must read back the same, after the flushes and after a
// compaction of everything into one level. Without the change, on 32-bit
// Badger panics in Table.block (slice bounds out of range) or returns
// other keys' bytes.
func TestTablesLargerThanTheBuilderArena(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	const n = 24000 // ~12 MB of values: 5–6 memtables flushed
	for i := 0; i < n; {
		err := s.Update(func(txn *Txn) error {
			for end := min(i+200, n); i < end; i++ {
				if err := txn.Set(fmt.Appendf(nil, "arena/%08d", i), valueFor(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DB().Sync(); err != nil {
		t.Fatal(err)
	}
	// The test means something only if a table crossed into a second
	// buffer: its blocks, as reserved, took more than 2 × baseTable.
	largest := largestTable(t, dir)
	if blocks := (largest + 4095) / 4096; int64(blocks*(4096+256)) <= 2*small.baseTable {
		t.Fatalf("largest table %d bytes (%d blocks): its builder stays in one arena buffer of %d bytes; the test needs more", largest, blocks, 2*small.baseTable)
	}
	check := func(when string) {
		t.Helper()
		got := 0
		err := s.View(func(txn *Txn) error {
			return Each(txn, "arena/", func(key string, val []byte) error {
				var i int
				if _, err := fmt.Sscanf(key, "arena/%08d", &i); err != nil {
					return err
				}
				if !bytes.Equal(val, valueFor(i)) {
					return fmt.Errorf("%s: the value read back differs from the one written", key)
				}
				got++
				return nil
			})
		})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if got != n {
			t.Fatalf("%s: read %d values back; want %d", when, got, n)
		}
	}
	check("after the flushes")
	if err := s.DB().Flatten(1); err != nil {
		t.Fatal(err)
	}
	check("after Flatten")
}

// largestTable is the size of the largest table file (.sst) in dir.
func largestTable(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	largest := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sst") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, int(fi.Size()))
	}
	return largest
}

// TestBackupOfAValueLargerThanTheStreamArena: a backup streams each key
// through an allocator of 1 MiB that is reset per key; a 1.5 MiB value
// makes it add a second buffer. The restored store must hold the same key,
// value and neighbours. Without the change, on 32-bit the key and metadata
// copied after the value overwrite the start of the first buffer.
func TestBackupOfAValueLargerThanTheStreamArena(t *testing.T) {
	t.Parallel()
	src := openT(t, t.TempDir())
	big := make([]byte, 3<<19) // 1.5 MiB
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	want := map[string][]byte{"big/a": valueFor(1), "big/b": big, "big/c": valueFor(2)}
	for k, v := range want {
		if err := src.Update(func(txn *Txn) error { return txn.Set([]byte(k), v) }); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(t.TempDir(), "pbxgate.bak")
	// Without the change the backup loops on the overwritten records on
	// 32-bit: a bound turns that into a failure instead of the test
	// binary's timeout (this is no speed check).
	done := make(chan error, 1)
	go func() {
		_, err := src.BackupFile(backup)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the backup of 3 keys did not finish within 2 minutes")
	}
	src.Close()

	dst := filepath.Join(t.TempDir(), "restored")
	f, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Restore(context.Background(), dst, f, nil); err != nil {
		t.Fatal(err)
	}
	s := openT(t, dst)
	defer s.Close()
	got := map[string][]byte{}
	err = s.View(func(txn *Txn) error {
		return Each(txn, "big/", func(k string, v []byte) error {
			got[k] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("restored %d keys under big/; want %d", len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("%s: restored %d bytes that differ from the %d written", k, len(got[k]), len(v))
		}
	}
}
