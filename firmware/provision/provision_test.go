package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

type box struct {
	boot, etc, data, root string
	target                Target
}

func newBox(t *testing.T) box {
	t.Helper()
	dir := t.TempDir()
	b := box{boot: filepath.Join(dir, "boot"), etc: filepath.Join(dir, "etc-pbxgate"), data: filepath.Join(dir, "data"), root: filepath.Join(dir, "sysroot")}
	for _, d := range []string{b.boot, b.etc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	example, err := os.ReadFile("../../gateway/config/pbxgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.etc, "pbxgate.yaml"), example, 0o640); err != nil {
		t.Fatal(err)
	}
	b.target = Target{ConfigPath: filepath.Join(b.etc, "pbxgate.yaml"), EnvPath: filepath.Join(b.etc, "pbxgate.env"), DataDir: b.data, SystemRoot: b.root}
	return b
}

func full(t *testing.T) File {
	t.Helper()
	phc, err := users.HashPassword("installer chose this")
	if err != nil {
		t.Fatal(err)
	}
	return File{
		Hostname: "gw-acme-01", TimeZone: "America/Sao_Paulo", Region: "BR", AdminPasswordHash: phc,
		PBX:      &PBX{Registrar: "pbx.acme.local:5060", Domain: "acme.local", Username: "gateway", Password: "s1p-s3cret'\"$x"}, // netscope: written to a config file only
		WhatsApp: &WhatsApp{PhoneNumberID: "106540352242922", Token: "EAAG-token-secret", AppSecret: "app-secret-123", VerifyToken: "verify-me-123"},
		Modems:   []Modem{{Name: "ec25-1", IMEI: "867698041234567", PIN: "4321"}, {Name: "sim7600", IMEI: "861234567890123", PIN: "1111"}},
	}
}

func TestWriteAndApply(t *testing.T) {
	b := newBox(t)
	ctx := context.Background()
	// A previous env file keeps its other lines.
	os.WriteFile(b.target.EnvPath, []byte("# site settings\nPBXGATE_SIP_PASSWORD=old\nHTTP_PROXY=http://proxy:3128\n"), 0o640) // netscope: text in an env file

	path, err := Write(b.boot, full(t))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("provisioning file mode %v", fi.Mode().Perm())
	}
	applied, err := Apply(ctx, b.boot, b.target)
	if err != nil || !applied {
		t.Fatalf("apply: %v %v", applied, err)
	}

	// Secrets left the boot partition; a secret-free summary stays.
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("provisioning file still on the boot partition: %v", err)
	}
	done, err := os.ReadFile(filepath.Join(b.boot, DoneName))
	if err != nil || !strings.Contains(string(done), "gateway@pbx.acme.local:5060") {
		t.Fatalf("summary: %q %v", done, err)
	}
	cfgText, _ := os.ReadFile(b.target.ConfigPath)
	for _, secret := range []string{"s1p-s3cret", "EAAG-token-secret", "app-secret-123", "4321", "$argon2id"} {
		if strings.Contains(string(done), secret) || strings.Contains(string(cfgText), secret) {
			t.Fatalf("secret %q in the summary or the configuration", secret)
		}
	}
	if !strings.Contains(string(cfgText), "# debug, info, warn, error") {
		t.Fatal("configuration comments were lost")
	}

	// The configuration, with the env file, carries everything.
	envText, _ := os.ReadFile(b.target.EnvPath)
	if !strings.HasPrefix(string(envText), "# site settings\n") || !strings.Contains(string(envText), "HTTP_PROXY=http://proxy:3128") { // netscope: text in an env file
		t.Fatalf("env file lost lines:\n%s", envText)
	}
	if fi, _ := os.Stat(b.target.EnvPath); fi.Mode().Perm() != 0o640 {
		t.Fatalf("env mode %v", fi.Mode().Perm())
	}
	cfg, err := config.Load(b.target.ConfigPath, envList(envText))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region.DefaultCountry != "BR" || cfg.Region.TimeZone != "America/Sao_Paulo" {
		t.Fatalf("region %+v", cfg.Region)
	}
	if !cfg.SIP.Enabled || cfg.SIP.Registrar != "pbx.acme.local:5060" || cfg.SIP.Username != "gateway" || cfg.SIP.Domain != "acme.local" || string(cfg.SIP.Password) != "s1p-s3cret'\"$x" { // netscope: read back from the config file
		t.Fatalf("sip %+v password ok=%v", cfg.SIP, string(cfg.SIP.Password) == "s1p-s3cret'\"$x")
	}
	if !cfg.WhatsApp.Enabled || cfg.WhatsApp.PhoneNumberID != "106540352242922" || string(cfg.WhatsApp.Token) != "EAAG-token-secret" || string(cfg.WhatsApp.AppSecret) != "app-secret-123" {
		t.Fatal("whatsapp settings not applied")
	}
	var names []string
	for _, d := range cfg.Modems.Devices {
		names = append(names, d.Name)
		if d.Name == "ec25-1" && (d.IMEI != "867698041234567" || string(d.PIN) != "4321") {
			t.Fatalf("modem %+v", d)
		}
		if d.Name == "sim7600" && string(d.PIN) != "1111" {
			t.Fatalf("modem %+v", d)
		}
	}
	if !slices.Equal(names, []string{"ec25-1", "sim7600"}) {
		t.Fatalf("modems %v", names)
	}

	// The admin logs in with the installer's password.
	s, err := store.Open(store.Options{Dir: b.data})
	if err != nil {
		t.Fatal(err)
	}
	u, err := users.New(s).Authenticate(ctx, "admin", "installer chose this")
	s.Close()
	if err != nil || u.Role != users.RoleAdmin {
		t.Fatalf("admin: %+v %v", u, err)
	}

	// The system got its name and time zone.
	if h, _ := os.ReadFile(filepath.Join(b.root, "etc/hostname")); string(h) != "gw-acme-01\n" {
		t.Fatalf("hostname %q", h)
	}
	if l, _ := os.Readlink(filepath.Join(b.root, "etc/localtime")); l != "/usr/share/zoneinfo/America/Sao_Paulo" {
		t.Fatalf("localtime -> %q", l)
	}

	// Nothing left to do on the next boot.
	if applied, err := Apply(ctx, b.boot, b.target); applied || err != nil {
		t.Fatalf("second apply: %v %v", applied, err)
	}
}

