package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Environment variables overriding the vk section's secrets.
const (
	EnvVKToken  = "PBXGATE_VK_TOKEN"
	EnvVKSecret = "PBXGATE_VK_SECRET"
)

// VK configures the VK community messages channel (docs/vk.md): the Bots
// Long Poll API by default (no public URL needed), or the Callback API
// with receive: callback and http.public_url.
type VK struct {
	Enabled bool   `yaml:"enabled"`
	Name    string `yaml:"name"` // channel name; default "vk"
	// Token is the community's access token (Manage community → API usage
	// → Access tokens, with the "messages" right).
	Token Secret `yaml:"token"`
	// GroupID is the community's id (the digits of club123456).
	GroupID int64 `yaml:"group_id"`
	// APIURL is https://api.vk.com or the emulator.
	APIURL string `yaml:"api_url"`
	// APIVersion is the v parameter of every call.
	APIVersion string `yaml:"api_version"`
	// Receive is "longpoll" (default) or "callback".
	Receive string `yaml:"receive"`
	// Confirmation is the string the Callback API's confirmation request
	// must get back; Secret the secret key VK sends with every event.
	Confirmation      string        `yaml:"confirmation"`
	Secret            Secret        `yaml:"secret"`
	MessagesPerSecond int           `yaml:"messages_per_second"`
	PollWait          time.Duration `yaml:"poll_wait"`
	// Emulate starts the built-in VK API emulator (make run).
	Emulate bool `yaml:"emulate"`
}

func defaultVK() VK {
	return VK{Name: "vk", APIURL: "https://api.vk.com", // netscope: production default, not dialled by tests
		APIVersion: "5.199", Receive: "longpoll", MessagesPerSecond: 20, PollWait: 25 * time.Second}
}

var vkVersionRE = regexp.MustCompile(`^5\.\d{1,3}$`)

func (v *VK) validate(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	if v.MessagesPerSecond < 1 || v.MessagesPerSecond > 20 {
		add(key+".messages_per_second", "%d is out of range 1..20 (VK allows 20 calls per second with a community token)", v.MessagesPerSecond)
	}
	if v.PollWait < time.Second || v.PollWait > 90*time.Second {
		add(key+".poll_wait", "%s is out of range 1s..90s (the Bots Long Poll API waits at most 90 s)", v.PollWait)
	}
	if u, err := url.Parse(v.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add(key+".api_url", "%q is not an http(s) URL; use https://api.vk.com", v.APIURL)
	}
	if !vkVersionRE.MatchString(v.APIVersion) {
		add(key+".api_version", "%q is not a VK API version such as 5.199", v.APIVersion)
	}
	switch v.Receive {
	case "longpoll":
	case "callback":
		if v.Confirmation == "" {
			add(key+".confirmation", "is required with receive: callback: copy the string from Manage community → API usage → Callback API")
		}
	default:
		add(key+".receive", "%q: use longpoll or callback", v.Receive)
	}
	if !v.Enabled || v.Emulate {
		return ps
	}
	if v.Token == "" {
		add(key+".token", "is required: create a community access token with the messages right (or set %s)", EnvVKToken)
	}
	if v.GroupID <= 0 {
		add(key+".group_id", "is required: the community's id (the digits of club123456)")
	}
	return ps
}
