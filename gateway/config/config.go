// Package config loads, validates and describes pbxgate's YAML configuration.
//
// One file (default /etc/pbxgate/pbxgate.yaml) holds everything; secrets may
// come from the environment instead (see Secrets). Unknown keys and bad values
// are errors that name the key and the line, never silent defaults.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultPath is where the daemon looks for its configuration.
const DefaultPath = "/etc/pbxgate/pbxgate.yaml"

// Example is the annotated example configuration shipped with pbxgate. It
// documents every key with its default; a test keeps it loadable.
//
//go:embed pbxgate.example.yaml
var Example []byte

// Config is the whole configuration of one pbxgate daemon.
type Config struct {
	DataDir  string        `yaml:"data_dir"`
	Log      Log           `yaml:"log"`
	HTTP     HTTP          `yaml:"http"`
	Store    Store         `yaml:"store"`
	Region   Region        `yaml:"region"`
	Shutdown time.Duration `yaml:"shutdown_timeout"`
	Modems   Modems        `yaml:"modems"`
	Channels []SMSChannel  `yaml:"sms_channels"`
	WhatsApp WhatsApp      `yaml:"whatsapp"`
	Telegram Telegram      `yaml:"telegram"`
	Viber    Viber         `yaml:"viber"` // viber.go
	VK       VK            `yaml:"vk"`    // vk.go
	SIP      SIP           `yaml:"sip"`
	Campaign Campaign      `yaml:"campaigns"`
	// Automation: keyword rules, opt-in/opt-out, forwards.
	Automation Automation `yaml:"automation"`
	// MessageLog: the log of every inbound and outbound message.
	MessageLog MessageLog `yaml:"message_log"`
	// Updates: firmware update uploads in the portal (appliance).
	Updates Updates `yaml:"updates"`
	// Metrics: optional bearer token for GET /metrics.
	Metrics Metrics `yaml:"metrics"`
	// Memory: the Go runtime's memory limit (budget.go).
	Memory Memory `yaml:"memory"`
	// Cluster: several boxes as one gateway (cluster.go); empty for one box.
	Cluster Cluster `yaml:"cluster"`

	// Messenger and Instagram: a Facebook Page and an Instagram account
	// (messenger.go).
	Messenger MetaChat `yaml:"messenger"`
	Instagram MetaChat `yaml:"instagram"`
}

