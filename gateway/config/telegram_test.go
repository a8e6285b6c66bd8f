package config

import (
	"strings"
	"testing"
	"time"
)

func TestTelegramSection(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("telegram:\n  enabled: true\n"), []string{EnvTelegramToken + "=123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"})
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Telegram
	if tg.Token.Reveal() != "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" || tg.Name != "telegram" || tg.MessagesPerSecond != 30 || tg.PollTimeout != 30*time.Second {
		t.Fatalf("defaults and env token: %+v", tg)
	}
	for _, tc := range []struct{ yaml, key string }{
		{"telegram: {enabled: true}", "telegram.token"},
		{"telegram: {enabled: true, token: 'not a token'}", "telegram.token"},
		{"telegram: {enabled: true, emulate: true, messages_per_second: 31}", "telegram.messages_per_second"},
		{"telegram: {webhook_secret: 'has space'}", "telegram.webhook_secret"},
		{"telegram: {poll_timeout: 2m}", "telegram.poll_timeout"},
		{"telegram: {api_url: 'ftp://127.0.0.1'}", "telegram.api_url"},
	} {
		_, err := Parse([]byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v; want a problem with %s", tc.yaml, err, tc.key)
		}
	}
	if _, err := Parse([]byte("telegram: {enabled: true, emulate: true}"), nil); err != nil {
		t.Errorf("emulated bot needs no token: %v", err)
	}
}
