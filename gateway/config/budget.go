package config

import (
	"fmt"
	"time"
)

// Memory is the "memory" section: the Go runtime's memory budget.
type Memory struct {
	// Limit is the soft memory limit of the Go runtime
	// (runtime/debug.SetMemoryLimit): the garbage collector works harder
	// as the heap approaches it instead of letting it double. 0 turns it
	// off. The GOMEMLIMIT environment variable, when set, wins.
	Limit Size `yaml:"limit"`
	// MappedFiles bounds how much of the store's memory-mapped files
	// (Badger's tables, value log and memtable logs) stays resident:
	// above it pbxgate hands the pages back to the kernel, which reads
	// them from disk again when needed. 0 leaves them to the kernel.
	MappedFiles Size `yaml:"mapped_files"`
}

// DefaultMemory suits a 1 GB Raspberry Pi that also runs a PBX.
// The live heap under a 100,000-SMS run stays under ~50 MiB (argon2id's
// 7 MiB and Badger's table builders included), so 64 MiB leaves the
// collector room without letting the heap double (docs/benchmarks.md,
// "Memory budget").
func DefaultMemory() Memory { return Memory{Limit: 64 * MiB, MappedFiles: 16 * MiB} }

// Validate reports problems under key (e.g. "memory").
func (m *Memory) Validate(key string) Problems {
	var ps Problems
	if m.Limit != 0 && m.Limit < 32*MiB {
		ps = append(ps, Problem{Key: key + ".limit", Msg: fmt.Sprintf("%s is too small for pbxgate; use at least 32MiB (or 0 for no limit)", m.Limit)})
	}
	if m.MappedFiles != 0 && m.MappedFiles < 4*MiB {
		ps = append(ps, Problem{Key: key + ".mapped_files", Msg: fmt.Sprintf("%s is too small: the database would read from disk all the time; use at least 4MiB (or 0 to leave it to the kernel)", m.MappedFiles)})
	}
	return ps
}

// Disk is the store's disk budget (keys of the "store" section).
type Disk struct {
	// MinFree: below this much free space on the data directory's file
	// system readiness degrades, campaigns pause and inbound SMS stay on
	// the SIM until space returns.
	MinFree Size `yaml:"min_free_space"`
	// WriteFloor: below this the store refuses writes with a "disk full"
	// error instead of letting Badger's memory-mapped files fault.
	WriteFloor Size `yaml:"write_floor"`
	// Reserve is a file of this size kept in the data directory and
	// released when free space falls under min_free_space, so that
	// Badger can still flush and compact when another program filled the
	// disk. 0: none.
	Reserve Size `yaml:"disk_reserve"`
	// CheckInterval is how often free space is read (statfs).
	CheckInterval time.Duration `yaml:"disk_check_interval"`
}

// DefaultDisk returns the disk budget defaults.
func DefaultDisk() Disk {
	return Disk{MinFree: 64 * MiB, WriteFloor: 24 * MiB, Reserve: 32 * MiB, CheckInterval: 2 * time.Second}
}

// ValidateDisk reports problems of the disk budget under key ("store").
func (d *Disk) ValidateDisk(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: key + "." + k, Msg: fmt.Sprintf(format, args...)})
	}
	if d.WriteFloor < 4*MiB {
		add("write_floor", "%s is too small; Badger needs room to flush its memtables (use at least 4MiB)", d.WriteFloor)
	}
	if d.MinFree <= d.WriteFloor {
		add("min_free_space", "%s must be larger than write_floor (%s): pbxgate pauses work before it refuses writes", d.MinFree, d.WriteFloor)
	}
	if d.CheckInterval < 100*time.Millisecond || d.CheckInterval > time.Minute {
		add("disk_check_interval", "%s is out of range; use 100ms to 1m", d.CheckInterval)
	}
	return ps
}
