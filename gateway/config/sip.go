package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// SIP configures how pbxgate joins the PBX.
type SIP struct {
	Enabled bool `yaml:"enabled"`
	// Mode is "register" (pbxgate registers as a user/trunk with digest
	// auth) or "peer" (the PBX routes to pbxgate by IP).
	Mode      string        `yaml:"mode"`
	Transport string        `yaml:"transport"` // udp, tcp, tls
	Listen    string        `yaml:"listen"`
	Domain    string        `yaml:"domain"`
	Registrar string        `yaml:"registrar"`
	Username  string        `yaml:"username"`
	Password  Secret        `yaml:"password"`
	Expiry    time.Duration `yaml:"register_expiry"`
	// AllowFrom lists the PBX addresses (IP or CIDR) accepted in peer mode.
	// In register mode an empty list accepts the registrar's addresses.
	AllowFrom []string `yaml:"allow_from"`
	// ContactHost is the address the PBX reaches pbxgate at (Contact and
	// Via); empty: the listen address, or the local address towards the PBX.
	ContactHost string `yaml:"contact_host"`
	// PeerAddress is the PBX (host:port) MESSAGEs to extensions go to in
	// peer mode.
	PeerAddress string `yaml:"peer_address"`
	// CustomerPrefix is stripped from the number an extension writes to
	// (e.g. "9" when extensions dial 9+4917…).
	CustomerPrefix string `yaml:"customer_prefix"`
	// MaxBodyBytes splits longer chats into ordered "(1/3) " parts.
	// Asterisk empties bodies over 1,023 bytes and RFC 3428 caps UDP at
	// 1,300; 0 never splits (tcp/tls only).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// Keepalive is how often pbxgate sends OPTIONS to the registrar to
	// notice a PBX restart or outage and register again at once (0: off;
	// default 10s).
	Keepalive time.Duration `yaml:"keepalive"`
	// Extensions hold per-extension settings (phones differ in what they
	// show).
	Extensions []ExtensionSettings `yaml:"extensions"`
	// TLSCert and TLSKey (PEM files) are pbxgate's certificate for transport
	// tls; TLSCA (PEM) verifies the PBX's certificate (empty: the system's
	// roots).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	TLSCA   string `yaml:"tls_ca"`
	// Sessions route customer conversations to extensions and queues.
	Sessions Sessions `yaml:"sessions"`
	// RemotePhonebooks are phonebooks the phones already use (Yealink or
	// Grandstream XML, CSV) that name contacts in chats.
	RemotePhonebooks []RemotePhonebook `yaml:"remote_phonebooks"`
}

// ExtensionSettings are one extension's (or a queue member's) settings.
type ExtensionSettings struct {
	Ext string `yaml:"ext"`
	// MaxBodyBytes overrides sip.max_body_bytes for this extension: longer
	// chats reach it in ordered "(1/3) " parts (e.g. 450 for baresip 1.0);
	// 0 keeps sip.max_body_bytes.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// DeliveryNotices "text": the extension is told in a short chat when
	// its reply was delivered or failed (phones that ask for RFC 5438
	// IMDNs get those regardless); "": none.
	DeliveryNotices string `yaml:"delivery_notices"`
}

// RemotePhonebook is a phonebook behind a URL, refreshed periodically.
type RemotePhonebook struct {
	URL     Secret        `yaml:"url"`    // may hold user:password@
	Format  string        `yaml:"format"` // auto, yealink, grandstream, csv
	Refresh time.Duration `yaml:"refresh"`
}

// Sessions configures chat sessions (gateway/session).
type Sessions struct {
	// DefaultChannel is where an extension may start a conversation with a
	// contact who has no open session ("": extensions only answer).
	DefaultChannel string `yaml:"default_channel"`
	// IdleTimeout closes sessions without messages (WhatsApp: at most 24h).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Routes: per channel, where inbound conversations go.
	Routes []SessionRoute `yaml:"routes"`
	Queues []MessageQueue `yaml:"queues"`
	// TextBlocks are canned replies an agent sends from the phone with
	// "/t <name>", "/t <number>" or "#<number>" ("#<name>"); placeholders
	// {name} (the contact's name, else number), {number}, {agent}.
	TextBlocks []TextBlock `yaml:"text_blocks"`
}

// TextBlock is a named canned reply.
type TextBlock struct {
	Name string `yaml:"name"`
	Text string `yaml:"text"`
}

// TextBlockPlaceholders are the placeholders a text block may use.
var TextBlockPlaceholders = []string{"{name}", "{number}", "{agent}"}

// SessionRoute sends a channel's new conversations to an extension ("201")
// or a queue ("queue:support").
type SessionRoute struct {
	Channel  string `yaml:"channel"`
	To       string `yaml:"to"`
	Fallback string `yaml:"fallback"` // when the extension stays unreachable
}

