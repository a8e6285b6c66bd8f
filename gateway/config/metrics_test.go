package config

import (
	"strings"
	"testing"
)

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("metrics:\n  token: 0123456789abcdef0123\n"), nil)
	if err != nil || cfg.Metrics.Token.Reveal() != "0123456789abcdef0123" {
		t.Fatalf("token: %v %q", err, cfg.Metrics.Token.Reveal())
	}
	if out, _ := cfg.Redacted(); strings.Contains(string(out), "0123456789abcdef0123") {
		t.Fatalf("the token is printed:\n%s", out)
	}
	cfg, err = Parse(nil, []string{EnvMetricsToken + "=from-the-environment-1"})
	if err != nil || cfg.Metrics.Token.Reveal() != "from-the-environment-1" {
		t.Fatalf("environment: %v %q", err, cfg.Metrics.Token.Reveal())
	}
	for _, bad := range []string{"short", `"with space 0123456789"`} {
		_, err := Parse([]byte("metrics:\n  token: "+bad+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), "metrics.token") {
			t.Errorf("token %s: %v, want a problem naming metrics.token", bad, err)
		}
	}
}
