package diskguard

import (
	"errors"
	"os"
	"syscall"
)

// statfs returns the bytes available to an unprivileged user and the size
// of the file system holding dir.
func statfs(dir string) (avail, total int64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, 0, err
	}
	return int64(s.Bavail) * int64(s.Bsize), int64(s.Blocks) * int64(s.Bsize), nil
}

// fallocKeepSize is FALLOC_FL_KEEP_SIZE: allocate without changing the
// file's size.
const fallocKeepSize = 0x01

// allocate gives f's first size bytes real blocks without changing data
// already written (fallocate fills only holes). keepSize leaves the file's
// length alone (Badger's files: a concurrent truncate must not be undone).
func allocate(f *os.File, size int64, keepSize bool) error {
	if size <= 0 {
		return nil
	}
	mode := uint32(0)
	if keepSize {
		mode = fallocKeepSize
	}
	err := syscall.Fallocate(int(f.Fd()), mode, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return errNoFallocate
	}
	return err
}
