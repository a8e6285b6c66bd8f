package config

import (
	"fmt"
	"net/mail"
	"time"
)

// Automation configures the inbound automation (gateway/rules,
// gateway/consent, drivers/forward): the "automation" section.
type Automation struct {
	// StopWords and StartWords replace the built-in opt-out/opt-in
	// keywords when given (omitted: STOP, STOPP, ABMELDEN, СТОП … built in).
	StopWords  []string `yaml:"stop_words"`
	StartWords []string `yaml:"start_words"`
	// StopReply and StartReply confirm an opt-out/opt-in; empty: the
	// built-in German/English text; "-": no confirmation.
	StopReply  string `yaml:"stop_reply"`
	StartReply string `yaml:"start_reply"`
	// Retry of failed forwards and replies: first wait, doubling up to max,
	// attempts in all.
	RetryFirst    time.Duration `yaml:"retry_first"`
	RetryMax      time.Duration `yaml:"retry_max"`
	RetryAttempts int           `yaml:"retry_attempts"`
	// Retention of the inbound message log (rules.Engine.Prune); 0 keeps
	// everything.
	Retention   time.Duration  `yaml:"retention"`
	HTTPTimeout time.Duration  `yaml:"http_timeout"`
	SMTP        AutomationSMTP `yaml:"smtp"`
}

// AutomationSMTP is the mail server of e-mail forwards (empty host: e-mail
// forward rules are refused when saved).
type AutomationSMTP struct {
	Host     string        `yaml:"host"`
	Port     int           `yaml:"port"`
	TLS      string        `yaml:"tls"` // starttls, tls, none
	Username string        `yaml:"username"`
	Password Secret        `yaml:"password"`
	From     string        `yaml:"from"`
	Timeout  time.Duration `yaml:"timeout"`
}

// DefaultAutomation returns the defaults of the automation section.
func DefaultAutomation() Automation {
	return Automation{
		RetryFirst: 30 * time.Second, RetryMax: time.Hour, RetryAttempts: 8,
		Retention: 90 * 24 * time.Hour, HTTPTimeout: 15 * time.Second,
		SMTP: AutomationSMTP{Port: 587, TLS: "starttls", Timeout: 30 * time.Second},
	}
}

// Validate reports problems under key (e.g. "automation").
func (a *Automation) Validate(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: key + "." + k, Msg: fmt.Sprintf(format, args...)})
	}
	if a.RetryFirst < time.Second || a.RetryFirst > time.Hour {
		add("retry_first", "%s is out of range 1s..1h", a.RetryFirst)
	}
	if a.RetryMax < a.RetryFirst || a.RetryMax > 24*time.Hour {
		add("retry_max", "%s must be between retry_first and 24h", a.RetryMax)
	}
	if a.RetryAttempts < 1 || a.RetryAttempts > 50 {
		add("retry_attempts", "%d is out of range 1..50", a.RetryAttempts)
	}
	if a.Retention != 0 && a.Retention < 24*time.Hour {
		add("retention", "%s is too short; keep at least 24h (or 0 for ever)", a.Retention)
	}
	if a.HTTPTimeout < time.Second || a.HTTPTimeout > 5*time.Minute {
		add("http_timeout", "%s is out of range 1s..5m", a.HTTPTimeout)
	}
	for i, w := range a.StopWords {
		for _, s := range a.StartWords {
			if w == s {
				add(fmt.Sprintf("stop_words[%d]", i), "%q is also a start word", w)
			}
		}
	}
	s := a.SMTP
	if s.Host == "" {
		return ps
	}
	switch s.TLS {
	case "starttls", "tls", "none":
	default:
		add("smtp.tls", "%q: use starttls (port 587), tls (port 465) or none (local relay only)", s.TLS)
	}
	if s.Port < 1 || s.Port > 65535 {
		add("smtp.port", "%d is not a port", s.Port)
	}
	if s.Username != "" && s.TLS == "none" {
		add("smtp.username", "would send the password unencrypted; use tls starttls or tls")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		add("smtp.from", "%q is not an e-mail address (e.g. pbxgate <gw@example.com>)", s.From)
	}
	if s.Timeout < time.Second || s.Timeout > 5*time.Minute {
		add("smtp.timeout", "%s is out of range 1s..5m", s.Timeout)
	}
	return ps
}
