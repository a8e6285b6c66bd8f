package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func putN(t *testing.T, s *Store, prefix string, n int) {
	t.Helper()
	if err := s.Update(func(txn *Txn) error {
		for i := range n {
			if err := SetJSON(txn, fmt.Sprintf("%s/%04d", prefix, i), map[string]int{"i": i}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func keysOf(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	if err := s.View(func(txn *Txn) error {
		return Each(txn, "", func(k string, _ []byte) error { keys = append(keys, k); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// backupOf returns a backup of a store holding n "old" records at schema 1.
func backupOf(t *testing.T, n int, schema int) []byte {
	t.Helper()
	s := openT(t, t.TempDir())
	defer s.Close()
	var ms []Migration
	for v := 1; v <= schema; v++ {
		ms = append(ms, Migration{Version: v, Name: fmt.Sprint(v)})
	}
	if err := s.Migrate(ms, nil); err != nil {
		t.Fatal(err)
	}
	putN(t, s, "old", n)
	var buf bytes.Buffer
	if _, err := s.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// live is the running daemon's store: other data, a media file beside it.
func live(t *testing.T) (string, *Store) {
	t.Helper()
	dir := t.TempDir()
	s := openT(t, dir)
	if err := s.Migrate([]Migration{{Version: 1, Name: "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	putN(t, s, "new", 50)
	if err := os.MkdirAll(filepath.Join(dir, "media"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "media", "pic.jpg"), []byte("jpeg"), 0o640); err != nil {
		t.Fatal(err)
	}
	return dir, s
}

func checkRestored(t *testing.T, dir string) {
	t.Helper()
	s := openT(t, dir)
	defer s.Close()
	keys := keysOf(t, s)
	if slices.ContainsFunc(keys, func(k string) bool { return k[:4] == "new/" }) {
		t.Fatal("records of the replaced store survived the restore")
	}
	n := 0
	for _, k := range keys {
		if len(k) > 4 && k[:4] == "old/" {
			n++
		}
	}
	if n != 300 {
		t.Fatalf("%d of 300 backed-up records after the restore", n)
	}
	if v, _ := s.SchemaVersion(); v != 1 {
		t.Fatalf("schema %d after restore", v)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "media", "pic.jpg")); err != nil || string(b) != "jpeg" {
		t.Fatalf("media file lost: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stagedDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("staging directory left behind")
	}
}

func TestStagedRestoreReplacesTheStoreAtRestart(t *testing.T) {
	ctx := context.Background()
	dir, s := live(t)
	backup := backupOf(t, 300, 1)
	if err := StageRestore(ctx, dir, bytes.NewReader(backup), 1, nil); err != nil {
		t.Fatal(err)
	}
	if !HasStagedRestore(dir) {
		t.Fatal("no staged restore reported")
	}
	if err := StageRestore(ctx, dir, bytes.NewReader(backup), 1, nil); !errors.Is(err, ErrRestorePending) {
		t.Fatalf("second upload: %v, want ErrRestorePending", err)
	}
	// The running store is untouched until the restart.
	if n := len(keysOf(t, s)); n != 51 {
		t.Fatalf("live store has %d keys while the restore waits", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done, err := ApplyStagedRestore(dir, nil)
	if err != nil || !done {
		t.Fatalf("apply: %v %v", done, err)
	}
	checkRestored(t, dir)
	if done, err := ApplyStagedRestore(dir, nil); done || err != nil {
		t.Fatalf("second apply: %v %v, want nothing to do", done, err)
	}
}

// Power lost in the middle of the swap: the next start finishes it.
func TestStagedRestoreSurvivesInterruption(t *testing.T) {
	ctx := context.Background()
	backup := backupOf(t, 300, 1)
	for _, cut := range []string{"after removing the old files", "after moving one file"} {
		t.Run(cut, func(t *testing.T) {
			dir, s := live(t)
			if err := StageRestore(ctx, dir, bytes.NewReader(backup), 1, nil); err != nil {
				t.Fatal(err)
			}
			s.Close()
			// Do by hand what ApplyStagedRestore does up to the cut.
			es, _ := os.ReadDir(dir)
			for _, e := range es {
				if !e.IsDir() && isDBFile(e.Name()) {
					os.Remove(filepath.Join(dir, e.Name()))
				}
			}
			if err := writeSynced(filepath.Join(dir, swapMarker)); err != nil {
				t.Fatal(err)
			}
			if cut == "after moving one file" {
				os.Rename(filepath.Join(dir, stagedDir, "MANIFEST"), filepath.Join(dir, "MANIFEST"))
			}
			if done, err := ApplyStagedRestore(dir, nil); err != nil || !done {
				t.Fatalf("apply after the cut: %v %v", done, err)
			}
			checkRestored(t, dir)
		})
	}
}

func TestStageRestoreRefusesBadBackups(t *testing.T) {
	ctx := context.Background()
	dir, s := live(t)
	defer s.Close()
	good := backupOf(t, 300, 1)
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"newer schema", backupOf(t, 3, 2), ErrNewerSchema},
		{"damaged", append(bytes.Clone(good[:len(good)/2]), bytes.Repeat([]byte{0xee}, 64)...), nil},
		{"not a backup", []byte("name,number\nAnna,+491701234567\n"), nil},
		{"empty", nil, nil},
	}
	for _, c := range cases {
		err := StageRestore(ctx, dir, bytes.NewReader(c.data), 1, nil)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want a refusal (%v)", c.name, err, c.want)
		}
		if HasStagedRestore(dir) {
			t.Fatalf("%s: staged anyway", c.name)
		}
		if _, err := os.Stat(filepath.Join(dir, stagedDir)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: left the staging directory", c.name)
		}
	}
	if done, err := ApplyStagedRestore(dir, nil); done || err != nil {
		t.Fatalf("apply after refusals: %v %v", done, err)
	}
	if n := len(keysOf(t, s)); n != 51 {
		t.Fatalf("live store changed: %d keys", n)
	}
}
