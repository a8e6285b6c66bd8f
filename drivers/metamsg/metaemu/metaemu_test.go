package metaemu_test

// The emulator against Meta's documentation, not against pbxgate's
// client: raw HTTP requests in the shape of the Send API Reference's
// sample ("POST /{PAGE_ID}/messages" with recipient.id, messaging_type,
// message.text; answer {"recipient_id","message_id"}), errors in the shape
// and with the codes of Messenger Platform "Common Error Codes" ({"error":
// {"message","type","code","error_subcode","fbtrace_id"}}), the windows of
// the Messenger Platform policy (24 hours standard, HUMAN_AGENT 7 days;
// Instagram: HUMAN_AGENT only), and webhook calls signed as Graph API
// webhooks ("Getting Started": X-Hub-Signature-256 = sha256= + HMAC-SHA256
// of the payload with the app secret).

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
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/metamsg"
	"github.com/pbxgate/pbxgate/drivers/metamsg/metaemu"
)

type graphError struct {
	Error struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode"`
		FBTraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

func start(t *testing.T, o metaemu.Options) (*metaemu.Server, string) {
	t.Helper()
	emu := metaemu.New(o)
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

// send posts a raw JSON body as the Send API sample does (the token as
// access_token in the query, as in Meta's curl examples).
func send(t *testing.T, base, path, token, body string) (int, map[string]any, graphError) {
	t.Helper()
	res, err := http.Post(base+path+"?access_token="+token, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var ok map[string]any
	var ge graphError
	_ = json.Unmarshal(b, &ok)
	_ = json.Unmarshal(b, &ge)
	return res.StatusCode, ok, ge
}

func TestSendAPIRulesMessenger(t *testing.T) {
	t.Parallel()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(hook.Close)
	emu, base := start(t, metaemu.Options{CallbackURL: hook.URL})
	o := emu.Options()
	path := "/v21.0/" + o.AccountID + "/messages"
	msg := func(to, typ, tag string) string {
		b, _ := json.Marshal(map[string]any{"recipient": map[string]string{"id": to}, "messaging_type": typ, "tag": tag,
			"message": map[string]string{"text": "hello, world"}})
		return string(b)
	}
	// Nobody wrote yet: 100/2018001 "No matching user found".
	code, _, ge := send(t, base, path, o.Token, msg("1254477777772919", "RESPONSE", ""))
	if code != 400 || ge.Error.Code != 100 || ge.Error.Subcode != 2018001 || ge.Error.Type != "OAuthException" || ge.Error.FBTraceID == "" {
		t.Fatalf("unknown recipient: %d %+v", code, ge)
	}
	if _, err := emu.Write(context.Background(), metaemu.Inbound{From: "1254477777772919", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	// The sample request: answered with recipient_id and message_id.
	code, ok, _ := send(t, base, path, o.Token, msg("1254477777772919", "RESPONSE", ""))
	if code != 200 || ok["recipient_id"] != "1254477777772919" || ok["message_id"] == "" {
		t.Fatalf("sample request: %d %v", code, ok)
	}
	// /me/messages is the same edge.
	if code, _, _ := send(t, base, "/v21.0/me/messages", o.Token, msg("1254477777772919", "UPDATE", "")); code != 200 {
		t.Fatalf("/me/messages: %d", code)
	}
	// Wrong token: 190.
	if code, _, ge := send(t, base, path, "wrong", msg("1254477777772919", "RESPONSE", "")); code != 400 || ge.Error.Code != 190 {
		t.Fatalf("wrong token: %d %+v", code, ge)
	}
	// messaging_type is required and one of three; a tag needs MESSAGE_TAG.
	for _, body := range []string{
		msg("1254477777772919", "", ""),
		msg("1254477777772919", "PROMOTION", ""),
		msg("1254477777772919", "MESSAGE_TAG", ""),
		msg("1254477777772919", "RESPONSE", "HUMAN_AGENT"),
		msg("1254477777772919", "MESSAGE_TAG", "NON_PROMOTIONAL_SUBSCRIPTION"),
	} {
		if code, _, ge := send(t, base, path, o.Token, body); code != 400 || ge.Error.Code != 100 {
			t.Errorf("%s: %d %+v", body, code, ge)
		}
	}
	// 25 hours later: outside the window, 10/2018278; HUMAN_AGENT passes.
	emu.Age("1254477777772919", 25*time.Hour)
	if code, _, ge := send(t, base, path, o.Token, msg("1254477777772919", "RESPONSE", "")); code != 400 || ge.Error.Code != 10 || ge.Error.Subcode != 2018278 {
		t.Fatalf("after 25 h: %d %+v", code, ge)
	}
	if code, _, _ := send(t, base, path, o.Token, msg("1254477777772919", "MESSAGE_TAG", "HUMAN_AGENT")); code != 200 {
		t.Fatalf("HUMAN_AGENT after 25 h: %d", code)
	}
	// 8 days: HUMAN_AGENT's 7 days are over too.
	emu.Age("1254477777772919", 7*24*time.Hour)
	if code, _, ge := send(t, base, path, o.Token, msg("1254477777772919", "MESSAGE_TAG", "HUMAN_AGENT")); code != 400 || ge.Error.Subcode != 2018278 {
		t.Fatalf("HUMAN_AGENT after 8 days: %d %+v", code, ge)
	}
	// Blocked: 551/1545041.
	if _, err := emu.Write(context.Background(), metaemu.Inbound{From: "1254477777772919", Text: "again"}); err != nil {
		t.Fatal(err)
	}
	emu.Block("1254477777772919")
	if code, _, ge := send(t, base, path, o.Token, msg("1254477777772919", "RESPONSE", "")); code != 400 || ge.Error.Code != 551 || ge.Error.Subcode != 1545041 {
		t.Fatalf("blocked: %d %+v", code, ge)
	}
	// Another page's id: 100/33.
	if code, _, ge := send(t, base, "/v21.0/42/messages", o.Token, msg("1254477777772919", "RESPONSE", "")); code != 400 || ge.Error.Code != 100 || ge.Error.Subcode != 33 {
		t.Fatalf("other page: %d %+v", code, ge)
	}
}

// Instagram: subcode 2534022 outside the window, HUMAN_AGENT the only tag,
// 1000 bytes of text; more calls a second than allowed: 613.
func TestSendAPIRulesInstagram(t *testing.T) {
	t.Parallel()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(hook.Close)
	emu, base := start(t, metaemu.Options{Platform: metamsg.Instagram, CallbackURL: hook.URL, PerSecond: 3})
	o := emu.Options()
	path := "/v21.0/" + o.AccountID + "/messages"
	if _, err := emu.Write(context.Background(), metaemu.Inbound{From: "6543210987654321", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	body := func(typ, tag, text string) string {
		b, _ := json.Marshal(map[string]any{"recipient": map[string]string{"id": "6543210987654321"}, "messaging_type": typ, "tag": tag,
			"message": map[string]string{"text": text}})
		return string(b)
	}
	if code, _, ge := send(t, base, path, o.Token, body("MESSAGE_TAG", "ACCOUNT_UPDATE", "x")); code != 400 || ge.Error.Code != 100 {
		t.Fatalf("ACCOUNT_UPDATE on Instagram: %d %+v", code, ge)
	}
	if code, _, ge := send(t, base, path, o.Token, body("RESPONSE", "", string(bytes.Repeat([]byte("ä"), 501)))); code != 400 || ge.Error.Code != 100 {
		t.Fatalf("1002 bytes: %d %+v", code, ge)
	}
	if code, _, ge := send(t, base, path, o.Token, body("RESPONSE", "", "x")); code != 200 {
		t.Fatalf("third call in a second: %d %+v", code, ge)
	}
	code, _, ge := send(t, base, path, o.Token, body("RESPONSE", "", "x"))
	if code != 400 || ge.Error.Code != 613 {
		t.Fatalf("fourth call in a second: %d %+v", code, ge)
	}
	time.Sleep(1100 * time.Millisecond) // the emulator's one-second window passes
	emu.Age("6543210987654321", 25*time.Hour)
	if code, _, ge := send(t, base, path, o.Token, body("RESPONSE", "", "x")); code != 400 || ge.Error.Code != 10 || ge.Error.Subcode != 2534022 {
		t.Fatalf("after 25 h: %d %+v", code, ge)
	}
}

// A person's message reaches the callback signed with the app secret
// (checked here with crypto/hmac directly), in the documented envelope.
func TestWebhookCallSigned(t *testing.T) {
	t.Parallel()
	type call struct {
		sig  string
		body []byte
	}
	got := make(chan call, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- call{r.Header.Get("X-Hub-Signature-256"), b}
	}))
	t.Cleanup(hook.Close)
	emu, _ := start(t, metaemu.Options{CallbackURL: hook.URL, AppSecret: "s3cret"})
	if _, err := emu.Write(context.Background(), metaemu.Inbound{From: "4711", Text: "hello, world!"}); err != nil {
		t.Fatal(err)
	}
	c := <-got
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(c.body)
	if c.sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		t.Fatalf("signature %q does not match the body", c.sig)
	}
	var n struct {
		Object string `json:"object"`
		Entry  []struct {
			ID        string `json:"id"`
			Time      int64  `json:"time"`
			Messaging []struct {
				Sender    struct{ ID string } `json:"sender"`
				Recipient struct{ ID string } `json:"recipient"`
				Timestamp int64               `json:"timestamp"`
				Message   struct {
					MID  string `json:"mid"`
					Text string `json:"text"`
				} `json:"message"`
			} `json:"messaging"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(c.body, &n); err != nil {
		t.Fatal(err)
	}
	e := n.Entry[0]
	ev := e.Messaging[0]
	if n.Object != "page" || e.ID != emu.Options().AccountID || e.Time == 0 || ev.Sender.ID != "4711" ||
		ev.Recipient.ID != e.ID || ev.Timestamp == 0 || ev.Message.MID == "" || ev.Message.Text != "hello, world!" {
		t.Fatalf("notification %s", c.body)
	}
}
