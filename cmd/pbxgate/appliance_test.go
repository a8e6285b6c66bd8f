package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/firmware/provision"
)

// applianceCLI runs one command in-process.
func applianceCLI(t *testing.T, stdin string, environ []string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb, stdin: strings.NewReader(stdin), environ: environ}
	code := runCLI(context.Background(), env, args)
	return out.String(), errb.String(), code
}

func TestBundleCommands(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "release.key"), filepath.Join(dir, "release.pub")
	if _, e, code := applianceCLI(t, "", nil, "bundle", "keygen", "--private", priv, "--public", pub); code != 0 {
		t.Fatalf("keygen: %s", e)
	}
	bin := filepath.Join(dir, "pbxgate")
	os.WriteFile(bin, bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 1000), 0o755)
	b := filepath.Join(dir, "pbxgate-v2.0.0-arm64.pbxup")
	if _, e, code := applianceCLI(t, "", nil, "bundle", "sign", "--key", priv, "--version", "v2.0.0", "--arch", "arm64", "--min-version", "v1.0.0", "--out", b, bin); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	out, e, code := applianceCLI(t, "", nil, "bundle", "verify", "--key", pub, "--arch", "arm64", "--installed", "v1.5.0", b)
	if code != 0 || !strings.Contains(out, "OK") || !strings.Contains(out, "min version:  v1.0.0") {
		t.Fatalf("verify: %d %s %s", code, out, e)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--arch", "armhf"}, "another architecture"},
		{[]string{"--installed", "v2.1.0"}, "not newer"},
		{[]string{"--installed", "v0.5.0"}, "minimum version"},
	} {
		args := append([]string{"bundle", "verify", "--key", pub}, c.args...)
		_, e, code := applianceCLI(t, "", nil, append(args, b)...)
		if code != 1 || !strings.Contains(e, c.want) {
			t.Fatalf("%v: code %d, %q", c.args, code, e)
		}
	}
	if _, e, code := applianceCLI(t, "", nil, "bundle", "sign", "--key", priv, "--version", "v2.0.0", "--arch", "x86", "--out", b, bin); code != 2 || !strings.Contains(e, "--arch") {
		t.Fatalf("bad arch: %d %s", code, e)
	}
}

func TestProvisionCommands(t *testing.T) {
	dir := t.TempDir()
	boot, etc, data := filepath.Join(dir, "boot"), filepath.Join(dir, "etc"), filepath.Join(dir, "data")
	os.MkdirAll(boot, 0o755)
	os.MkdirAll(etc, 0o755)
	example, err := os.ReadFile("../../gateway/config/pbxgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(etc, "pbxgate.yaml")
	os.WriteFile(cfg, example, 0o640)
	environ := []string{"PBXGATE_SIP_PASSWORD=pbx-secret-9"}
	_, e, code := applianceCLI(t, "a long admin password\n", environ, "provision", "--boot", boot, "--admin-password-stdin",
		"--region", "AT", "--timezone", "Europe/Vienna", "--pbx-registrar", "127.0.0.1:5060", "--pbx-user", "gw",
		"--modem", "ec25-1,867698041234567,1234")
	if code != 0 {
		t.Fatalf("provision: %s", e)
	}
	text, _ := os.ReadFile(filepath.Join(boot, provision.FileName))
	if !strings.Contains(string(text), "$argon2id$") || strings.Contains(string(text), "a long admin password") {
		t.Fatalf("provisioning file must hold the hash, not the password:\n%s", text)
	}
	out, e, code := applianceCLI(t, "", nil, "provision", "apply", "--boot", boot, "-c", cfg, "--env", filepath.Join(etc, "pbxgate.env"), "--data", data, "--system-root", "")
	if code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("apply: %d %s %s", code, out, e)
	}
	env, _ := os.ReadFile(filepath.Join(etc, "pbxgate.env"))
	if !strings.Contains(string(env), "PBXGATE_SIP_PASSWORD='pbx-secret-9'") || !strings.Contains(string(env), "PBXGATE_MODEM_PIN_EC25_1='1234'") {
		t.Fatalf("env file:\n%s", env)
	}
	if out, _, code := applianceCLI(t, "", nil, "config", "check", "-c", cfg); code != 0 {
		t.Fatalf("provisioned configuration does not check: %s", out)
	}
	out, _, code = applianceCLI(t, "", nil, "provision", "apply", "--boot", boot, "-c", cfg)
	if code != 0 || !strings.Contains(out, "nothing to apply") {
		t.Fatalf("second apply: %d %s", code, out)
	}
}

func TestHealthURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/healthz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/healthz",
		":8080":          "http://127.0.0.1:8080/healthz",
		"[::]:80":        "http://127.0.0.1:80/healthz",
		"10.1.2.3:9000":  "http://10.1.2.3:9000/healthz", // netscope: healthURL maps listen addresses, nothing is dialled
	} {
		if got := healthURL(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestUpdateSpoolRefusesBadUpload(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "release.pub")
	if _, e, code := applianceCLI(t, "", nil, "bundle", "keygen", "--private", filepath.Join(dir, "release.key"), "--public", pub); code != 0 {
		t.Fatal(e)
	}
	example, _ := os.ReadFile("../../gateway/config/pbxgate.example.yaml")
	cfg := filepath.Join(dir, "pbxgate.yaml")
	os.WriteFile(cfg, example, 0o640)
	spool, root := filepath.Join(dir, "spool"), filepath.Join(dir, "system")
	os.MkdirAll(spool, 0o750)
	args := []string{"update", "-c", cfg, "--key", pub, "--root", root, "--spool", spool}

	if out, e, code := applianceCLI(t, "", nil, args...); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("empty spool: %d %s %s", code, out, e)
	}
	os.WriteFile(filepath.Join(spool, "pending.pbxup"), []byte("<html>upload went wrong</html>"), 0o640)
	_, e, code := applianceCLI(t, "", nil, args...)
	if code != 1 || !strings.Contains(e, "not a valid pbxgate update bundle") {
		t.Fatalf("bad upload: %d %s", code, e)
	}
	res, err := os.ReadFile(filepath.Join(spool, "result.json"))
	if err != nil || !strings.Contains(string(res), `"ok": false`) || !strings.Contains(string(res), "not a valid pbxgate update bundle") {
		t.Fatalf("result.json: %s %v", res, err)
	}
	for _, name := range []string{"pending.pbxup", "processing.pbxup"} {
		if _, err := os.Stat(filepath.Join(spool, name)); !os.IsNotExist(err) {
			t.Fatalf("%s left in the spool", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "current")); !os.IsNotExist(err) {
		t.Fatal("refused upload touched the slots")
	}
}
