package main

// Appliance commands: release-side bundle signing, on-device signed updates
// and provisioning (see docs/appliance.md).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/firmware/provision"
	"github.com/pbxgate/pbxgate/firmware/spool"
	"github.com/pbxgate/pbxgate/firmware/update"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// Defaults of the appliance layout (systemd/, firmware/image).
const (
	defaultUpdateKeys = "/etc/pbxgate/update-keys.pem"
	defaultSystemRoot = "/var/lib/pbxgate-system"
	defaultBootDir    = "/boot/firmware"
	defaultDropIn     = "/etc/systemd/system/pbxgate.service.d/50-ab-slot.conf"
	defaultEnvFile    = "/etc/pbxgate/pbxgate.env"
)

func applianceCommands() []command {
	return []command{
		{"bundle", "release side of signed updates: bundle keygen | sign | verify", cmdBundle},
		{"update", "install a signed update bundle (A/B, health check, automatic rollback): pbxgate update FILE", cmdUpdate},
		{"provision", "write a provisioning file onto a boot partition, or apply it: provision --boot DIR … | provision apply", cmdProvision},
	}
}

func cmdBundle(ctx context.Context, env *cliEnv, args []string) error {
	const synopsis = "bundle keygen --private FILE --public FILE | bundle sign --key FILE --version V --arch A [--min-version V] --out FILE BINARY | bundle verify --key FILE [--arch A] [--installed V] FILE"
	if len(args) == 0 {
		return usageErr("%s", synopsis)
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "--help" {
		fmt.Fprintf(env.stdout, "Usage: pbxgate %s\n", synopsis)
		return flag.ErrHelp
	}
	switch sub {
	case "keygen":
		fs := newFlags(env, "bundle keygen", "bundle keygen --private FILE --public FILE")
		priv := fs.String("private", "", "private key to create (keep it offline, never in the repository)")
		pub := fs.String("public", "", "public key to create (install on devices as "+defaultUpdateKeys+")")
		if err := parseFlags(env, fs, args); err != nil {
			return err
		}
		if *priv == "" || *pub == "" || fs.NArg() != 0 {
			return usageErr("give --private FILE and --public FILE")
		}
		if _, err := bundle.GenerateKey(*priv, *pub); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "private key: %s (mode 0600; store it offline)\npublic key:  %s\n", *priv, *pub)
		return nil
	case "sign":
		fs := newFlags(env, "bundle sign", "bundle sign --key FILE --version V --arch amd64|arm64|armhf [--min-version V] --out FILE BINARY")
		key := fs.String("key", "", "release private key")
		ver := fs.String("version", "", "version of BINARY, e.g. v1.4.0")
		arch := fs.String("arch", "", "architecture of BINARY: amd64, arm64 or armhf")
		min := fs.String("min-version", "", "oldest installed version the bundle may update")
		out := fs.String("out", "", "bundle file to write")
		if err := parseFlags(env, fs, args); err != nil {
			return err
		}
		if *key == "" || *ver == "" || *out == "" || fs.NArg() != 1 {
			return usageErr("give --key, --version, --arch, --out and the pbxgate binary")
		}
		switch *arch {
		case "amd64", "arm64", "armhf":
		default:
			return usageErr("--arch must be amd64, arm64 or armhf (got %q)", *arch)
		}
		k, err := bundle.LoadPrivateKey(*key)
		if err != nil {
			return err
		}
		tmp := *out + ".tmp"
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		m, err := bundle.Create(f, bundle.Manifest{Version: *ver, Architecture: *arch, MinVersion: *min}, k,
			[]bundle.Source{{Name: update.BinaryName, Path: fs.Arg(0), Mode: 0o755}})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, *out)
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
		fmt.Fprintf(env.stdout, "signed %s: pbxgate %s for %s (%d bytes, sha256 %s)\n", *out, m.Version, m.Architecture, m.Payloads[0].Size, m.Payloads[0].SHA256)
		return nil
	case "verify":
		fs := newFlags(env, "bundle verify", "bundle verify --key FILE [--arch A] [--installed V] FILE")
		key := fs.String("key", defaultUpdateKeys, "trusted public key(s), PEM")
		arch := fs.String("arch", "", "require this architecture")
		inst := fs.String("installed", "", "check the version rules against this installed version")
		if err := parseFlags(env, fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageErr("give the bundle file")
		}
		keys, err := bundle.LoadPublicKeys(*key)
		if err != nil {
			return err
		}
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		m, err := bundle.Verify(f, bundle.Policy{Keys: keys, Arch: *arch, Installed: *inst})
		if err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(env.stdout, "%s: OK\nversion:      %s\narchitecture: %s\n", fs.Arg(0), m.Version, m.Architecture)
		if m.MinVersion != "" {
			fmt.Fprintf(env.stdout, "min version:  %s\n", m.MinVersion)
		}
		fmt.Fprintf(env.stdout, "created:      %s\n", m.Created.Format(time.RFC3339))
		for _, p := range m.Payloads {
			fmt.Fprintf(env.stdout, "payload:      %s %d bytes sha256 %s\n", p.Name, p.Size, p.SHA256)
		}
		return nil
	}
	return usageErr("unknown subcommand %q; %s", sub, synopsis)
}

