package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// EnvTelegramToken overrides telegram.token.
const EnvTelegramToken = "PBXGATE_TELEGRAM_TOKEN"

// Telegram configures the Telegram bot channel (docs/telegram.md). Updates
// come by long polling unless http.public_url is set: then Telegram calls
// the portal's webhook.
type Telegram struct {
	Enabled bool   `yaml:"enabled"`
	Name    string `yaml:"name"` // channel name; default "telegram"
	// Token is the bot token from @BotFather ("123456:ABC-…").
	Token Secret `yaml:"token"`
	// APIURL is https://api.telegram.org, a self-hosted Bot API server,
	// or the emulator.
	APIURL string `yaml:"api_url"`
	// WebhookSecret is setWebhook's secret_token; empty: generated and
	// kept in the store.
	WebhookSecret     Secret        `yaml:"webhook_secret"`
	MessagesPerSecond int           `yaml:"messages_per_second"`
	PollTimeout       time.Duration `yaml:"poll_timeout"`
	// Emulate starts the built-in Bot API emulator (make run).
	Emulate bool `yaml:"emulate"`
}

func defaultTelegram() Telegram {
	return Telegram{Name: "telegram", APIURL: "https://api.telegram.org", // netscope: production default, not dialled by tests
		MessagesPerSecond: 30, PollTimeout: 30 * time.Second}
}

var (
	tgTokenRE  = regexp.MustCompile(`^\d+:[A-Za-z0-9_-]{20,}$`)
	tgSecretRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
)

func (t *Telegram) validate(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	if t.MessagesPerSecond < 1 || t.MessagesPerSecond > 30 {
		add(key+".messages_per_second", "%d is out of range 1..30 (Telegram allows about 30 messages per second)", t.MessagesPerSecond)
	}
	if t.PollTimeout < time.Second || t.PollTimeout > 50*time.Second {
		add(key+".poll_timeout", "%s is out of range 1s..50s", t.PollTimeout)
	}
	if u, err := url.Parse(t.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add(key+".api_url", "%q is not an http(s) URL; use https://api.telegram.org", t.APIURL)
	}
	if t.WebhookSecret != "" && !tgSecretRE.MatchString(t.WebhookSecret.Reveal()) {
		add(key+".webhook_secret", "use 1 to 256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule for secret_token)")
	}
	if !t.Enabled || t.Emulate {
		return ps
	}
	if t.Token == "" {
		add(key+".token", "is required: create a bot with @BotFather and paste its token (or set %s)", EnvTelegramToken)
	} else if !tgTokenRE.MatchString(t.Token.Reveal()) {
		add(key+".token", "does not look like a bot token from @BotFather (digits, a colon, then letters)")
	}
	return ps
}
