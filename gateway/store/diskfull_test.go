package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/diskguard"
	"github.com/pbxgate/pbxgate/gateway/diskguard/diskguardtest"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// TestFullDiskRefusesWritesCleanly fills a real 160 MiB file system (tmpfs;
// skipped unless root) with store writes, as a campaign or inbound flood
// would: writes end with diskguard.ErrDiskFull naming the free space and
// the directory — no SIGBUS from Badger's mmapped files, no ENOSPC from
// inside Badger — everything written before stays readable, and writes work
// again once space is freed.
func TestFullDiskRefusesWritesCleanly(t *testing.T) {
	fs := diskguardtest.SmallFS(t, 160<<20)
	dir := filepath.Join(fs, "data")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	g, err := diskguard.New(diskguard.Config{Dir: dir, MinFree: 32 << 20, WriteFloor: 16 << 20, Reserve: 8 << 20, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	s, err := store.Open(store.Options{Dir: dir, Guard: g})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the guard allocates Badger's files
	// Another program takes most of the disk.
	filler := diskguardtest.Fill(t, fs, 48<<20)
	// Incompressible values under the value threshold (kept in the LSM).
	rng := rand.NewChaCha8([32]byte{1})
	val := make([]byte, 900)
	written := 0
	var werr error
	for i := 0; i < 200_000; i++ {
		rng.Read(val)
		werr = s.Update(func(txn *store.Txn) error {
			return txn.Set(fmt.Appendf(nil, "test/%08d", i), val)
		})
		if werr != nil {
			break
		}
		written++
	}
	if !errors.Is(werr, diskguard.ErrDiskFull) || !strings.Contains(werr.Error(), "free on "+dir) {
		t.Fatalf("after %d writes: %v; want ErrDiskFull with the directory", written, werr)
	}
	if written < 1000 {
		t.Fatalf("only %d writes before the disk counted as full", written)
	}
	t.Logf("%d writes of 900 bytes, then: %v", written, werr)
	if st := g.Status(); !st.Full || !st.Low {
		t.Fatalf("guard status %+v", st)
	}
	check := func(n int) {
		t.Helper()
		if err := s.View(func(txn *store.Txn) error {
			for _, i := range []int{0, n / 2, n - 1} {
				if _, err := txn.Get(fmt.Appendf(nil, "test/%08d", i)); err != nil {
					return fmt.Errorf("record %d: %w", i, err)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check(written)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.Update(func(txn *store.Txn) error { return txn.Set([]byte("test/after"), val) })
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still refused after space returned: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s, err = store.Open(store.Options{Dir: dir, Guard: g})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(written)
}
