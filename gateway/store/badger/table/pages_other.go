//go:build !linux

package table

import "os"

// pbxgate: dropPages and pageSize are not upstream (PATCHES.md); elsewhere
// than on Linux the pages stay resident, as upstream.

var pageSize = os.Getpagesize()

func dropPages([]byte) {}
