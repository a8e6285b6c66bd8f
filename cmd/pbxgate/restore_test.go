package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A backup restored from the portal's API: the daemon checks it, saves the
// current data, restarts in place (same PID, same address) into the
// backup's data, and the saved file holds what was replaced.
func TestRestoreUploadRestartsIntoBackup(t *testing.T) {
	t.Parallel()
	r := startRestartable(t)
	p, cli, work := r.p, r.cli, t.TempDir()
	cli("a long enough password\n", "user", "add", "carla", "--role", "operator", "--password-stdin")
	backup := filepath.Join(work, "gw.pbxbak")
	cli("", "backup", backup)
	cli("another long password\n", "user", "add", "dora", "--role", "operator", "--password-stdin")
	post := func(body []byte) (int, string) {
		t.Helper()
		return r.call("POST", "/api/v1/system/restore", "application/octet-stream", body)
	}
	// Not a backup: refused, nothing restarts.
	if code, body := post([]byte("name;phone\nAnna;0171 1234567\n")); code != http.StatusUnprocessableEntity || !strings.Contains(body, "restore_invalid") {
		t.Fatalf("CSV as backup: %d %s", code, body)
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	code, body := post(data)
	if code != http.StatusAccepted || !strings.Contains(body, "before-restore-") {
		t.Fatalf("restore: %d %s", code, body)
	}

	r.restarted(2)
	if p.cmd.Process.Pid != pid || p.cmd.ProcessState != nil {
		t.Fatal("the daemon is not the same process after the restart")
	}
	if !strings.Contains(p.log(), "store restored from the uploaded backup") {
		t.Fatalf("no restore in the log:\n%s", p.log())
	}
	users := cli("", "user", "list")
	if !strings.Contains(users, "carla") || strings.Contains(users, "dora") {
		t.Fatalf("users after the restore:\n%s", users)
	}
	// The replaced data was saved first: dora is in that file.
	saved, _ := filepath.Glob(filepath.Join(filepath.Dir(r.dataDir), "data-backups", "before-restore-*.pbxbak"))
	if len(saved) != 1 {
		t.Fatalf("saved backups: %v", saved)
	}
	old := filepath.Join(work, "old")
	if _, stderr, code := runPbxgate(t, "", "restore", "--data", old, saved[0]); code != 0 {
		t.Fatalf("restore the saved data: %s", stderr)
	}
	if out, _, _ := runPbxgate(t, "", "user", "list", "--data", old); !strings.Contains(out, "dora") {
		t.Fatalf("saved data lacks the replaced user:\n%s", out)
	}
	p.stop(t)
}
