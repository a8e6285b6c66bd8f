package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// onlySimIMEI returns the IMEI of the daemon's one simulated modem.
func onlySimIMEI(t *testing.T, p *proc) string {
	t.Helper()
	var modems []struct {
		IMEI string `json:"imei"`
	}
	getJSON(t, p.portal+"sim/modems", &modems)
	if len(modems) != 1 {
		t.Fatalf("simulated modems: %+v, want one", modems)
	}
	return modems[0].IMEI
}

// injectSMS makes the simulated network deliver an SMS from a customer to
// the daemon's simulated modem imei.
func injectSMS(t *testing.T, p *proc, imei, from, text string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"from": from, "text": text})
	resp, err := http.Post(p.portal+"sim/modems/"+imei+"/inject", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("inject: %s", resp.Status)
	}
}

// An SMS "STOP" sent to a simulated SIM of the running daemon is answered
// with the confirmation on the same SIM, and a campaign to that number then
// excludes it as opted out.
func TestInboundStopAnsweredAndExcludedFromCampaigns(t *testing.T) {
	t.Parallel()
	d := startOneSIM(t, "")
	p, api := d.p, d.api

	imei := onlySimIMEI(t, p)
	const customer = "+4917099887766"
	injectSMS(t, p, imei, customer, "  stopp ")

	deadline := time.Now().Add(20 * time.Second)
	for {
		var sent []struct {
			To   string `json:"to"`
			Text string `json:"text"`
		}
		getJSON(t, p.portal+"sim/modems/"+imei+"/sent", &sent)
		if len(sent) > 0 {
			if sent[0].To != customer || !strings.Contains(sent[0].Text, "START") {
				t.Fatalf("confirmation: %+v", sent[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no STOP confirmation sent within 20 s; log:\n%s", p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}

	body, _ := json.Marshal(map[string]any{"name": "Angebot", "channel": "sms", "numbers": []string{customer, "+4917011112222"},
		"text": "Nur heute: 20 % Rabatt", "send": "now"})
	var created struct {
		ID string `json:"id"`
	}
	api.do("POST", "/api/v1/campaigns", body, &created)
	for api.campaignState(created.ID) != "completed" {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("campaign not completed: %s", api.campaignState(created.ID))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var page struct {
		Items []struct {
			Number string `json:"number"`
			State  string `json:"state"`
			Error  string `json:"error"`
		} `json:"items"`
	}
	api.do("GET", "/api/v1/campaigns/"+created.ID+"/recipients", nil, &page)
	got := map[string]string{}
	for _, it := range page.Items {
		got[it.Number] = it.State + " " + it.Error
	}
	if !strings.HasPrefix(got[customer], "excluded") || !strings.Contains(got[customer], "opted out") {
		t.Errorf("opted-out customer: %q, want excluded (opted out)", got[customer])
	}
	if st := got["+4917011112222"]; !strings.HasPrefix(st, "sent") && !strings.HasPrefix(st, "delivered") {
		t.Errorf("other recipient: %q", st)
	}
}

// A WhatsApp customer's STOP (through the built-in Cloud API emulator and
// the signed webhook) is confirmed with a free-text answer: the customer's
// own message opened the 24-hour window.
func TestWhatsAppStopConfirmedInsideServiceWindow(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nlog: {format: json}\nhttp: {listen: \"127.0.0.1:0\"}\nmodems: {discover: false}\nwhatsapp: {enabled: true, emulate: true}\n", filepath.Join(work, "data"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath, "--demo")
	resp, err := http.Post(p.portal+"waemu/_emu/inbound", "application/json",
		strings.NewReader(`{"from":"4917055566677","name":"Erika","type":"text","text":"Abmelden"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("inject: %v %v", err, resp)
	}
	resp.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var stats struct {
			Accepted int            `json:"accepted"`
			Rejected map[string]int `json:"rejected"`
		}
		getJSON(t, p.portal+"waemu/_emu/stats", &stats)
		if len(stats.Rejected) > 0 {
			t.Fatalf("the emulator refused the confirmation: %v", stats.Rejected)
		}
		if stats.Accepted == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no confirmation sent within 20 s; log:\n%s", p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(p.log(), "not sent") {
		t.Errorf("log reports an unsent answer:\n%s", p.log())
	}
}

// A WhatsApp template campaign through the running daemon and the Cloud API
// emulator reaches completed, and the signed status webhooks move its
// recipients on to read.
func TestWhatsAppTemplateCampaignCompletesWithReadStatuses(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nlog: {format: json}\nhttp: {listen: \"127.0.0.1:0\"}\nmodems: {discover: false}\nwhatsapp: {enabled: true, emulate: true}\n", dataDir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath)
	completeSetup(t, p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", dataDir)
	if code != 0 {
		t.Fatal(stderr)
	}
	api := &apiClient{t: t, base: p.portal, token: strings.TrimSpace(out)}
	var numbers []string
	for i := range 20 {
		numbers = append(numbers, fmt.Sprintf("+49170111%04d", i))
	}
	body, _ := json.Marshal(map[string]any{"name": "WA", "channel": "whatsapp", "sender": "106540352242922", "numbers": numbers,
		"whatsapp": map[string]any{"template": "hello_world", "language": "en_US"}, "send": "now"})
	var created struct {
		ID string `json:"id"`
	}
	api.do("POST", "/api/v1/campaigns", body, &created)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var page struct {
			Items []struct {
				State string `json:"state"`
				Error string `json:"error"`
			} `json:"items"`
		}
		api.do("GET", "/api/v1/campaigns/"+created.ID+"/recipients?limit=100", nil, &page)
		read := 0
		for _, it := range page.Items {
			if it.State == "failed" {
				t.Fatalf("recipient failed: %s", it.Error)
			}
			if it.State == "delivered" {
				read++
			}
		}
		if read == len(numbers) && api.campaignState(created.ID) == "completed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %d of %d delivered/read, campaign %s", read, len(numbers), api.campaignState(created.ID))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
