package config

import (
	"strings"
	"testing"
)

func TestBudgetKeys(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("memory:\n  limit: 128MiB\n  mapped_files: 0\nstore:\n  min_free_space: 100MB\n  write_floor: 8388608\n  disk_reserve: 0\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Memory.Limit != 128<<20 || cfg.Memory.MappedFiles != 0 || cfg.Store.MinFree != 100_000_000 || cfg.Store.WriteFloor != 8<<20 || cfg.Store.Reserve != 0 {
		t.Fatalf("parsed %+v %+v", cfg.Memory, cfg.Store.Disk)
	}
	if d := Default(); d.Memory.Limit != 64<<20 || d.Memory.MappedFiles != 16<<20 || d.Store.MinFree != 64<<20 {
		t.Fatalf("defaults %+v %+v", d.Memory, d.Store.Disk)
	}
}

func TestBudgetProblemsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	cases := []struct{ yaml, want string }{
		{"memory:\n  limit: lots\n", `line 2: memory.limit: "lots" is not a size`},
		{"memory:\n  limit: 8MiB\n", "line 2: memory.limit: 8MiB is too small"},
		{"memory:\n  mapped_files: 1MiB\n", "line 2: memory.mapped_files: 1MiB is too small"},
		{"store:\n  min_free_space: 10MiB\n", "line 2: store.min_free_space: 10MiB must be larger than write_floor (24MiB)"},
		{"store:\n  write_floor: 1MiB\n", "line 2: store.write_floor: 1MiB is too small"},
		{"store:\n  disk_check_interval: 1h\n", "line 2: store.disk_check_interval"},
		{"store:\n  disk_reserve: [1]\n", "cannot use a list as a size"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Size{"0": 0, "512KiB": 512 << 10, "1GiB": 1 << 30, "64MB": 64e6, "7 MiB": 7 << 20, "10B": 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1MiB", "1.5GiB", "12XB", "99999999999GiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	if s := (96 * MiB).String(); s != "96MiB" {
		t.Errorf("String = %s", s)
	}
}
