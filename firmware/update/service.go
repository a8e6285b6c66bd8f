package update

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Systemd controls the service through systemctl.
type Systemd struct {
	Unit string // e.g. pbxgate.service
}

// Stop stops the unit and waits for it (systemctl stop is synchronous).
func (s Systemd) Stop(ctx context.Context) error { return systemctl(ctx, "stop", s.Unit) }

// Start starts the unit; with Type=notify it returns once the daemon said
// READY=1, or fails if it exited first.
func (s Systemd) Start(ctx context.Context) error { return systemctl(ctx, "start", s.Unit) }

func systemctl(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// DropIn is the systemd drop-in that makes the service start the binary in
// the current slot instead of the packaged /usr/bin/pbxgate.
func DropIn(root, config string) string {
	bin := filepath.Join(root, currentLink, BinaryName)
	return fmt.Sprintf(`# Written by pbxgate update: run the binary of the current A/B slot.
[Service]
ExecStartPre=
ExecStartPre=%[1]s config check -c %[2]s
ExecStart=
ExecStart=%[1]s run -c %[2]s
`, bin, config)
}

// EnsureDropIn writes the drop-in at path when it differs and reloads
// systemd. It reports whether it changed anything.
func EnsureDropIn(ctx context.Context, path, root, config string) (bool, error) {
	want := DropIn(root, config)
	if got, err := os.ReadFile(path); err == nil && string(got) == want {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
		return false, err
	}
	return true, systemctl(ctx, "daemon-reload")
}
