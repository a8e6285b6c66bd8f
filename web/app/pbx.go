package app

import (
	"context"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
)

// PBXSettings is the PBX connection and routing an administrator edits on
// the PBX page; the daemon validates a change against its whole
// configuration, stores it (gateway/settings) and restarts to apply it.
type PBXSettings interface {
	// SIP returns the settings the next start uses, whether they were
	// changed in the portal, and by whom and when.
	SIP() (s config.SIP, changed bool, by string, at time.Time)
	// SaveSIP validates and stores s; a config.Problems error names the
	// keys (sip.registrar, sip.sessions.queues[0].members, …).
	SaveSIP(ctx context.Context, s config.SIP, by string) error
	// ResetSIP returns to the configuration file's settings.
	ResetSIP(ctx context.Context, by string) error
	// Channels are the channel names routes can name.
	Channels() []string
}

// FmtDur shows a duration as an admin types it ("2m", "24h", "1h30m").
func FmtDur(d time.Duration) string {
	if d == 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
