/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package y

import (
	"strconv"

	"github.com/dgraph-io/ristretto/v2/z"
)

// pbxgate: (not upstream, PATCHES.md) ristretto's z.Allocator (v2.2.0)
// is broken where int has 32 bits (linux/arm, linux/386): when an
// allocation does not fit in its current buffer, Allocate adds a buffer
// and stores uint64((bufIdx+1)<<32) as its position — the shift is done
// on an int, so the position becomes 0, and the following allocations
// start over at the beginning of the first buffer, overwriting what it
// handed out before (a table builder's first blocks: the table is written
// with garbage in them, and reading it panics in Table.block). There, Badger
// uses no allocator: a nil *z.Allocator allocates from the Go heap, which
// is what z.Calloc does anyway without jemalloc (CGO_ENABLED=0).
const allocatorWorks = strconv.IntSize == 64

// GetAllocator is pool.Get(sz, tag), or nil where z.Allocator is broken.
func GetAllocator(pool *z.AllocatorPool, sz int, tag string) *z.Allocator {
	if !allocatorWorks {
		return nil
	}
	return pool.Get(sz, tag)
}

// NewAllocator is z.NewAllocator(sz, tag), or nil where z.Allocator is
// broken.
func NewAllocator(sz int, tag string) *z.Allocator {
	if !allocatorWorks {
		return nil
	}
	return z.NewAllocator(sz, tag)
}
