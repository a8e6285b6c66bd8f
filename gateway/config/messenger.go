package config

import (
	"fmt"
	"net/url"
	"regexp"
)

// Environment variables that override the Facebook Page's secrets.
const (
	EnvMessengerToken     = "PBXGATE_MESSENGER_TOKEN"
	EnvMessengerAppSecret = "PBXGATE_MESSENGER_APP_SECRET"
	EnvMessengerVerify    = "PBXGATE_MESSENGER_VERIFY_TOKEN"
)

// MetaChat configures a Facebook Page (messenger) or an Instagram
// professional account (instagram) as a channel (docs/messenger.md,
// docs/instagram.md). Meta delivers messages by webhook only, so a real
// account needs http.public_url; the emulator (emulate) needs none.
type MetaChat struct {
	Enabled bool   `yaml:"enabled"`
	Name    string `yaml:"name"` // channel name; default "messenger"/"instagram"
	// AccountID is the Page id (messenger) or the Instagram professional
	// account id (instagram).
	AccountID string `yaml:"account_id"`
	// Username is the Page's or account's user name, for the m.me/ig.me
	// link; empty: the one Meta reports for the token.
	Username string `yaml:"username"`
	// Token is the Page access token (or the Instagram user access token
	// of the Instagram API with Instagram Login).
	Token       Secret `yaml:"token"`
	AppSecret   Secret `yaml:"app_secret"`
	VerifyToken Secret `yaml:"verify_token"`
	// APIURL is https://graph.facebook.com (Messenger, Instagram via the
	// Page) or https://graph.instagram.com (Instagram Login).
	APIURL     string `yaml:"api_url"`
	APIVersion string `yaml:"api_version"`
	// HumanAgent: agents may answer up to 7 days after the person's last
	// message (HUMAN_AGENT tag; the app needs Meta's Human Agent
	// permission). false: 24 hours.
	HumanAgent        bool `yaml:"human_agent"`
	MessagesPerSecond int  `yaml:"messages_per_second"`
	// Emulate starts the built-in Graph API emulator (make run).
	Emulate bool `yaml:"emulate"`
}

func defaultMessenger() MetaChat {
	return MetaChat{Name: "messenger", APIURL: "https://graph.facebook.com", // netscope: production default, not dialled by tests
		APIVersion: "v21.0", MessagesPerSecond: 20}
}

var (
	metaIDRE      = regexp.MustCompile(`^\d{5,24}$`)
	metaVersionRE = regexp.MustCompile(`^v\d+\.\d+$`)
)

func (m *MetaChat) validate(key, label string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	if m.MessagesPerSecond < 1 || m.MessagesPerSecond > 250 {
		add(key+".messages_per_second", "%d is out of range 1..250", m.MessagesPerSecond)
	}
	if u, err := url.Parse(m.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add(key+".api_url", "%q is not an http(s) URL; use https://graph.facebook.com", m.APIURL)
	}
	if !metaVersionRE.MatchString(m.APIVersion) {
		add(key+".api_version", "%q is not a Graph API version like v21.0", m.APIVersion)
	}
	if m.AccountID != "" && !metaIDRE.MatchString(m.AccountID) {
		add(key+".account_id", "%q is not a %s id (digits, as Meta shows it)", m.AccountID, label)
	}
	if !m.Enabled || m.Emulate {
		return ps
	}
	if m.AccountID == "" {
		add(key+".account_id", "is required: the %s id from Meta's App Dashboard", label)
	}
	if m.Token == "" {
		add(key+".token", "is required: the access token from Meta's App Dashboard (or set PBXGATE_%s_TOKEN)", upper(key))
	}
	if m.AppSecret == "" {
		add(key+".app_secret", "is required: webhook calls are checked with it (App Dashboard → App settings → Basic; or PBXGATE_%s_APP_SECRET)", upper(key))
	}
	if m.VerifyToken == "" {
		add(key+".verify_token", "is required: choose one and enter the same in Meta's webhook setup (or PBXGATE_%s_VERIFY_TOKEN)", upper(key))
	}
	return ps
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