// MessageQueue is a named group of extensions sharing conversations.
type MessageQueue struct {
	Name          string        `yaml:"name"`
	Members       []string      `yaml:"members"`
	Assignment    string        `yaml:"assignment"`   // manual, auto, none
	Distribution  string        `yaml:"distribution"` // ringall, roundrobin, leastrecent
	AnswerTimeout time.Duration `yaml:"answer_timeout"`
	Fallback      string        `yaml:"fallback"` // extension or queue:<name>
	// Hours: business hours, e.g. days [mon, tue, wed, thu, fri], open
	// "09:00", close "17:00" (region.time_zone).
	Hours      *BusinessHours `yaml:"hours"`
	OutOfHours string         `yaml:"out_of_hours"` // destination outside hours
	AutoReply  string         `yaml:"auto_reply"`   // text sent to the contact outside hours
	// MaxBodyBytes is the split size for the queue's members that have no
	// sip.extensions[].max_body_bytes of their own (a member of several
	// queues gets the smallest); 0 keeps sip.max_body_bytes.
	MaxBodyBytes int `yaml:"max_body_bytes"`
}

// BusinessHours of a queue.
type BusinessHours struct {
	Days  []string `yaml:"days"`
	Open  string   `yaml:"open"`
	Close string   `yaml:"close"`
}

func defaultSIP() SIP {
	return SIP{Mode: "register", Transport: "udp", Listen: "0.0.0.0:5070", Expiry: 5 * time.Minute,
		MaxBodyBytes: 1000, Keepalive: 10 * time.Second, Sessions: Sessions{IdleTimeout: 24 * time.Hour}}
}

