package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// campaigns.retention: a duration of at least a day, 0 (the default)
// keeps the recipient details for ever.
func TestCampaignRetention(t *testing.T) {
	t.Parallel()
	if cfg, err := Parse([]byte("log:\n  level: info\n"), nil); err != nil || cfg.Campaign.Retention != 0 {
		t.Fatalf("default: %v %v", cfg.Campaign.Retention, err)
	}
	cfg, err := Parse([]byte("campaigns:\n  retention: 2160h\n"), nil)
	if err != nil || cfg.Campaign.Retention != 90*24*time.Hour {
		t.Fatalf("2160h: %v %v", cfg.Campaign.Retention, err)
	}
	_, err = Parse([]byte("campaigns:\n  retention: 2h\n"), nil)
	var ps Problems
	if !errors.As(err, &ps) || !strings.Contains(err.Error(), "campaigns.retention: 2h0m0s is too short") {
		t.Errorf("2h: %v", err)
	}
}