// Updates configures the portal's firmware update upload. The daemon only
// verifies an uploaded bundle and drops it into SpoolDir; the privileged
// pbxgate-update.path/.service pair applies it (see docs/appliance.md).
type Updates struct {
	// SpoolDir is watched by pbxgate-update.path; empty or missing turns
	// the upload off (installations without the appliance's units update
	// with `pbxgate update FILE`).
	SpoolDir string `yaml:"spool_dir"`
	// Keys are the trusted release public keys (PEM), as for `pbxgate update`.
	Keys string `yaml:"keys"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // auto, text, json
}

// HTTP configures the portal, REST API, health and metrics listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// PublicURL is how the outside world (Meta's webhooks, the recipients
	// of campaign short links) reaches the portal, e.g.
	// https://gw.example.com. Shown in the portal.
	PublicURL string `yaml:"public_url"`
	// ShortLinkURL is the own domain of campaign short links, e.g.
	// https://go.example.com (a DNS name pointing at this box or its
	// proxy); empty: they live on PublicURL. On that host pbxgate serves
	// the redirects only, never the portal.
	ShortLinkURL string `yaml:"short_link_url"`
	// TrustedProxies are the addresses (CIDRs or single IPs) of reverse
	// proxies in front of pbxgate whose X-Forwarded-For names the client:
	// the login rate limit and the short-link redirect's rate limit count
	// per client, not per proxy. Empty: no header is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Store tunes the embedded Badger database.
type Store struct {
	// Profile is "small" (Raspberry Pi, ~64 MB) or "default".
	Profile       string        `yaml:"profile"`
	GCInterval    time.Duration `yaml:"value_log_gc_interval"`
	SyncWrites    bool          `yaml:"sync_writes"`
	BackupOnStart bool          `yaml:"backup_before_migration"`
	// Disk: free-space thresholds of the data directory (budget.go).
	Disk `yaml:",inline"`
}

// Region holds defaults for numbers and times.
type Region struct {
	// DefaultCountry is the ISO 3166 region used to read national numbers.
	DefaultCountry string `yaml:"default_country"`
	TimeZone       string `yaml:"time_zone"`
}

// Campaign holds campaign engine limits.
type Campaign struct {
	MaxCampaigns  int  `yaml:"max_campaigns"`
	MaxRecipients int  `yaml:"max_recipients"`
	AutoResume    bool `yaml:"auto_resume"`
	// Retention deletes the recipient details of campaigns completed
	// longer ago (the totals stay; checked daily); 0 keeps them.
	Retention time.Duration `yaml:"retention"`
}

// Default returns the configuration used when a key is absent.
func Default() Config {
	return Config{
		DataDir:  "/var/lib/pbxgate",
		Log:      Log{Level: "info", Format: "auto"},
		HTTP:     HTTP{Listen: "127.0.0.1:8080"},
		Store:    Store{Profile: "small", GCInterval: 10 * time.Minute, SyncWrites: true, BackupOnStart: true, Disk: DefaultDisk()},
		Region:   Region{DefaultCountry: "DE", TimeZone: "Europe/Berlin"},
		Shutdown: 10 * time.Second,
		Modems:   defaultModems(),
		WhatsApp: defaultWhatsApp(),
		Telegram: defaultTelegram(),
		Viber:    defaultViber(),
		VK:       defaultVK(),

		Messenger:  defaultMessenger(),
		Instagram:  defaultInstagram(),
		SIP:        defaultSIP(),
		Campaign:   Campaign{MaxCampaigns: 1000, MaxRecipients: 1000},
		Automation: DefaultAutomation(),
		MessageLog: DefaultMessageLog(),
		Updates:    Updates{SpoolDir: "/var/lib/pbxgate-updates", Keys: "/etc/pbxgate/update-keys.pem"},
		Memory:     DefaultMemory(),
	}
}

// Problem is one thing wrong with a configuration, tied to a key and line.
type Problem struct {
	Key  string // dotted path, e.g. modems.devices[0].pin
	Line int    // 1-based line in the file, 0 when the key is absent
	Msg  string
}

func (p Problem) String() string {
	switch {
	case p.Key != "" && p.Line > 0:
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Key, p.Msg)
	case p.Key != "":
		return fmt.Sprintf("%s: %s", p.Key, p.Msg)
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return p.Msg
}

// Problems is returned by Load and Parse when the configuration is invalid.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return fmt.Sprintf("configuration has %d problem(s):\n  %s", len(ps), strings.Join(lines, "\n  "))
}

// Load reads and validates the file at path, then applies environment
// overrides for secrets from env (usually os.Environ()).
func Load(path string, env []string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(data, env)
}

// Parse decodes data over the defaults, applies env overrides and validates.
// Every problem found is reported, each with its key and line.
func Parse(data []byte, env []string) (Config, error) {
	cfg := Default()
	var root yaml.Node
	lines := map[string]int{}
	var problems Problems
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.Unmarshal(data, &root); err != nil {
			return cfg, Problems{syntaxProblem(err)}
		}
		indexLines(&root, "", lines)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			problems = append(problems, decodeProblems(err, lines)...)
		}
	}
	applyEnv(&cfg, env)
	for _, p := range cfg.validate() {
		if p.Line == 0 {
			p.Line = lookupLine(lines, p.Key)
		}
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
		return cfg, problems
	}
	return cfg, nil
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

func syntaxProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{Line: n, Msg: "invalid YAML: " + m[2]}
	}
	return Problem{Msg: "invalid YAML: " + msg}
}

var fieldNotFoundRE = regexp.MustCompile(`field (\S+) not found in type`)

// decodeProblems turns yaml.v3's type errors into problems naming the key.
func decodeProblems(err error, lines map[string]int) Problems {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Problems{syntaxProblem(err)}
	}
	byLine := map[int]string{}
	for k, l := range lines {
		if cur, ok := byLine[l]; !ok || len(k) > len(cur) {
			byLine[l] = k
		}
	}
	var ps Problems
	for _, e := range te.Errors {
		m := lineRE.FindStringSubmatch(e)
		if m == nil {
			ps = append(ps, Problem{Msg: e})
			continue
		}
		n, _ := strconv.Atoi(m[1])
		msg := m[2]
		key := byLine[n]
		if f := fieldNotFoundRE.FindStringSubmatch(msg); f != nil {
			msg = fmt.Sprintf("unknown key %q (check spelling; see pbxgate.example.yaml)", f[1])
		} else {
			msg = strings.Replace(msg, "cannot unmarshal", "wrong type: cannot use", 1)
		}
		ps = append(ps, Problem{Key: key, Line: n, Msg: msg})
	}
	return ps
}

// indexLines records the line of every key path in the document.
func indexLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			indexLines(v, p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			indexLines(c, p, lines)
		}
	}
}

// lookupLine finds the line of key or of its nearest present parent.
func lookupLine(lines map[string]int, key string) int {
	for key != "" {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

func (c *Config) validate() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "must name a directory")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not a level; use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		add("log.format", "%q is not a format; use auto, text or json", c.Log.Format)
	}
	if err := checkListen(c.HTTP.Listen); err != nil {
		add("http.listen", "%v", err)
	}
	if c.HTTP.PublicURL != "" && !strings.HasPrefix(c.HTTP.PublicURL, "https://") && !strings.HasPrefix(c.HTTP.PublicURL, "http://") {
		add("http.public_url", "%q must start with https:// (Meta only calls HTTPS webhooks)", c.HTTP.PublicURL)
	}
	if u := c.HTTP.ShortLinkURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || strings.Trim(p.Path, "/") != "" {
			add("http.short_link_url", "%q is not a bare http(s) address such as https://go.example.com (no path)", u)
		}
	}
	for i, tp := range c.HTTP.TrustedProxies {
		if _, err := netip.ParsePrefix(tp); err != nil {
			if _, err := netip.ParseAddr(tp); err != nil {
				add(fmt.Sprintf("http.trusted_proxies[%d]", i), "%q is neither an address nor a CIDR such as 192.168.1.10 or 10.0.0.0/8", tp) // netscope: examples in an error text
			}
		}
	}
	switch c.Store.Profile {
	case "small", "default":
	default:
		add("store.profile", "%q is not a profile; use small (Raspberry Pi) or default", c.Store.Profile)
	}
	if c.Store.GCInterval < time.Minute {
		add("store.value_log_gc_interval", "%s is too short; use at least 1m", c.Store.GCInterval)
	}
	if len(c.Region.DefaultCountry) != 2 || strings.ToUpper(c.Region.DefaultCountry) != c.Region.DefaultCountry {
		add("region.default_country", "%q is not an ISO 3166 two-letter code such as DE or AT", c.Region.DefaultCountry)
	}
	if _, err := time.LoadLocation(c.Region.TimeZone); err != nil {
		add("region.time_zone", "%q is not a known time zone (e.g. Europe/Berlin)", c.Region.TimeZone)
	}
	if c.Shutdown <= 0 || c.Shutdown > 5*time.Minute {
		add("shutdown_timeout", "%s is out of range; use 1s to 5m", c.Shutdown)
	}
	if c.Campaign.MaxCampaigns < 1 {
		add("campaigns.max_campaigns", "must be at least 1")
	}
	if c.Campaign.MaxRecipients < 1 {
		add("campaigns.max_recipients", "must be at least 1")
	}
	if r := c.Campaign.Retention; r != 0 && r < 24*time.Hour {
		add("campaigns.retention", "%s is too short; keep at least 24h (or 0 for ever)", r)
	}
	ps = append(ps, c.Modems.validate("modems")...)
	ps = append(ps, validateChannels(c.Channels, &c.Modems)...)
	ps = append(ps, c.WhatsApp.validate("whatsapp")...)
	ps = append(ps, c.Telegram.validate("telegram")...)
	ps = append(ps, c.Viber.validate("viber")...)
	ps = append(ps, c.VK.validate("vk")...)

	ps = append(ps, c.Messenger.validate("messenger", "Facebook Page")...)
	ps = append(ps, c.Instagram.validate("instagram", "Instagram account")...)
	ps = append(ps, c.SIP.validate("sip")...)
	ps = append(ps, c.Automation.Validate("automation")...)
	ps = append(ps, c.MessageLog.Validate("message_log")...)
	ps = append(ps, c.Metrics.Validate("metrics")...)
	ps = append(ps, c.Memory.Validate("memory")...)
	ps = append(ps, c.Store.ValidateDisk("store")...)
	ps = append(ps, c.Cluster.Validate("cluster")...)
	return ps
}

func checkListen(addr string) error {
	host, port, ok := strings.Cut(addr, ":")
	_ = host
	if !ok {
		return fmt.Errorf("%q must be host:port, e.g. 127.0.0.1:8080", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	return nil
}

// Location returns the configured time zone (UTC if it cannot be loaded,
// which validation already reported).
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Region.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Redacted renders the configuration as YAML with every secret masked, for
// `pbxgate config check --print` and support bundles.
func (c Config) Redacted() ([]byte, error) {
	return yaml.Marshal(c) // Secret.MarshalYAML masks secrets
}
