package config

import (
	"fmt"
	"regexp"
	"time"
)

// WhatsApp configures the WhatsApp Business Cloud API channel.
type WhatsApp struct {
	Enabled bool `yaml:"enabled"`
	// BaseURL is https://graph.facebook.com in production; a local emulator
	// stands in for tests and `make run`.
	BaseURL       string        `yaml:"base_url"`
	APIVersion    string        `yaml:"api_version"`
	PhoneNumberID string        `yaml:"phone_number_id"`
	BusinessID    string        `yaml:"business_account_id"`
	Token         Secret        `yaml:"token"`
	AppSecret     Secret        `yaml:"app_secret"`
	VerifyToken   Secret        `yaml:"verify_token"`
	Throughput    int           `yaml:"messages_per_second"`
	Tier          int           `yaml:"messaging_limit_tier"` // 250, 2000, 10000, 100000 or 0 (unlimited)
	TemplateSync  time.Duration `yaml:"template_sync_interval"`
	// Emulate starts the built-in Cloud API emulator (make run).
	Emulate bool `yaml:"emulate"`
}

func defaultWhatsApp() WhatsApp {
	return WhatsApp{
		BaseURL:      "https://graph.facebook.com",
		APIVersion:   "v23.0",
		Throughput:   80,
		Tier:         250,
		TemplateSync: time.Hour,
	}
}

var digitsRE = regexp.MustCompile(`^\d+$`)

func (w *WhatsApp) validate(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	if w.Throughput < 1 || w.Throughput > 1000 {
		add(key+".messages_per_second", "%d is out of range 1..1000", w.Throughput)
	}
	switch w.Tier {
	case 0, 250, 2000, 10000, 100000:
	default:
		add(key+".messaging_limit_tier", "%d is not a Meta tier; use 250, 2000, 10000, 100000 or 0 for unlimited", w.Tier)
	}
	if !w.Enabled || w.Emulate {
		return ps
	}
	if w.PhoneNumberID == "" || !digitsRE.MatchString(w.PhoneNumberID) {
		add(key+".phone_number_id", "must be the numeric phone number ID from Meta's WhatsApp Manager")
	}
	if w.Token == "" {
		add(key+".token", "is required (or set %s)", EnvWhatsAppToken)
	}
	if w.AppSecret == "" {
		add(key+".app_secret", "is required to verify webhooks (or set %s)", EnvWhatsAppAppSecret)
	}
	if w.VerifyToken == "" {
		add(key+".verify_token", "is required for the webhook handshake (or set %s)", EnvWhatsAppVerify)
	}
	return ps
}
