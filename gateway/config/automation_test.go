package config

import (
	"strings"
	"testing"
	"time"
)

func TestAutomationDefaultsValidAndProblemsNamed(t *testing.T) {
	a := DefaultAutomation()
	if ps := a.Validate("automation"); len(ps) != 0 {
		t.Fatalf("defaults: %v", ps)
	}
	a.SMTP = AutomationSMTP{Host: "mail.example.com", Port: 0, TLS: "ssl", Username: "u", From: "nobody", Timeout: time.Second}
	a.RetryAttempts = 0
	a.StopWords, a.StartWords = []string{"STOP"}, []string{"STOP"}
	got := a.Validate("automation").Error()
	for _, key := range []string{"automation.smtp.tls", "automation.smtp.port", "automation.smtp.from", "automation.retry_attempts", "automation.stop_words[0]"} {
		if !strings.Contains(got, key) {
			t.Errorf("no problem for %s in\n%s", key, got)
		}
	}
	a = DefaultAutomation()
	a.SMTP = AutomationSMTP{Host: "127.0.0.1", Port: 25, TLS: "none", Username: "u", From: "gw@example.com", Timeout: time.Second}
	if got := a.Validate("automation").Error(); !strings.Contains(got, "unencrypted") {
		t.Errorf("plain-text password accepted: %s", got)
	}
}
