package config

import (
	"fmt"
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
	AllowFrom []string `yaml:"allow_from"`
}

func defaultSIP() SIP {
	return SIP{Mode: "register", Transport: "udp", Listen: "0.0.0.0:5070", Expiry: 5 * time.Minute}
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
	if s.Mode == "peer" && len(s.AllowFrom) == 0 {
		add(key+".allow_from", "peer mode needs the PBX's address(es); requests from elsewhere are refused")
	}
	return ps
}