func (s *SIP) validate(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	switch s.Mode {
	case "register", "peer":
	default:
		add(key+".mode", "%q is not a mode; use register or peer", s.Mode)
	}
	switch s.Transport {
	case "udp", "tcp", "tls":
	default:
		add(key+".transport", "%q is not a transport; use udp, tcp or tls", s.Transport)
	}
	if s.MaxBodyBytes < 0 || s.MaxBodyBytes > 1300 && s.Transport == "udp" || s.MaxBodyBytes == 0 && s.Transport == "udp" {
		add(key+".max_body_bytes", "%d does not fit UDP; use 1..1300 (1000 suits Asterisk), or transport tcp with 0", s.MaxBodyBytes)
	}
	if s.Keepalive != 0 && (s.Keepalive < time.Second || s.Keepalive > 5*time.Minute) {
		add(key+".keepalive", "%s is out of range; use 1s..5m (10s finds a restarted PBX within 30s), or 0 for none", s.Keepalive)
	}
	exts := map[string]bool{}
	for i, e := range s.Extensions {
		k := fmt.Sprintf("%s.extensions[%d]", key, i)
		if e.Ext == "" || exts[e.Ext] {
			add(k+".ext", "%q must be a unique, non-empty extension (e.g. 201)", e.Ext)
		}
		exts[e.Ext] = true
		if e.DeliveryNotices != "" && e.DeliveryNotices != "text" {
			add(k+".delivery_notices", "%q: use text (a short chat when a reply was delivered or failed) or leave it empty", e.DeliveryNotices)
		}
		if e.MaxBodyBytes < 0 || e.MaxBodyBytes > 1300 && s.Transport == "udp" {
			add(k+".max_body_bytes", "%d does not fit UDP; use 1..1300 (e.g. 450 for baresip 1.0), or 0 for sip.max_body_bytes", e.MaxBodyBytes)
		}
	}
	if s.Sessions.IdleTimeout < time.Minute {
		add(key+".sessions.idle_timeout", "%s is too short; use at least 1m (e.g. 24h)", s.Sessions.IdleTimeout)
	}
	queues := map[string]bool{}
	for i, q := range s.Sessions.Queues {
		k := fmt.Sprintf("%s.sessions.queues[%d]", key, i)
		if q.Name == "" || queues[q.Name] {
			add(k+".name", "%q must be a unique, non-empty name", q.Name)
		}
		queues[q.Name] = true
		if len(q.Members) == 0 {
			add(k+".members", "a queue needs at least one extension")
		}
		if q.MaxBodyBytes < 0 || q.MaxBodyBytes > 1300 && s.Transport == "udp" {
			add(k+".max_body_bytes", "%d does not fit UDP; use 1..1300 (e.g. 450 for baresip 1.0), or 0 for sip.max_body_bytes", q.MaxBodyBytes)
		}
		switch q.Assignment {
		case "", "manual", "auto", "none":
		default:
			add(k+".assignment", "%q is not manual, auto or none", q.Assignment)
		}
		switch q.Distribution {
		case "", "ringall", "roundrobin", "leastrecent":
		default:
			add(k+".distribution", "%q is not ringall, roundrobin or leastrecent", q.Distribution)
		}
		if h := q.Hours; h != nil {
			for _, d := range h.Days {
				if _, ok := Weekday(d); !ok {
					add(k+".hours.days", "%q is not a day; use mon, tue, wed, thu, fri, sat, sun", d)
				}
			}
			for _, t := range []string{h.Open, h.Close} {
				if _, err := time.Parse("15:04", t); err != nil {
					add(k+".hours", "%q is not a time of day; use HH:MM", t)
				}
			}
		}
	}
	dest := func(k, v string, required bool) {
		if v == "" {
			if required {
				add(k, "is required: an extension (201) or a queue (queue:support)")
			}
			return
		}
		if name, ok := strings.CutPrefix(v, "queue:"); ok && !queues[name] {
			add(k, "no queue named %q in %s.sessions.queues", name, key)
		}
	}
	for i, q := range s.Sessions.Queues {
		k := fmt.Sprintf("%s.sessions.queues[%d]", key, i)
		dest(k+".fallback", q.Fallback, false)
		dest(k+".out_of_hours", q.OutOfHours, false)
	}
	blocks := map[string]bool{}
	for i, b := range s.Sessions.TextBlocks {
		k := fmt.Sprintf("%s.sessions.text_blocks[%d]", key, i)
		if b.Name == "" || blocks[strings.ToLower(b.Name)] || strings.IndexFunc(b.Name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) >= 0 {
			add(k+".name", "%q must be a unique name of letters, digits, - and _ (e.g. opening-hours)", b.Name)
		}
		blocks[strings.ToLower(b.Name)] = true
		if strings.TrimSpace(b.Text) == "" {
			add(k+".text", "is empty; write the reply the block sends")
		}
		rest := b.Text
		for _, p := range TextBlockPlaceholders {
			rest = strings.ReplaceAll(rest, p, "")
		}
		if i := strings.IndexByte(rest, '{'); i >= 0 && strings.IndexByte(rest[i:], '}') > 0 {
			add(k+".text", "%q is not a placeholder; use %s", rest[i:i+strings.IndexByte(rest[i:], '}')+1], strings.Join(TextBlockPlaceholders, ", "))
		}
	}
	for i, r := range s.Sessions.Routes {
		k := fmt.Sprintf("%s.sessions.routes[%d]", key, i)
		if r.Channel == "" {
			add(k+".channel", "is required (an SMS channel or WhatsApp number name)")
		}
		dest(k+".to", r.To, true)
		dest(k+".fallback", r.Fallback, false)
	}
	for i, pb := range s.RemotePhonebooks {
		k := fmt.Sprintf("%s.remote_phonebooks[%d]", key, i)
		if u := pb.URL.Reveal(); !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			add(k+".url", "must be an http(s):// URL of the phonebook (e.g. https://pbx.example.lan/phonebook.xml)")
		}
		switch pb.Format {
		case "", "auto", "yealink", "grandstream", "csv":
		default:
			add(k+".format", "%q is not auto, yealink, grandstream or csv", pb.Format)
		}
		if pb.Refresh != 0 && pb.Refresh < time.Minute {
			add(k+".refresh", "%s is too short; use at least 1m (default 1h)", pb.Refresh)
		}
	}
	if err := checkListen(s.Listen); err != nil {
		add(key+".listen", "%v", err)
	}
	if !s.Enabled {
		return ps
	}
	if s.Mode == "register" {
		if s.Registrar == "" {
			add(key+".registrar", "is required in register mode (e.g. pbx.example.local:5060)")
		}
		if s.Username == "" {
			add(key+".username", "is required in register mode")
		}
		if s.Expiry < 30*time.Second {
			add(key+".register_expiry", "%s is too short; use at least 30s", s.Expiry)
		}
	}
	if s.Transport == "tls" && (s.TLSCert == "" || s.TLSKey == "") {
		add(key+".tls_cert", "transport tls needs tls_cert and tls_key (PEM files): the PBX connects to pbxgate over TLS too")
	}
	if s.Mode == "peer" && len(s.AllowFrom) == 0 {
		add(key+".allow_from", "peer mode needs the PBX's address(es); requests from elsewhere are refused")
	}
	if s.Mode == "peer" && s.PeerAddress == "" {
		add(key+".peer_address", "peer mode needs the PBX's address for messages to extensions (e.g. pbx.example.local:5060)")
	}
	for i, a := range s.AllowFrom {
		if _, err := netip.ParsePrefix(a); err != nil {
			if _, err := netip.ParseAddr(a); err != nil {
				add(fmt.Sprintf("%s.allow_from[%d]", key, i), "%q is neither an IP address nor a CIDR (e.g. 192.0.2.10 or 198.51.100.0/24)", a)
			}
		}
	}
	return ps
}

// Weekday parses mon … sun (or full English names).
func Weekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(s)
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if s == name || s == name[:3] {
			return d, true
		}
	}
	return 0, false
}