func TestApplyRefusesBadFileAndChangesNothing(t *testing.T) {
	cases := map[string]string{
		"unknown key":   "version: 1\nregion: DE\npbx_addr: x\n",
		"bad values":    "version: 1\nregion: Germany\ntime_zone: Mars/Base\nmodems:\n  - name: m1\n    pin: '12'\n",
		"bad hash":      "version: 1\nadmin_password_hash: hunter2\n",
		"missing pbx":   "version: 1\npbx:\n  registrar: pbx:5060\n",
		"wrong version": "version: 7\n",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBox(t)
			path := filepath.Join(b.boot, FileName)
			os.WriteFile(path, []byte(text), 0o600)
			before, _ := os.ReadFile(b.target.ConfigPath)
			_, err := Apply(context.Background(), b.boot, b.target)
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, users.ErrBadHash) {
				t.Fatalf("got %v", err)
			}
			t.Log(err)
			after, _ := os.ReadFile(b.target.ConfigPath)
			if string(before) != string(after) {
				t.Fatal("configuration changed")
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatal("refused provisioning file was removed")
			}
			for _, p := range []string{b.target.EnvPath, b.data, filepath.Join(b.root, "etc")} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Fatalf("%s was created", p)
				}
			}
		})
	}
}

func TestWriteValidates(t *testing.T) {
	b := newBox(t)
	f := full(t)
	f.Modems = append(f.Modems, Modem{Name: "ec25-1"})
	if _, err := Write(b.boot, f); !errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate modem: %v", err)
	}
	if _, err := Write(filepath.Join(b.boot, "missing"), full(t)); err == nil {
		t.Fatal("wrote into a missing boot partition")
	}
	if _, err := os.Stat(filepath.Join(b.boot, FileName)); !os.IsNotExist(err) {
		t.Fatal("invalid file written")
	}
}

// Apply runs as root at first boot; the daemon's user must still own the
// store files it creates.
func TestApplyKeepsStoreOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	b := newBox(t)
	os.MkdirAll(b.data, 0o750)
	const uid, gid = 4242, 4343
	if err := os.Chown(b.data, uid, gid); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(b.boot, full(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), b.boot, b.target); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(b.data, func(path string, d os.DirEntry, err error) error {
		fi, _ := d.Info()
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s owned by %d:%d", path, st.Uid, st.Gid)
		}
		n++
		return nil
	})
	if n < 3 {
		t.Fatalf("store not created (%d entries)", n)
	}
}
