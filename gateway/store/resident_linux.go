package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// residentShared is the process's resident file-backed and shared memory
// (the third field of /proc/self/statm, in pages): a cheap upper bound of
// what the store's mappings hold, read without walking page tables.
func residentShared() (int64, error) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(data)
	if len(f) < 3 {
		return 0, fmt.Errorf("/proc/self/statm: unexpected %q", data)
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

type mapping struct{ start, end uintptr }

// Resident measures the resident size of the store's mapped files and of
// other mapped files from /proc/self/smaps.
func (s *Store) Resident() (Resident, error) {
	r, _, err := s.residentMappings()
	return r, err
}

// Trim pages out the store's mapped files when they hold more than budget
// bytes of memory (see RunTrim). It returns what was resident before.
func (s *Store) Trim(budget int64) (Resident, error) {
	r, maps, err := s.residentMappings()
	if err != nil || r.Store <= budget {
		return r, err
	}
	for _, m := range maps {
		if err := pageOut(m); err != nil {
			return r, err
		}
	}
	return r, nil
}

// pageOutExecutable hands back the resident pages of the running binary's
// read-only mappings (its code and read-only data; the writable data
// segment is left alone) with MADV_PAGEOUT, and returns how many bytes were
// resident before. Much of a Go binary is resident only because something
// once touched it — package initialisation, templates and catalogues parsed
// at start, the kernel mapping the pages around each fault — and stays
// counted in the process's RSS although nothing uses it again: the pages
// still needed are read back from the file (measured in docs/benchmarks.md,
// "Memory budget: the peak").
func pageOutExecutable() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	var maps []mapping
	var resident int64
	err = eachSmaps(func(m mapping, perms, path []byte) bool {
		if string(path) != exe || len(perms) < 2 || perms[1] == 'w' {
			return false
		}
		maps = append(maps, m)
		return true
	}, func(rss int64) { resident += rss })
	if err != nil {
		return 0, err
	}
	if len(maps) == 0 {
		return 0, fmt.Errorf("/proc/self/smaps lists no read-only mapping of %s", exe)
	}
	for _, m := range maps {
		if err := pageOut(m); err != nil {
			return resident, err
		}
	}
	return resident, nil
}

// mapPrefix is the path prefix of the store's files in /proc/self/maps.
func (s *Store) mapPrefix() ([]byte, error) {
	dir, err := filepath.Abs(s.dir)
	if err != nil {
		return nil, err
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	return []byte(dir + string(filepath.Separator)), nil
}

// parseRange parses the "start-end" field of a maps or smaps header.
func parseRange(field []byte) (mapping, error) {
	lo, hi, ok := bytes.Cut(field, []byte("-"))
	start, err1 := strconv.ParseUint(string(lo), 16, 64)
	end, err2 := strconv.ParseUint(string(hi), 16, 64)
	if !ok || err1 != nil || err2 != nil {
		return mapping{}, fmt.Errorf("/proc/self/maps: bad range %q", field)
	}
	return mapping{uintptr(start), uintptr(end)}, nil
}

// pageOut: madvise(MADV_PAGEOUT) on m. A mapping Badger unmapped since
// /proc/self/maps was read fails with ENOMEM, or its range now holds
// another mapping: MADV_PAGEOUT never changes contents (anonymous pages
// would go to swap), so that race costs at most a page-in.
func pageOut(m mapping) error {
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_PAGEOUT)
	if errno == unix.EINVAL {
		return fmt.Errorf("madvise(MADV_PAGEOUT) is not supported by this kernel (Linux 5.4 or later has it): %w", errno)
	}
	return nil
}

func (s *Store) residentMappings() (Resident, []mapping, error) {
	var r Resident
	prefix, err := s.mapPrefix()
	if err != nil {
		return r, nil, err
	}
	var maps []mapping
	store := false // the current mapping is one of the store's files
	err = eachSmaps(func(m mapping, _, path []byte) bool {
		store = bytes.HasPrefix(path, prefix)
		if store {
			maps = append(maps, m)
			r.Mappings++
		}
		return len(path) > 0 && path[0] == '/'
	}, func(rss int64) {
		if store {
			r.Store += rss
		} else {
			r.Other += rss
		}
	})
	if err != nil {
		return r, nil, err
	}
	if r.Store == 0 && r.Other == 0 {
		return r, nil, errors.New("/proc/self/smaps lists no file mappings")
	}
	return r, maps, nil
}

// eachSmaps walks /proc/self/smaps: header is called with each mapping's
// range, permissions ("r-xp") and path (empty for an anonymous one), and
// rss with the resident bytes of each mapping it returned true for.
func eachSmaps(header func(m mapping, perms, path []byte) bool, rss func(bytes int64)) error {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return err
	}
	defer f.Close()
	want := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if c := line[0]; c >= '0' && c <= '9' || c >= 'a' && c <= 'f' {
			// Header: start-end perms offset dev inode [path]
			fields := bytes.Fields(line)
			if len(fields) < 5 {
				return fmt.Errorf("/proc/self/smaps: bad header %q", line)
			}
			m, err := parseRange(fields[0])
			if err != nil {
				return err
			}
			var path []byte
			if len(fields) >= 6 {
				path = line[bytes.Index(line, fields[5]):]
			}
			want = header(m, fields[1], path)
			continue
		}
		if !want || !bytes.HasPrefix(line, []byte("Rss:")) {
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.Fields(line[4:])[0]), 10, 64)
		if err != nil {
			return fmt.Errorf("/proc/self/smaps: %q: %w", line, err)
		}
		rss(kb << 10)
	}
	return sc.Err()
}
