package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Meta pauses a template (the built-in emulator sends the
// message_template_status_update webhook in the shape of Meta's webhook
// reference): a campaign with that template is refused at once with the
// reason, without waiting for the hourly template sync; the signal is
// logged.
func TestWhatsAppPausedTemplateRefusesCampaign(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nlog: {format: json}\nhttp: {listen: \"127.0.0.1:0\"}\nmodems: {discover: false}\nwhatsapp: {enabled: true, emulate: true, language: en}\n", dataDir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath, "--demo")
	completeSetup(t, p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", dataDir)
	if code != 0 {
		t.Fatal(stderr)
	}
	token := strings.TrimSpace(out)
	campaign := func() (int, string) {
		body, _ := json.Marshal(map[string]any{"name": "WA", "channel": "whatsapp", "numbers": []string{"+4917011110000"},
			"whatsapp": map[string]any{"template": "hello_world", "language": "en_US"}, "send": "now"})
		req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(p.portal, "/")+"/api/v1/campaigns", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The templates are synchronised at start; wait until the campaign
	// would be taken (a dry check: the first campaign is real and fine).
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := campaign()
		if status/100 == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign with an approved template refused: %d %s", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Post(p.portal+"waemu/_emu/template_status", "application/json", strings.NewReader(
		`{"name":"hello_world","language":"en_US","event":"PAUSED","reason":"NONE","title":"FIRST_PAUSE","description":"Your WhatsApp message template has been paused."}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("template_status: %s", resp.Status)
	}
	status, body := campaign()
	if status/100 == 2 || !strings.Contains(body, "PAUSED") {
		t.Errorf("campaign with the paused template: %d %s, want refused naming PAUSED", status, body)
	}
	if !strings.Contains(p.log(), "account signal from Meta") || !strings.Contains(p.log(), "FIRST_PAUSE") {
		t.Errorf("the pause is not logged:\n%s", p.log())
	}
}

// A 2.5 MiB notification (Meta's text-message example padded with JSON
// whitespace, signed with the app secret) reaches the WhatsApp channel
// through the portal: the default whatsapp.webhook_max_bytes is 3 MiB,
// above the portal's 1 MiB budget for other routes.
func TestWhatsAppLargeWebhookAccepted(t *testing.T) {
	t.Parallel()
	d := startOneSIM(t, "whatsapp: {enabled: true, emulate: true}\n")
	ex, err := os.ReadFile(filepath.Join("..", "..", "drivers", "whatsapp", "testdata", "webhooks", "text_message.json"))
	if err != nil {
		t.Fatal(err)
	}
	body := append(bytes.Repeat([]byte(" "), 5<<19), ex...)
	mac := hmac.New(sha256.New, []byte("emu-app-secret"))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, d.p.portal+"webhooks/whatsapp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("2.5 MiB webhook: %s", resp.Status)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var page struct {
			Items []logEntry `json:"items"`
		}
		d.api.do("GET", "/api/v1/messages", nil, &page)
		for _, e := range page.Items {
			if e.Direction == "in" && e.Text == "Does it come in another color?" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the padded message is not in the message log: %+v", page.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
