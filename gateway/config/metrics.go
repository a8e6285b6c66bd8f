package config

import (
	"strings"
	"unicode"
)

// EnvMetricsToken overrides metrics.token (keep the token out of the file).
const EnvMetricsToken = "PBXGATE_METRICS_TOKEN"

// Metrics configures GET /metrics on the HTTP listener.
type Metrics struct {
	// Token, when set, must be sent as "Authorization: Bearer <token>" to
	// read /metrics (Prometheus: authorization: {credentials: …} in the
	// scrape config). Empty: /metrics is open, as usual for a scraper on
	// loopback or the LAN.
	Token Secret `yaml:"token"`
}

// Validate checks the token's shape: long enough not to be guessed, and
// nothing that cannot travel in an HTTP header.
func (m Metrics) Validate(key string) Problems {
	t := m.Token.Reveal()
	if t == "" {
		return nil
	}
	var ps Problems
	if len(t) < 16 {
		ps = append(ps, Problem{Key: key + ".token", Msg: "use at least 16 characters (e.g. openssl rand -hex 16)"})
	}
	if strings.IndexFunc(t, func(r rune) bool { return r > unicode.MaxASCII || unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		ps = append(ps, Problem{Key: key + ".token", Msg: "use printable ASCII without spaces"})
	}
	return ps
}
