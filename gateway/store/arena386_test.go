package store

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestArenaTestsBuiltFor386: `make test` runs on 64-bit machines, where
// the arena tests (arena32_test.go) pass with or without pbxgate's change
// 4 to Badger. So that the suite notices that change going missing, this
// test builds this package's tests for linux/386 and runs those two on
// this machine (an x86-64 Linux kernel runs 386 binaries natively; it is
// skipped where it cannot). `make test-32bit` runs all of the store's
// tests for 386 and, under qemu-arm-static, for arm.
func TestArenaTestsBuiltFor386(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("SKIP: 386 binaries run natively only on linux/amd64 (this is %s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	if testing.Short() {
		t.Skip("SKIP: -short (builds the package for 386)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("SKIP: no go command on PATH to build for linux/386: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "store.386")
	build := exec.Command(goBin, "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=386")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c for linux/386: %v\n%s", err, out)
	}
	run := exec.Command(bin, "-test.run", "^(TestTablesLargerThanTheBuilderArena|TestBackupOfAValueLargerThanTheStreamArena)$", "-test.count=1", "-test.v")
	out, err := run.CombinedOutput()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("SKIP: this kernel does not run 386 binaries: %v", err)
	}
	if err != nil {
		t.Fatalf("the arena tests built for linux/386: %v\n%s", err, out)
	}
	for _, name := range []string{"TestTablesLargerThanTheBuilderArena", "TestBackupOfAValueLargerThanTheStreamArena"} {
		if !strings.Contains(string(out), "--- PASS: "+name) {
			t.Errorf("%s did not pass for linux/386:\n%s", name, out)
		}
	}
}
