package config

import (
	"fmt"
	"time"
)

// MessageLog configures the message log of every inbound and outbound
// message (gateway/msglog): the "message_log" section.
type MessageLog struct {
	// Retention is how long entries are kept (pruned daily); 0 keeps
	// everything.
	Retention time.Duration `yaml:"retention"`
}

// DefaultMessageLog returns the defaults of the message_log section.
func DefaultMessageLog() MessageLog {
	return MessageLog{Retention: 90 * 24 * time.Hour}
}

// Validate reports problems under key (e.g. "message_log").
func (m *MessageLog) Validate(key string) Problems {
	var ps Problems
	if m.Retention != 0 && m.Retention < 24*time.Hour {
		ps = append(ps, Problem{Key: key + ".retention", Msg: fmt.Sprintf("%s is too short; keep at least 24h (or 0 for ever)", m.Retention)})
	}
	return ps
}