func cmdUpdate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "update", "update [-c FILE] [--force] [--key FILE] BUNDLE | update --spool DIR")
	path := fs.String("c", config.DefaultPath, "configuration file (data_dir, http.listen)")
	force := fs.Bool("force", false, "allow a downgrade or reinstall")
	key := fs.String("key", defaultUpdateKeys, "trusted public key(s), PEM")
	root := fs.String("root", defaultSystemRoot, "A/B slot directory")
	unit := fs.String("unit", "pbxgate.service", "systemd unit to restart")
	timeout := fs.Duration("health-timeout", 90*time.Second, "how long the new version has to answer /healthz")
	spoolDir := fs.String("spool", "", "apply DIR/"+spool.Pending+" (uploaded in the portal) and write DIR/"+spool.ResultFile)
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	bundlePath := ""
	switch {
	case *spoolDir != "" && fs.NArg() == 0:
		pending, processing := filepath.Join(*spoolDir, spool.Pending), filepath.Join(*spoolDir, spool.Processing)
		if err := os.Rename(pending, processing); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(env.stdout, "no %s: nothing to do\n", pending)
			return nil
		} else if err != nil {
			return err
		}
		bundlePath = processing
	case *spoolDir == "" && fs.NArg() == 1:
		bundlePath = fs.Arg(0)
	default:
		return usageErr("give the update bundle file, e.g. pbxgate update pbxgate-v1.4.0-arm64.pbxup, or --spool DIR")
	}
	cfg, err := config.Load(*path, env.environ)
	if err != nil {
		return err
	}
	keys, err := bundle.LoadPublicKeys(*key)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := update.Options{
		Root: *root, DataDir: cfg.DataDir,
		BackupDir: filepath.Join(filepath.Dir(cfg.DataDir), filepath.Base(cfg.DataDir)+"-backups"),
		Service:   update.Systemd{Unit: *unit},
		PrepareService: func(ctx context.Context) error {
			_, err := update.EnsureDropIn(ctx, defaultDropIn, *root, *path)
			return err
		},
		HealthURL: healthURL(cfg.HTTP.Listen), HealthTimeout: *timeout,
		Policy:        bundle.Policy{Keys: keys, Arch: bundle.Arch(), Force: *force},
		RunningBinary: self, RunningVersion: version, Log: log,
	}
	res, err := update.Apply(ctx, opts, bundlePath)
	if *spoolDir != "" {
		os.Remove(bundlePath)
		if werr := writeSpoolResult(*spoolDir, res, err); werr != nil {
			log.Error("writing the update result for the portal", "err", werr)
		}
	}
	if err != nil {
		if errors.Is(err, update.ErrRolledBack) && res.Backup != "" {
			return fmt.Errorf("%w\n(the store was restored from %s)", err, res.Backup)
		}
		return err
	}
	fmt.Fprintf(env.stdout, "updated pbxgate %s -> %s (slot %s); store backup: %s\n", res.From, res.To, res.Slot, res.Backup)
	return nil
}

// writeSpoolResult leaves the outcome for the portal (firmware/spool has
// the upload side of the contract).
func writeSpoolResult(dir string, res update.Result, err error) error {
	o := spool.Result{Time: time.Now().UTC(), OK: err == nil, RolledBack: errors.Is(err, update.ErrRolledBack),
		From: res.From, To: res.To, Slot: res.Slot, Backup: res.Backup}
	if err != nil {
		o.Error = err.Error()
	}
	return spool.WriteResult(dir, o)
}

// healthURL is the /healthz address for a listen address (a wildcard host
// is reached on loopback).
func healthURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/healthz"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}

// modemFlags collects repeated --modem NAME,IMEI[,PIN].
type modemFlags []provision.Modem

