package config

import (
	"fmt"
	"net/url"
	"unicode/utf8"
)

// EnvViberToken overrides viber.token.
const EnvViberToken = "PBXGATE_VIBER_TOKEN"

// Viber configures the Viber bot channel (docs/viber.md). Viber delivers
// messages only by webhook: receiving needs http.public_url.
type Viber struct {
	Enabled bool   `yaml:"enabled"`
	Name    string `yaml:"name"` // channel name; default "viber"
	// Token is the bot's authentication token (Viber admin panel, "edit
	// info" of the bot).
	Token Secret `yaml:"token"`
	// APIURL is https://chatapi.viber.com or the emulator.
	APIURL string `yaml:"api_url"`
	// SenderName is shown with every message (at most 28 characters);
	// empty: the bot's name.
	SenderName string `yaml:"sender_name"`
	// Welcome is sent when a user opens the chat (conversation_started).
	Welcome           string `yaml:"welcome"`
	MessagesPerSecond int    `yaml:"messages_per_second"`
	// Emulate starts the built-in REST Bot API emulator (make run).
	Emulate bool `yaml:"emulate"`
}

func defaultViber() Viber {
	return Viber{Name: "viber", APIURL: "https://chatapi.viber.com", // netscope: production default, not dialled by tests
		MessagesPerSecond: 20}
}

func (v *Viber) validate(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	if v.MessagesPerSecond < 1 || v.MessagesPerSecond > 100 {
		add(key+".messages_per_second", "%d is out of range 1..100", v.MessagesPerSecond)
	}
	if u, err := url.Parse(v.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add(key+".api_url", "%q is not an http(s) URL; use https://chatapi.viber.com", v.APIURL)
	}
	if n := utf8.RuneCountInString(v.SenderName); n > 28 {
		add(key+".sender_name", "has %d characters; Viber shows at most 28", n)
	}
	if n := utf8.RuneCountInString(v.Welcome); n > 7000 {
		add(key+".welcome", "has %d characters; Viber takes at most 7000", n)
	}
	if !v.Enabled || v.Emulate {
		return ps
	}
	if v.Token == "" {
		add(key+".token", "is required: paste the bot's token from the Viber admin panel (or set %s)", EnvViberToken)
	}
	return ps
}
