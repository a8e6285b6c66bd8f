package config

import (
	"fmt"
	"net/url"
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
	// RequestTimeout bounds one Cloud API request; a send that times out
	// is recorded as unknown, never resent blindly.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MediaMaxBytes limits inbound media downloads.
	MediaMaxBytes int64 `yaml:"media_max_bytes"`
	// Emulate starts the built-in Cloud API emulator (make run).
	Emulate bool `yaml:"emulate"`
	// DisplayName names the number above in the portal ("Vertrieb",
	// "+49 30 1234567"); empty: the channel name "whatsapp".
	DisplayName string `yaml:"display_name"`
	// Numbers are further phone numbers of the same WhatsApp Business
	// Account and Meta app (same token, secrets and webhook). Each is a
	// channel of its own: its customers' messages land on it and replies
	// leave from it.
	Numbers []WhatsAppNumber `yaml:"numbers"`
	// WebhookMaxBytes limits one webhook notification; Meta retries a
	// refused one for days and then drops it, so keep it generous.
	WebhookMaxBytes int64 `yaml:"webhook_max_bytes"`
	// Language ("de" or "en") of the texts pbxgate shows in place of
	// WhatsApp content it cannot show (shared contact, order, removed
	// reaction, unsupported message).
	Language string `yaml:"language"`
}

// WhatsAppNumber is one more phone number of the business account.
type WhatsAppNumber struct {
	PhoneNumberID string `yaml:"phone_number_id"`
	// Channel is the channel name campaigns, sessions and rules use for
	// this number (e.g. "whatsapp-service"); unique among all channels.
	Channel     string `yaml:"channel"`
	DisplayName string `yaml:"display_name"`
	// Throughput and Tier: 0 takes the account's (messages_per_second,
	// messaging_limit_tier above); Tier -1 is unlimited.
	Throughput int `yaml:"messages_per_second"`
	Tier       int `yaml:"messaging_limit_tier"`
}

// WhatsAppPrimaryChannel is the channel name of whatsapp.phone_number_id.
const WhatsAppPrimaryChannel = "whatsapp"

// DefaultWebhookMaxBytes is the default of whatsapp.webhook_max_bytes.
const DefaultWebhookMaxBytes = 3 << 20

func defaultWhatsApp() WhatsApp {
	return WhatsApp{
		BaseURL:        "https://graph.facebook.com",
		APIVersion:     "v23.0",
		Throughput:     80,
		Tier:           250,
		TemplateSync:   time.Hour,
		RequestTimeout: 20 * time.Second,
		MediaMaxBytes:  16 << 20,

		WebhookMaxBytes: DefaultWebhookMaxBytes,
		Language:        "de",
	}
}

var (
	digitsRE     = regexp.MustCompile(`^\d+$`)
	apiVersionRE = regexp.MustCompile(`^v\d+\.\d+$`)
)

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
	if w.RequestTimeout < time.Second || w.RequestTimeout > 5*time.Minute {
		add(key+".request_timeout", "%s is out of range 1s..5m", w.RequestTimeout)
	}
	if w.MediaMaxBytes < 1<<10 || w.MediaMaxBytes > 100<<20 {
		add(key+".media_max_bytes", "%d is out of range 1024..104857600 (Meta's largest media is 100 MB)", w.MediaMaxBytes)
	}
	if w.TemplateSync != 0 && w.TemplateSync < time.Minute {
		add(key+".template_sync_interval", "%s is too short; use at least 1m (or 0 to sync only on demand)", w.TemplateSync)
	}
	if u, err := url.Parse(w.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add(key+".base_url", "%q is not an http(s) URL; use https://graph.facebook.com", w.BaseURL)
	}
	if !apiVersionRE.MatchString(w.APIVersion) {
		add(key+".api_version", "%q is not a Graph API version such as v23.0", w.APIVersion)
	}
	if w.WebhookMaxBytes < 1<<20 || w.WebhookMaxBytes > 64<<20 {
		add(key+".webhook_max_bytes", "%d is out of range 1048576..67108864 (1 to 64 MiB; default 3 MiB)", w.WebhookMaxBytes)
	}
	if w.Language != "de" && w.Language != "en" {
		add(key+".language", "%q: use de or en", w.Language)
	}
	ps = append(ps, w.validateNumbers(key)...)
	if w.BusinessID != "" && !digitsRE.MatchString(w.BusinessID) {
		add(key+".business_account_id", "must be the numeric WhatsApp Business Account ID (needed to synchronise templates)")
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

func (w *WhatsApp) validateNumbers(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	ids := map[string]bool{w.PhoneNumberID: w.PhoneNumberID != ""}
	names := map[string]bool{WhatsAppPrimaryChannel: true}
	for i, n := range w.Numbers {
		k := fmt.Sprintf("%s.numbers[%d]", key, i)
		switch {
		case !digitsRE.MatchString(n.PhoneNumberID):
			add(k+".phone_number_id", "must be the numeric phone number ID from Meta's WhatsApp Manager")
		case ids[n.PhoneNumberID]:
			add(k+".phone_number_id", "%s is configured twice", n.PhoneNumberID)
		}
		ids[n.PhoneNumberID] = true
		switch {
		case !nameRE.MatchString(n.Channel):
			add(k+".channel", "%q must be 1-32 letters, digits, '.', '_' or '-' (e.g. whatsapp-service)", n.Channel)
		case names[n.Channel]:
			add(k+".channel", "%q is used by another WhatsApp number", n.Channel)
		}
		names[n.Channel] = true
		if n.Throughput < 0 || n.Throughput > 1000 {
			add(k+".messages_per_second", "%d is out of range 1..1000 (0: the account's)", n.Throughput)
		}
		switch n.Tier {
		case -1, 0, 250, 2000, 10000, 100000:
		default:
			add(k+".messaging_limit_tier", "%d is not a Meta tier; use 250, 2000, 10000, 100000, -1 for unlimited or 0 for the account's", n.Tier)
		}
	}
	return ps
}