func (m *modemFlags) String() string { return fmt.Sprint(len(*m), " modems") }
func (m *modemFlags) Set(v string) error {
	parts := strings.Split(v, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return errors.New("use NAME,IMEI or NAME,IMEI,PIN")
	}
	md := provision.Modem{Name: parts[0], IMEI: parts[1]}
	if len(parts) == 3 {
		md.PIN = parts[2]
	}
	*m = append(*m, md)
	return nil
}

func cmdProvision(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 && args[0] == "apply" {
		return cmdProvisionApply(ctx, env, args[1:])
	}
	fs := newFlags(env, "provision", "provision --boot DIR [options]   (secrets may also come from PBXGATE_SIP_PASSWORD, PBXGATE_WHATSAPP_TOKEN, PBXGATE_WHATSAPP_APP_SECRET, PBXGATE_WHATSAPP_VERIFY_TOKEN)\n       pbxgate provision apply [--boot DIR] [-c FILE]")
	boot := fs.String("boot", "", "mounted boot partition of the SD card (FAT, e.g. /media/$USER/bootfs)")
	hostname := fs.String("hostname", "", "device host name")
	tz := fs.String("timezone", "", "IANA time zone, e.g. Europe/Berlin")
	region := fs.String("region", "", "default country for national numbers, e.g. DE")
	pwStdin := fs.Bool("admin-password-stdin", false, "read the portal admin password from standard input")
	noAdmin := fs.Bool("no-admin-password", false, "leave the admin password to the first-run console print-out")
	pbxReg := fs.String("pbx-registrar", "", "PBX address, host:port")
	pbxDomain := fs.String("pbx-domain", "", "SIP domain")
	pbxUser := fs.String("pbx-user", "", "SIP user name")
	pbxPass := fs.String("pbx-password", "", "SIP password (prefer PBXGATE_SIP_PASSWORD: command lines end up in shell history)")
	waID := fs.String("wa-phone-number-id", "", "WhatsApp phone number ID")
	waBiz := fs.String("wa-business-account-id", "", "WhatsApp business account ID")
	var modems modemFlags
	fs.Var(&modems, "modem", "NAME,IMEI[,PIN] (repeat for each modem)")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if *boot == "" || fs.NArg() != 0 {
		return usageErr("give --boot DIR, the mounted boot partition")
	}
	getenv := func(k string) string {
		for _, kv := range env.environ {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v
			}
		}
		return ""
	}
	f := provision.File{Version: 1, Hostname: *hostname, TimeZone: *tz, Region: *region, Modems: modems}
	if !*noAdmin {
		pw, err := readPassword(env, *pwStdin)
		if err != nil {
			return fmt.Errorf("admin password: %w (or --no-admin-password)", err)
		}
		if f.AdminPasswordHash, err = users.HashPassword(pw); err != nil {
			return err
		}
	}
	if *pbxReg != "" {
		pass := *pbxPass
		if pass == "" {
			pass = getenv(config.EnvSIPPassword)
		}
		f.PBX = &provision.PBX{Registrar: *pbxReg, Domain: *pbxDomain, Username: *pbxUser, Password: pass}
	}
	if *waID != "" {
		f.WhatsApp = &provision.WhatsApp{PhoneNumberID: *waID, BusinessAccountID: *waBiz,
			Token: getenv(config.EnvWhatsAppToken), AppSecret: getenv(config.EnvWhatsAppAppSecret), VerifyToken: getenv(config.EnvWhatsAppVerify)}
	}
	path, err := provision.Write(*boot, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wrote %s; it is applied and removed at the device's first boot\n", path)
	return nil
}

func cmdProvisionApply(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "provision apply", "provision apply [--boot DIR] [-c FILE] [--env FILE] [--data DIR] [--system-root DIR]")
	boot := fs.String("boot", defaultBootDir, "boot partition holding "+provision.FileName)
	path := fs.String("c", config.DefaultPath, "configuration file to update")
	envFile := fs.String("env", defaultEnvFile, "environment file for secrets")
	data := fs.String("data", "", "data directory (default: the configuration's data_dir)")
	sysroot := fs.String("system-root", "/", "where /etc/hostname and /etc/localtime are set; empty: leave the system alone")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	applied, err := provision.Apply(ctx, *boot, provision.Target{ConfigPath: *path, EnvPath: *envFile, DataDir: *data, SystemRoot: *sysroot, Group: "pbxgate"})
	if err != nil {
		return err
	}
	if !applied {
		fmt.Fprintf(env.stdout, "no %s in %s: nothing to apply\n", provision.FileName, *boot)
		return nil
	}
	fmt.Fprintf(env.stdout, "applied %s; secrets moved to %s and removed from %s\n", provision.FileName, *envFile, *boot)
	return nil
}
