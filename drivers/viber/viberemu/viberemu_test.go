package viberemu_test

// The emulator against the Viber REST Bot API documentation
// (https://developers.viber.com/docs/api/rest-bot-api/): the request and
// answer bodies below are the documentation's examples ("Send Message",
// "Text message", "Setting a Webhook", "Error Codes").

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/viber/viberemu"
)

func start(t *testing.T, o viberemu.Options) (*viberemu.Server, string) {
	t.Helper()
	emu := viberemu.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = emu.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return emu, "http://" + ln.Addr().String()
}

func call(t *testing.T, base, method, token, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/pa/"+method, bytes.NewBufferString(body))
	if token != "" {
		req.Header.Set("X-Viber-Auth-Token", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The documentation's send_message example, to a user who wrote (status
// 0 with a message_token), to one who never wrote (5
// receiverNotRegistered), after unsubscribing (6 receiverNotSubscribed),
// and without or with a wrong token (2).
func TestSendMessageRules(t *testing.T) {
	t.Parallel()
	emu, base := start(t, viberemu.Options{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hook.Close)
	tok := emu.Options().Token
	if st := call(t, base, "set_webhook", tok, `{"url":"`+hook.URL+`"}`); st["status"] != 0.0 {
		t.Fatalf("set_webhook: %v", st)
	}
	// "Text message" example of the REST Bot API.
	example := `{"receiver":"01234567890A=","min_api_version":1,"sender":{"name":"John McClane","avatar":"http://avatar.example.com"},"tracking_data":"tracking data","type":"text","text":"Hello world!"}` // netscope: Viber documentation example payload, never dialled
	if st := call(t, base, "send_message", tok, example); st["status"] != 5.0 || st["status_message"] != "receiverNotRegistered" {
		t.Fatalf("to a stranger: %v", st)
	}
	if _, err := emu.Write(context.Background(), "01234567890A=", "John McClane", "hi"); err != nil {
		t.Fatal(err)
	}
	st := call(t, base, "send_message", tok, example)
	if st["status"] != 0.0 || st["status_message"] != "ok" || st["message_token"] == nil {
		t.Fatalf("to a subscriber: %v", st)
	}
	if err := emu.Unsubscribe(context.Background(), "01234567890A="); err != nil {
		t.Fatal(err)
	}
	if st := call(t, base, "send_message", tok, example); st["status"] != 6.0 {
		t.Fatalf("after unsubscribing: %v", st)
	}
	if st := call(t, base, "send_message", "", example); st["status"] != 2.0 || st["status_message"] != "missing_auth_token" {
		t.Fatalf("without token: %v", st)
	}
	if st := call(t, base, "send_message", "wrong", example); st["status"] != 2.0 {
		t.Fatalf("wrong token: %v", st)
	}
	if st := call(t, base, "send_message", tok, `{"receiver":"01234567890A=","type":"text","text":"x"}`); st["status"] != 3.0 {
		t.Fatalf("without sender.name: %v", st)
	}
	if n := len(emu.SentMessages()); n != 1 {
		t.Fatalf("%d messages recorded, want 1", n)
	}
}

// set_webhook checks the URL with a "webhook" callback signed with
// X-Viber-Content-Signature (HMAC-SHA256 of the body, keyed with the
// token); a URL that does not answer 200 is status 1. Sending beyond the
// emulator's rate gives status 12.
func TestWebhookCheckSignatureAndRate(t *testing.T) {
	t.Parallel()
	emu, base := start(t, viberemu.Options{PerSecond: 2})
	tok := emu.Options().Token
	var mu sync.Mutex
	var events []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(tok))
		m.Write(body)
		if r.Header.Get("X-Viber-Content-Signature") != hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("bad signature on %s", body)
		}
		var ev struct{ Event string }
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		events = append(events, ev.Event)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	t.Cleanup(bad.Close)
	if st := call(t, base, "set_webhook", tok, `{"url":"`+bad.URL+`"}`); st["status"] != 1.0 {
		t.Fatalf("set_webhook to a failing URL: %v", st)
	}
	// The documentation's set_webhook example.
	st := call(t, base, "set_webhook", tok, `{"url":"`+hook.URL+`","event_types":["delivered","seen","failed","subscribed","unsubscribed","conversation_started"],"send_name":true,"send_photo":true}`)
	if st["status"] != 0.0 || len(st["event_types"].([]any)) != 6 {
		t.Fatalf("set_webhook: %v", st)
	}
	mu.Lock()
	if len(events) != 1 || events[0] != "webhook" {
		t.Errorf("callbacks %v, want one webhook check", events)
	}
	mu.Unlock()
	if _, err := emu.Write(context.Background(), "abc=", "A", "hi"); err != nil {
		t.Fatal(err)
	}
	body := `{"receiver":"abc=","sender":{"name":"Bot"},"type":"text","text":"x"}`
	codes := []any{}
	for range 3 {
		codes = append(codes, call(t, base, "send_message", tok, body)["status"])
	}
	if codes[0] != 0.0 || codes[1] != 0.0 || codes[2] != 12.0 {
		t.Fatalf("statuses %v, want 0 0 12", codes)
	}
	if emu.Stats().Limited != 1 {
		t.Fatalf("stats %+v", emu.Stats())
	}
}
