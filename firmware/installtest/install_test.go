// Package installtest installs the pbxgate Debian package into a real
// Debian root (mmdebstrap) and checks files, user, units, upgrade, remove
// and purge. The maintainer scripts run for real inside the chroot.
//
// It needs root, mmdebstrap and Debian's mirror, so it runs only with
// PBXGATE_CHROOT_TEST=1 (about 1-3 minutes, mostly mmdebstrap).
// PBXGATE_CHROOT_TARBALL=FILE reuses a root made with
//
//	mmdebstrap --variant=minbase --include=systemd bookworm FILE
package installtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildDeb builds pbxgate for this machine and packages it as version.
func buildDeb(t *testing.T, work, version string) string {
	t.Helper()
	bin := filepath.Join(work, "pbxgate-"+version)
	run(t, "../..", "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/pbxgate")
	out := run(t, "../deb", "go", "run", ".", "--arch", runtime.GOARCH, "--version", version, "--binary", bin, "--out", work)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func TestInstallUpgradeRemovePurge(t *testing.T) {
	if os.Getenv("PBXGATE_CHROOT_TEST") != "1" {
		t.Skip("set PBXGATE_CHROOT_TEST=1 (root, mmdebstrap, Debian mirror) to install the package into a Debian root")
	}
	if os.Geteuid() != 0 {
		t.Fatal("PBXGATE_CHROOT_TEST=1 needs root (chroot, dpkg)")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("no Debian package for %s", runtime.GOARCH)
	}
	work := t.TempDir()
	root := filepath.Join(work, "root")
	if tarball := os.Getenv("PBXGATE_CHROOT_TARBALL"); tarball != "" {
		os.MkdirAll(root, 0o755)
		run(t, work, "tar", "-xf", tarball, "-C", root)
	} else {
		run(t, work, "mmdebstrap", "--variant=minbase", "--include=systemd", "bookworm", root)
	}
	deb1 := buildDeb(t, work, "v0.9.0")
	deb2 := buildDeb(t, work, "v0.9.1")
	in := func(args ...string) string {
		t.Helper()
		return run(t, work, "chroot", append([]string{root}, args...)...)
	}
	copyIn := func(src string) string {
		t.Helper()
		dst := "/tmp/" + filepath.Base(src)
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	exists := func(p string) bool {
		_, err := os.Lstat(filepath.Join(root, p))
		return err == nil
	}

	// Install.
	in("dpkg", "-i", copyIn(deb1))
	for _, p := range []string{"/usr/bin/pbxgate", "/usr/lib/systemd/system/pbxgate.service", "/usr/lib/udev/rules.d/70-pbxgate-modems.rules",
		"/usr/lib/sysusers.d/pbxgate.conf", "/usr/lib/tmpfiles.d/pbxgate.conf", "/etc/pbxgate/pbxgate.yaml",
		"/var/lib/pbxgate", "/var/lib/pbxgate-backups", "/var/lib/pbxgate-updates", "/var/lib/pbxgate-system",
		"/etc/systemd/system/multi-user.target.wants/pbxgate.service"} {
		if !exists(p) {
			t.Errorf("%s missing after install", p)
		}
	}
	if v := in("/usr/bin/pbxgate", "version"); !strings.Contains(v, "pbxgate v0.9.0") {
		t.Errorf("installed binary: %s", v)
	}
	if id := in("id", "pbxgate"); !strings.Contains(id, "(dialout)") {
		t.Errorf("user pbxgate not in dialout: %s", id)
	}
	if st := in("stat", "-c", "%U:%G %a", "/etc/pbxgate/pbxgate.yaml", "/var/lib/pbxgate", "/etc/pbxgate"); st != "root:pbxgate 640\npbxgate:pbxgate 750\nroot:pbxgate 750\n" {
		t.Errorf("ownership and modes:\n%s", st)
	}
	if c := in("cat", "/var/lib/dpkg/info/pbxgate.conffiles"); strings.TrimSpace(c) != "/etc/pbxgate/pbxgate.yaml" {
		t.Errorf("conffiles: %q", c)
	}
	in("runuser", "-u", "pbxgate", "--", "/usr/bin/pbxgate", "config", "check", "-c", "/etc/pbxgate/pbxgate.yaml")
	if out := in("systemd-analyze", "verify", "--man=no", "pbxgate.service", "pbxgate-update.path", "pbxgate-provision.service"); strings.Contains(out, "pbxgate") {
		t.Errorf("units in the installed system:\n%s", out)
	}

	// Local changes survive an upgrade.
	cfg := filepath.Join(root, "etc/pbxgate/pbxgate.yaml")
	b, _ := os.ReadFile(cfg)
	edited := strings.Replace(string(b), "level: info", "level: debug", 1)
	os.WriteFile(cfg, []byte(edited), 0o640)
	os.WriteFile(filepath.Join(root, "var/lib/pbxgate/MARKER"), []byte("customer data"), 0o640)
	in("dpkg", "--force-confold", "-i", copyIn(deb2))
	if v := in("/usr/bin/pbxgate", "version"); !strings.Contains(v, "pbxgate v0.9.1") {
		t.Errorf("upgraded binary: %s", v)
	}
	if b, _ := os.ReadFile(cfg); string(b) != edited {
		t.Error("upgrade replaced the edited configuration")
	}
	if !exists("/var/lib/pbxgate/MARKER") {
		t.Error("upgrade lost data")
	}

	// Remove keeps data, configuration and the user.
	in("dpkg", "-r", "pbxgate")
	if exists("/usr/bin/pbxgate") || exists("/usr/lib/systemd/system/pbxgate.service") {
		t.Error("remove left the program")
	}
	if !exists("/var/lib/pbxgate/MARKER") || !exists("/etc/pbxgate/pbxgate.yaml") {
		t.Error("remove deleted data or configuration")
	}
	in("id", "pbxgate")

	// Purge removes them.
	in("dpkg", "-P", "pbxgate")
	for _, p := range []string{"/var/lib/pbxgate", "/etc/pbxgate", "/var/lib/pbxgate-system", "/etc/systemd/system/multi-user.target.wants/pbxgate.service"} {
		if exists(p) {
			t.Errorf("%s left after purge", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); strings.Contains(string(b), "pbxgate:") {
		t.Error("user pbxgate left after purge")
	}
}
