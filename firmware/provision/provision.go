// Package provision carries a customer's settings onto a flashed pbxgate
// appliance: an installer writes a provisioning file onto the SD card's boot
// partition (FAT, readable from any laptop) and the first boot applies it to
// /etc/pbxgate, the store and the system, then deletes it so no secret stays
// on a partition anyone can read.
//
// Secrets (SIP password, WhatsApp tokens, SIM PINs) go into
// /etc/pbxgate/pbxgate.env (mode 0640, read by systemd's EnvironmentFile),
// never into the YAML configuration, so `config check` and backups of the
// configuration do not carry them.
package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// FileName is the provisioning file on the boot partition.
const FileName = "pbxgate-provision.yaml"

// DoneName is what stays on the boot partition after a successful apply:
// when, and which settings (no secrets), for the installer's checklist.
const DoneName = "pbxgate-provision.done.txt"

// ErrInvalid: the provisioning file has bad or missing values.
var ErrInvalid = errors.New("invalid provisioning file")

// File is the provisioning file.
type File struct {
	Version  int    `yaml:"version"`
	Hostname string `yaml:"hostname,omitempty"`
	TimeZone string `yaml:"time_zone,omitempty"`
	// Region is the default country for national numbers (ISO 3166, e.g. DE).
	Region string `yaml:"region,omitempty"`
	// AdminPasswordHash is the portal admin's argon2id PHC hash.
	AdminPasswordHash string    `yaml:"admin_password_hash,omitempty"`
	PBX               *PBX      `yaml:"pbx,omitempty"`
	WhatsApp          *WhatsApp `yaml:"whatsapp,omitempty"`
	Modems            []Modem   `yaml:"modems,omitempty"`
}

