package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestSecondOpenIsLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	_, err := Open(Options{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: want ErrLocked, got %v", err)
	}
}

func TestNotWritable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		// root ignores permission bits; a path under a regular file can
		// never be created, for root too.
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(Options{Dir: filepath.Join(f, "data")})
		if !errors.Is(err, ErrNotWritable) {
			t.Fatalf("want ErrNotWritable, got %v", err)
		}
		return
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: dir})
	if !errors.Is(err, ErrNotWritable) {
		t.Fatalf("want ErrNotWritable, got %v", err)
	}
}

func TestJSONHelpersAndEach(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir())
	defer s.Close()
	type rec struct{ N int }
	err := s.Update(func(txn *Txn) error {
		for i := range 5 {
			if err := SetJSON(txn, fmt.Sprintf("t/%02d", i), rec{i}); err != nil {
				return err
			}
		}
		return SetJSON(txn, "u/0", rec{99})
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	err = s.View(func(txn *Txn) error {
		if n := Count(txn, "t/"); n != 5 {
			t.Errorf("Count = %d, want 5", n)
		}
		var r rec
		if err := GetJSON(txn, "missing", &r); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing key: want ErrNotFound, got %v", err)
		}
		return Each(txn, "t/", func(k string, v []byte) error {
			var r rec
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			got = append(got, r.N)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("Each order/content = %v", got)
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	src := openT(t, t.TempDir())
	const n = 5000
	want := map[string]string{}
	err := src.Update(func(txn *Txn) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	err = src.WriteBatch(func(wb *Batch) error {
		for i := range n {
			k := fmt.Sprintf("rec/%06d", i)
			v := fmt.Sprintf("value-%d-%s", i, bytes.Repeat([]byte("x"), i%3000)) // some above the value threshold
			want[k] = v
			if err := wb.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Migrate([]Migration{{Version: 1, Name: "init"}}, nil); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "pbxgate.bak")
	if _, err := src.BackupFile(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()

	dst := filepath.Join(t.TempDir(), "restored")
	f, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Restore(context.Background(), dst, f, nil); err != nil {
		t.Fatal(err)
	}
	// Restoring over it again must be refused.
	f.Seek(0, 0)
	if err := Restore(context.Background(), dst, f, nil); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into non-empty dir: want ErrNotEmpty, got %v", err)
	}
	s := openT(t, dst)
	defer s.Close()
	got := 0
	err = s.View(func(txn *Txn) error {
		return Each(txn, "rec/", func(k string, v []byte) error {
			if want[k] != string(v) {
				return fmt.Errorf("%s: got %d bytes, want %d", k, len(v), len(want[k]))
			}
			got++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("restored %d records, want %d", got, n)
	}
	if v, _ := s.SchemaVersion(); v != 1 {
		t.Fatalf("schema version after restore = %d, want 1", v)
	}
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, dir)
	ran := map[int]int{}
	mig := func(v int) Migration {
		return Migration{Version: v, Name: fmt.Sprint("m", v), Up: func(txn *Txn) error {
			ran[v]++
			return txn.Set([]byte(fmt.Sprint("mig/", v)), []byte("x"))
		}}
	}
	backups := 0
	before := func(from, to int) error { backups++; return nil }
	if err := s.Migrate([]Migration{mig(1)}, before); err != nil {
		t.Fatal(err)
	}
	if backups != 0 {
		t.Fatalf("a new store needs no backup before migrating, got %d", backups)
	}
	if err := s.Migrate([]Migration{mig(1), mig(2), mig(3)}, before); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate([]Migration{mig(1), mig(2), mig(3)}, before); err != nil {
		t.Fatal(err)
	}
	if ran[1] != 1 || ran[2] != 1 || ran[3] != 1 || backups != 1 {
		t.Fatalf("migrations ran %v, backups %d; want each once and one backup", ran, backups)
	}
	if err := s.Migrate([]Migration{mig(1)}, nil); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("older binary on newer data: want ErrNewerSchema, got %v", err)
	}
	if err := s.Migrate([]Migration{mig(2)}, nil); err == nil {
		t.Fatal("misnumbered migration accepted")
	}
	failing := Migration{Version: 4, Name: "fails", Up: func(txn *Txn) error {
		txn.Set([]byte("mig/4"), []byte("x"))
		return errors.New("boom")
	}}
	if err := s.Migrate([]Migration{mig(1), mig(2), mig(3), failing}, nil); err == nil {
		t.Fatal("failing migration reported success")
	}
	if v, _ := s.SchemaVersion(); v != 3 {
		t.Fatalf("failed migration changed schema version to %d", v)
	}
	s.View(func(txn *Txn) error {
		if _, err := txn.Get([]byte("mig/4")); !errors.Is(err, ErrNotFound) {
			t.Errorf("failed migration left its writes behind")
		}
		return nil
	})
	s.Close()
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// A kill -9 between creating a memtable file and writing it leaves an empty
// .mem file; the store must still open and keep every record.
func TestOpenAfterCrashLeftEmptyMemtable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, dir)
	if err := s.Update(func(txn *Txn) error { return SetJSON(txn, "k", 42) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	next := 1
	for _, m := range mems {
		var n int
		fmt.Sscanf(filepath.Base(m), "%05d.mem", &n)
		next = max(next, n+1)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.mem", next)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	defer s.Close()
	var v int
	if err := s.View(func(txn *Txn) error { return GetJSON(txn, "k", &v) }); err != nil || v != 42 {
		t.Fatalf("record after recovery: %v %v", v, err)
	}
}
