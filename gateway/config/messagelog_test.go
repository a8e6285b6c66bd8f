package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMessageLogRetention(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("message_log:\n  retention: 720h\n"), nil)
	if err != nil || cfg.MessageLog.Retention != 30*24*time.Hour {
		t.Fatalf("720h: %v %v", cfg.MessageLog.Retention, err)
	}
	if cfg, err := Parse([]byte("message_log:\n  retention: 0s\n"), nil); err != nil || cfg.MessageLog.Retention != 0 {
		t.Fatalf("0 (for ever): %v %v", cfg.MessageLog.Retention, err)
	}
	for _, c := range []struct{ yaml, want string }{
		{"log:\n  level: info\nmessage_log:\n  retention: 1h\n", "line 4: message_log.retention: 1h0m0s is too short"},
		{"message_log:\n  keep: 90d\n", `line 2: message_log.keep: unknown key "keep"`},
	} {
		_, err := Parse([]byte(c.yaml), nil)
		var ps Problems
		if !errors.As(err, &ps) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
}