// PBX is the SIP registration at the customer's PBX.
type PBX struct {
	Registrar string `yaml:"registrar"` // host:port
	Domain    string `yaml:"domain,omitempty"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// WhatsApp holds the Meta Cloud API credentials.
type WhatsApp struct {
	PhoneNumberID     string `yaml:"phone_number_id"`
	BusinessAccountID string `yaml:"business_account_id,omitempty"`
	Token             string `yaml:"token"`
	AppSecret         string `yaml:"app_secret,omitempty"`
	VerifyToken       string `yaml:"verify_token,omitempty"`
}

// Modem binds a modem name to its IMEI and SIM PIN.
type Modem struct {
	Name string `yaml:"name"`
	IMEI string `yaml:"imei"` // binds the name to the modem wherever it is plugged in
	PIN  string `yaml:"pin,omitempty"`
}

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	regionRE   = regexp.MustCompile(`^[A-Z]{2}$`)
	modemRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)
	imeiRE     = regexp.MustCompile(`^[0-9]{15}$`)
	pinRE      = regexp.MustCompile(`^[0-9]{4,8}$`)
)

// Validate checks every field and reports all problems at once.
func (f File) Validate() error {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if f.Version != 1 {
		bad("version: %d, want 1", f.Version)
	}
	if f.Hostname != "" && !hostnameRE.MatchString(f.Hostname) {
		bad("hostname: %q is not a valid host name (a-z, 0-9, -)", f.Hostname)
	}
	if f.TimeZone != "" {
		if _, err := time.LoadLocation(f.TimeZone); err != nil || f.TimeZone == "Local" {
			bad("time_zone: %q is not an IANA time zone such as Europe/Berlin", f.TimeZone)
		}
	}
	if f.Region != "" && !regionRE.MatchString(f.Region) {
		bad("region: %q is not a two-letter country code such as DE", f.Region)
	}
	if f.AdminPasswordHash != "" {
		if err := users.CheckHash(f.AdminPasswordHash); err != nil {
			bad("admin_password_hash: %v", err)
		}
	}
	if p := f.PBX; p != nil {
		if p.Registrar == "" || p.Username == "" || p.Password == "" {
			bad("pbx: registrar, username and password are required")
		}
	}
	if w := f.WhatsApp; w != nil && (w.PhoneNumberID == "" || w.Token == "" || w.VerifyToken == "") {
		bad("whatsapp: phone_number_id, token and verify_token (the one entered in Meta's webhook settings) are required")
	}
	seen := map[string]bool{}
	for i, m := range f.Modems {
		switch {
		case !modemRE.MatchString(m.Name) || seen[m.Name]:
			bad("modems[%d].name: %q must be unique, a-z 0-9 . _ -", i, m.Name)
		case !imeiRE.MatchString(m.IMEI):
			bad("modems[%d].imei: %q is not 15 digits (*#06# or the label on the modem)", i, m.IMEI)
		case m.PIN != "" && !pinRE.MatchString(m.PIN):
			bad("modems[%d].pin: a SIM PIN is 4 to 8 digits", i)
		}
		seen[m.Name] = true
	}
	if len(ps) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(ps, "\n  "))
	}
	return nil
}

// Write validates f and writes it to bootDir/FileName (0600; FAT ignores
// modes, so keep the card safe until its first boot).
func Write(bootDir string, f File) (string, error) {
	if f.Version == 0 {
		f.Version = 1
	}
	if err := f.Validate(); err != nil {
		return "", err
	}
	fi, err := os.Stat(bootDir)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("boot partition %s is not a mounted directory: %v", bootDir, err)
	}
	var b bytes.Buffer
	b.WriteString("# pbxgate provisioning file: applied and deleted at the device's first boot.\n# Contains secrets: do not leave this card unattended.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return "", err
	}
	path := filepath.Join(bootDir, FileName)
	return path, writeAtomic(path, b.Bytes(), 0o600)
}

// Read parses a provisioning file strictly: unknown keys are errors.
func Read(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	return f, f.Validate()
}

// Target is where Apply writes.
type Target struct {
	ConfigPath string // /etc/pbxgate/pbxgate.yaml (must exist: the package installs it)
	EnvPath    string // /etc/pbxgate/pbxgate.env
	// DataDir is the store; empty reads data_dir from the configuration.
	DataDir string
	// SystemRoot is where /etc/hostname and /etc/localtime are written; ""
	// leaves the system alone.
	SystemRoot string
	// Group owns the env file (readable by the daemon); "" or a missing
	// group leaves root's.
	Group string
}

// Apply applies bootDir/FileName if present and then removes it. It
// returns false when there is nothing to apply. On error the file stays so
// the installer can correct it; nothing is half-written: the new
// configuration is validated before anything is replaced.
func Apply(ctx context.Context, bootDir string, t Target) (bool, error) {
	path := filepath.Join(bootDir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	f, err := Read(path)
	if err != nil {
		return false, err
	}
	oldCfg, err := os.ReadFile(t.ConfigPath)
	if err != nil {
		return false, fmt.Errorf("configuration: %w", err)
	}
	newCfg, err := editConfig(oldCfg, f)
	if err != nil {
		return false, err
	}
	oldEnv, err := os.ReadFile(t.EnvPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	newEnv := editEnv(oldEnv, secrets(f))
	cfg, err := config.Parse(newCfg, envList(newEnv))
	if err != nil {
		return false, fmt.Errorf("the provisioned configuration does not validate (nothing changed): %w", err)
	}
	if t.DataDir == "" {
		t.DataDir = cfg.DataDir
	}
	if f.AdminPasswordHash != "" {
		if err := setAdmin(ctx, t.DataDir, f.AdminPasswordHash); err != nil {
			return false, err
		}
	}
	if err := writeAtomic(t.EnvPath, newEnv, 0o640); err != nil {
		return false, err
	}
	if t.Group != "" {
		if g, err := user.LookupGroup(t.Group); err == nil {
			gid, _ := strconv.Atoi(g.Gid)
			if err := os.Chown(t.EnvPath, 0, gid); err != nil {
				return false, fmt.Errorf("giving %s to group %s: %w", t.EnvPath, t.Group, err)
			}
		}
	}
	if err := writeAtomic(t.ConfigPath, newCfg, 0o640); err != nil {
		return false, err
	}
	if t.SystemRoot != "" {
		if err := applySystem(t.SystemRoot, f); err != nil {
			return false, err
		}
	}
	// The secrets are in /etc now: take them off the boot partition.
	if err := writeAtomic(filepath.Join(bootDir, DoneName), []byte(summary(f)), 0o644); err != nil {
		return false, err
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("removing %s (it holds secrets; delete it by hand): %w", path, err)
	}
	return true, syncDir(bootDir)
}

func setAdmin(ctx context.Context, dataDir, phc string) error {
	s, err := store.Open(store.Options{Dir: dataDir, SyncWrites: true})
	if err != nil {
		return fmt.Errorf("%w (stop pbxgate before applying a provisioning file)", err)
	}
	err = users.New(s).SetPasswordHash(ctx, users.FirstAdmin, phc)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return chownLikeDir(dataDir)
}

// chownLikeDir gives every file under dir the owner of dir itself: apply
// runs as root, the daemon as pbxgate, and systemd's StateDirectory= only
// fixes ownership when the directory itself is wrong, not the files in it.
func chownLikeDir(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(st.Uid), int(st.Gid))
	})
}

// secrets maps environment variable names to values.
func secrets(f File) map[string]string {
	m := map[string]string{}
	if p := f.PBX; p != nil {
		m[config.EnvSIPPassword] = p.Password
	}
	if w := f.WhatsApp; w != nil {
		m[config.EnvWhatsAppToken] = w.Token
		if w.AppSecret != "" {
			m[config.EnvWhatsAppAppSecret] = w.AppSecret
		}
		if w.VerifyToken != "" {
			m[config.EnvWhatsAppVerify] = w.VerifyToken
		}
	}
	for _, md := range f.Modems {
		if md.PIN != "" {
			m[config.ModemPINEnv(md.Name)] = md.PIN
		}
	}
	return m
}

// editEnv replaces or appends KEY=value lines, keeping everything else.
func editEnv(old []byte, set map[string]string) []byte {
	var out []string
	done := map[string]bool{}
	for _, line := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if line == "" && len(out) == 0 {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok {
			if v, ok := set[strings.TrimSpace(k)]; ok {
				line = k + "=" + quoteEnv(v)
				done[strings.TrimSpace(k)] = true
			}
		}
		out = append(out, line)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !done[k] {
			out = append(out, k+"="+quoteEnv(set[k]))
		}
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// quoteEnv quotes for systemd's EnvironmentFile: single quotes keep
// everything literal except \ and ' themselves.
func quoteEnv(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// envList reads an env file back the way systemd does (for the simple
// quoting quoteEnv writes) so the edited configuration is validated with
// its secrets.
func envList(b []byte) []string {
	var env []string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(v[1 : len(v)-1])
		}
		env = append(env, k+"="+v)
	}
	return env
}

// editConfig sets the provisioned non-secret values in the YAML document,
// keeping its comments and every other setting.
func editConfig(src []byte, f File) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("configuration is not a YAML mapping")
	}
	root := doc.Content[0]
	if f.Region != "" {
		setScalar(root, f.Region, "region", "default_country")
	}
	if f.TimeZone != "" {
		setScalar(root, f.TimeZone, "region", "time_zone")
	}
	if p := f.PBX; p != nil {
		setScalar(root, "true", "sip", "enabled")
		setScalar(root, "register", "sip", "mode")
		setScalar(root, p.Registrar, "sip", "registrar")
		setScalar(root, p.Username, "sip", "username")
		setScalar(root, "", "sip", "password") // in the env file
		if p.Domain != "" {
			setScalar(root, p.Domain, "sip", "domain")
		}
	}
	if w := f.WhatsApp; w != nil {
		setScalar(root, "true", "whatsapp", "enabled")
		setScalar(root, w.PhoneNumberID, "whatsapp", "phone_number_id")
		if w.BusinessAccountID != "" {
			setScalar(root, w.BusinessAccountID, "whatsapp", "business_account_id")
		}
	}
	if len(f.Modems) > 0 {
		devices := mapping(root, "modems")
		seq := lookup(devices, "devices")
		if seq == nil || seq.Kind != yaml.SequenceNode {
			seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			setNode(devices, "devices", seq)
		}
		seq.Style = 0 // block style, also when it was written as []
		for _, m := range f.Modems {
			var dev *yaml.Node
			for _, d := range seq.Content {
				if n := lookup(d, "name"); n != nil && n.Value == m.Name {
					dev = d
				}
			}
			if dev == nil {
				dev = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				setScalar(dev, m.Name, "name")
				seq.Content = append(seq.Content, dev)
			}
			setScalar(dev, m.IMEI, "imei")
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setNode(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v.LineComment = m.Content[i+1].LineComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// mapping returns the mapping under key, creating it.
func mapping(m *yaml.Node, key string) *yaml.Node {
	if n := lookup(m, key); n != nil && n.Kind == yaml.MappingNode {
		n.Style = 0
		return n
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	setNode(m, key, n)
	return n
}

func setScalar(m *yaml.Node, value string, path ...string) {
	for _, k := range path[:len(path)-1] {
		m = mapping(m, k)
	}
	tag := "!!str"
	if value == "true" || value == "false" {
		tag = "!!bool"
	}
	setNode(m, path[len(path)-1], &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value})
}

func applySystem(root string, f File) error {
	etc := filepath.Join(root, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	if f.Hostname != "" {
		if err := writeAtomic(filepath.Join(etc, "hostname"), []byte(f.Hostname+"\n"), 0o644); err != nil {
			return err
		}
	}
	if f.TimeZone != "" {
		if err := writeAtomic(filepath.Join(etc, "timezone"), []byte(f.TimeZone+"\n"), 0o644); err != nil {
			return err
		}
		tmp := filepath.Join(etc, ".localtime.tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink("/usr/share/zoneinfo/"+f.TimeZone, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(etc, "localtime")); err != nil {
			return err
		}
	}
	return nil
}

// summary is the secret-free record left on the boot partition.
func summary(f File) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pbxgate provisioning applied %s\n", time.Now().UTC().Format(time.RFC3339))
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	line("hostname", f.Hostname)
	line("time_zone", f.TimeZone)
	line("region", f.Region)
	if f.AdminPasswordHash != "" {
		line("admin password", "set")
	}
	if f.PBX != nil {
		line("pbx", f.PBX.Username+"@"+f.PBX.Registrar)
	}
	if f.WhatsApp != nil {
		line("whatsapp phone number id", f.WhatsApp.PhoneNumberID)
	}
	var names []string
	for _, m := range f.Modems {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	line("modems", strings.Join(names, ", "))
	b.WriteString("Secrets were moved to /etc/pbxgate/pbxgate.env and removed from this partition.\n")
	return b.String()
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Keep the owner of the file replaced (root:pbxgate for the daemon's
	// configuration), when allowed to.
	if fi, err := os.Stat(path); err == nil && os.Geteuid() == 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if err := os.Chown(tmp.Name(), int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// FAT and some FUSE file systems refuse fsync on a directory; the file
	// itself was synced.
	_ = d.Sync()
	return nil
}
