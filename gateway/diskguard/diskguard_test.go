package diskguard_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/diskguard"
	"github.com/pbxgate/pbxgate/gateway/diskguard/diskguardtest"
)

const mib = 1 << 20

func TestGateClosesReleasesReserveAndOpensWhenSpaceReturns(t *testing.T) {
	dir := diskguardtest.SmallFS(t, 64*mib)
	g, err := diskguard.New(diskguard.Config{Dir: dir, MinFree: 24 * mib, WriteFloor: 8 * mib, Reserve: 8 * mib, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, diskguard.ReserveName)); err != nil || fi.Size() != 8*mib {
		t.Fatalf("reserve not placed: %v", err)
	}
	if _, blocked := g.Blocked(); blocked {
		t.Fatal("blocked on an empty file system")
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}

	filler := diskguardtest.Fill(t, dir, 20*mib)
	st, err := g.Check()
	if err != nil {
		t.Fatal(err)
	}
	reason, blocked := g.Blocked()
	if !blocked || !st.Low || st.Full {
		t.Fatalf("status after filling to 20 MiB free: %+v", st)
	}
	if !strings.HasPrefix(reason, "disk almost full: ") || !strings.HasSuffix(reason, " MiB free on "+dir) {
		t.Fatalf("reason %q", reason)
	}
	if _, err := os.Stat(filepath.Join(dir, diskguard.ReserveName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reserve still there with the gate closed: %v", err)
	}
	// Free space is reported as if the reserve were held: the released
	// 8 MiB are room for the database, not for more work.
	if avail := diskguardtest.Avail(t, dir); st.Free > avail-7*mib || st.Free < 19*mib {
		t.Fatalf("reported free %d, file system has %d available", st.Free, avail)
	}
	if err := g.CanWrite(); err != nil {
		t.Fatalf("writes refused above the floor: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- g.Wait(ctx) }()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned with the gate closed: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Check(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait after space returned: %v", err)
	}
	if _, blocked := g.Blocked(); blocked {
		t.Fatal("still blocked")
	}
	if fi, err := os.Stat(filepath.Join(dir, diskguard.ReserveName)); err != nil || fi.Size() != 8*mib || !g.Status().ReserveHeld {
		t.Fatalf("reserve not placed again: %v", err)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	dir := diskguardtest.SmallFS(t, 32*mib)
	diskguardtest.Fill(t, dir, 4*mib)
	g, err := diskguard.New(diskguard.Config{Dir: dir, MinFree: 16 * mib, WriteFloor: 8 * mib, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v", err)
	}
}

func TestCanWriteRefusesBelowFloor(t *testing.T) {
	dir := diskguardtest.SmallFS(t, 32*mib)
	g, err := diskguard.New(diskguard.Config{Dir: dir, MinFree: 16 * mib, WriteFloor: 8 * mib, Reserve: 4 * mib, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	filler := diskguardtest.Fill(t, dir, 2*mib)
	time.Sleep(150 * time.Millisecond) // older than CanWrite's reading age
	err = g.CanWrite()
	if !errors.Is(err, diskguard.ErrDiskFull) || !strings.Contains(err.Error(), "free on "+dir) {
		t.Fatalf("CanWrite = %v", err)
	}
	if st := g.Status(); !st.Full || !strings.HasPrefix(st.Reason(), "disk full, writes refused: ") {
		t.Fatalf("status %+v", st)
	}
	os.Remove(filler)
	time.Sleep(150 * time.Millisecond)
	if err := g.CanWrite(); err != nil {
		t.Fatalf("CanWrite after space returned: %v", err)
	}
}

// TestBadgerFilesGetBlocks: a sparse memory-mapped file like Badger's
// memtable gets its blocks, so that after another program fills the disk
// to the last byte, writing through the mapping still works instead of
// raising SIGBUS (which would kill this test binary).
func TestBadgerFilesGetBlocks(t *testing.T) {
	dir := diskguardtest.SmallFS(t, 48*mib)
	path := filepath.Join(dir, "00001.mem")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(16 * mib); err != nil { // as z.OpenMmapFile does
		t.Fatal(err)
	}
	before := diskguardtest.Avail(t, dir)
	g, err := diskguard.New(diskguard.Config{Dir: dir, MinFree: 8 * mib, WriteFloor: 4 * mib, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for diskguardtest.Avail(t, dir) > before-15*mib {
		if time.Now().After(deadline) {
			t.Fatal("the memtable file's blocks were not allocated within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if fi, _ := f.Stat(); fi.Size() != 16*mib {
		t.Fatalf("size changed to %d", fi.Size())
	}
	diskguardtest.Fill(t, dir, 0)
	if a := diskguardtest.Avail(t, dir); a != 0 {
		t.Fatalf("%d bytes still available", a)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 16*mib, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	for i := 0; i < len(m); i += 4096 {
		m[i] = 1
	}
}
