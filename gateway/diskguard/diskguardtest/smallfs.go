// Package diskguardtest mounts small real file systems for tests that fill
// a disk.
package diskguardtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallFS mounts a tmpfs of size bytes in a temporary directory and returns
// its path; it is unmounted when the test ends. tmpfs behaves like a full
// disk where it matters here: writes fail with ENOSPC, and a write through
// mmap into an unallocated page of a sparse file raises SIGBUS, as on ext4.
// The test is skipped (with the reason) when not running as root or when
// mounting is not allowed (e.g. in an unprivileged container).
func SmallFS(tb testing.TB, size int64) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to mount a small tmpfs (run the tests as root, e.g. `sudo go test`, to fill a real file system)")
	}
	dir := filepath.Join(tb.TempDir(), "smallfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		tb.Skipf("cannot mount a tmpfs here (%v); this test fills a real small file system", err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still has a file open; detach lazily.
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// Fill writes a file in dir until the file system has at most leave bytes
// available (or it is full) and returns its path; remove it to give the
// space back.
func Fill(tb testing.TB, dir string, leave int64) string {
	tb.Helper()
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		tb.Fatal(err)
	}
	avail := int64(s.Bavail) * int64(s.Bsize)
	path := filepath.Join(dir, fmt.Sprintf("filler-%d", avail))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := avail - leave; n > 0; {
		chunk := buf[:min(int64(len(buf)), n)]
		w, err := f.Write(chunk)
		n -= int64(w)
		if err != nil {
			break // full
		}
	}
	return path
}

// Avail returns the bytes available on dir's file system.
func Avail(tb testing.TB, dir string) int64 {
	tb.Helper()
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		tb.Fatal(err)
	}
	return int64(s.Bavail) * int64(s.Bsize)
}
