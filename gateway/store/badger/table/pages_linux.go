package table

import (
	"os"

	"golang.org/x/sys/unix"
)

// pbxgate: dropPages and pageSize are not upstream (PATCHES.md).

var pageSize = os.Getpagesize()

// dropPages takes the pages of b, a part of a table's own shared file
// mapping, out of the process's resident set (madvise MADV_DONTNEED). The
// file's contents are kept: clean pages stay in the page cache, dirty ones
// stay dirty in it, and a later read faults them back in. Safe only while
// the table holds its mapping (a reference to the table). b must start at a
// page boundary of the mapping; a failure only leaves the pages resident.
func dropPages(b []byte) {
	if len(b) == 0 {
		return
	}
	_ = unix.Madvise(b, unix.MADV_DONTNEED)
}
