package main

import (
	"bytes"
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

// An admin edits an approved template through the API (the daemon's
// built-in emulator takes it as Meta does: back to review, PENDING): a
// campaign with that template is refused naming PENDING until Meta
// approves it again, then taken.
func TestWhatsAppEditedTemplateHoldsCampaign(t *testing.T) {
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
	call := func(method, path string, v any) (int, string) {
		body, _ := json.Marshal(v)
		req, _ := http.NewRequest(method, strings.TrimSuffix(p.portal, "/")+path, bytes.NewReader(body))
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
	n := 0
	campaign := func() (int, string) {
		n++
		return call(http.MethodPost, "/api/v1/campaigns", map[string]any{"name": fmt.Sprintf("WA %d", n), "channel": "whatsapp", "numbers": []string{"+4917011110000"},
			"whatsapp": map[string]any{"template": "2023_april_promo", "language": "en_US", "values": map[string]string{"1": "Anna", "2": "FALL25"}}, "send": "now"})
	}
	// The templates are synchronised at start.
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := campaign()
		if status/100 == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign with the approved template refused: %d %s", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	status, body := call(http.MethodPut, "/api/v1/whatsapp/templates/2023_april_promo/en_US", map[string]any{"components": []any{
		map[string]any{"type": "BODY", "text": "Hi {{1}}, our Fall Sale ends soon! Code {{2}} saves 30%.",
			"example": map[string]any{"body_text": []any{[]any{"Mark", "FALL25"}}}}}})
	if status != http.StatusOK || !strings.Contains(body, `"status":"PENDING"`) {
		t.Fatalf("edit: %d %s", status, body)
	}
	if status, body := campaign(); status/100 == 2 || !strings.Contains(body, "PENDING") {
		t.Errorf("campaign with the edited template: %d %s, want refused naming PENDING", status, body)
	}
	resp, err := http.Post(p.portal+"waemu/_emu/template_status", "application/json", strings.NewReader(
		`{"name":"2023_april_promo","language":"en_US","event":"APPROVED","reason":"NONE"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if status, body := campaign(); status/100 != 2 {
		t.Errorf("campaign after Meta approved the edit: %d %s", status, body)
	}
}
