package tgemu_test

// These tests check the emulator against the Bot API documentation
// (https://core.telegram.org/bots/api), not against pbxgate's client: raw
// HTTP requests, the documented answers. Error shapes follow "Making
// requests" ({"ok":false,"error_code":…,"description":…,"parameters":…})
// and the answers Telegram is seen to give, quoted in public bug reports:
// 403 {"ok":false,"error_code":403,"description":"Forbidden: bot was
// blocked by the user"} and 400 "Bad Request: chat not found"
// (botman/driver-telegram#89, Achaak/toogoodtogo-bot#27).

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/telegram/tgemu"
)

func start(t *testing.T, o tgemu.Options) (*tgemu.Server, string) {
	t.Helper()
	emu := tgemu.New(o)
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

type answer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func call(t *testing.T, base, token, method, body string) (int, answer) {
	t.Helper()
	res, err := http.Post(base+"/bot"+token+"/"+method, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s: not JSON: %s", method, raw)
	}
	return res.StatusCode, a
}

func wantErr(t *testing.T, code int, a answer, wantCode int, wantDesc string) {
	t.Helper()
	if code != wantCode || a.OK || a.ErrorCode != wantCode || a.Description != wantDesc {
		t.Fatalf("got HTTP %d %+v; want %d %q", code, a, wantCode, wantDesc)
	}
}

// "All queries to the Telegram Bot API must be served over HTTPS and need
// to be presented in this form: https://api.telegram.org/bot<token>/METHOD_NAME";
// a wrong token is 401 Unauthorized, an unknown method 404 Not Found.
func TestTokenInPathAndUnknownMethod(t *testing.T) {
	t.Parallel()
	emu, base := start(t, tgemu.Options{})
	tok := emu.Options().Token
	code, a := call(t, base, "1:wrong", "getMe", "{}")
	wantErr(t, code, a, 401, "Unauthorized")
	code, a = call(t, base, tok, "noSuchMethod", "{}")
	wantErr(t, code, a, 404, "Not Found")
	code, a = call(t, base, tok, "getMe", "{}")
	var me struct {
		ID       int64  `json:"id"`
		IsBot    bool   `json:"is_bot"`
		Username string `json:"username"`
	}
	if code != 200 || !a.OK || json.Unmarshal(a.Result, &me) != nil || !me.IsBot || me.Username == "" || me.ID == 0 {
		t.Fatalf("getMe: %d %+v", code, a)
	}
	// Parameters may also come as a query string or a form ("Making
	// requests"): getMe with GET works.
	res, err := http.Get(base + "/bot" + tok + "/getMe")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET getMe: %v %v", res, err)
	}
	res.Body.Close()
}

// getUpdates: "An update is considered confirmed as soon as getUpdates is
// called with an offset higher than its update_id"; "This method will not
// work if an outgoing webhook is set up" (409).
func TestGetUpdatesOffsetConfirmsAndWebhookConflicts(t *testing.T) {
	t.Parallel()
	emu, base := start(t, tgemu.Options{})
	tok := emu.Options().Token
	id1, _ := emu.Write(tgemu.Inbound{ChatID: 501, FirstName: "Ada", Text: "/start promo"})
	id2, _ := emu.Write(tgemu.Inbound{ChatID: 501, Text: "Hallo"})
	if id2 != id1+1 {
		t.Fatalf("update ids %d, %d: want consecutive", id1, id2)
	}
	_, a := call(t, base, tok, "getUpdates", `{"timeout":0}`)
	var ups []map[string]json.RawMessage
	if err := json.Unmarshal(a.Result, &ups); err != nil || len(ups) != 2 {
		t.Fatalf("getUpdates: %s", a.Result)
	}
	// Not confirmed yet: asked again without offset, both come again.
	_, a = call(t, base, tok, "getUpdates", `{"timeout":0}`)
	_ = json.Unmarshal(a.Result, &ups)
	if len(ups) != 2 {
		t.Fatalf("unconfirmed updates gone: %s", a.Result)
	}
	var msg struct {
		MessageID int64 `json:"message_id"`
		Chat      struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		} `json:"chat"`
		Text     string `json:"text"`
		Entities []struct {
			Type string `json:"type"`
		} `json:"entities"`
	}
	if err := json.Unmarshal(ups[0]["message"], &msg); err != nil || msg.Chat.ID != 501 || msg.Chat.Type != "private" ||
		msg.Text != "/start promo" || len(msg.Entities) != 1 || msg.Entities[0].Type != "bot_command" {
		t.Fatalf("message shape: %s", ups[0]["message"])
	}
	// offset = first + 1 confirms the first.
	_, a = call(t, base, tok, "getUpdates", `{"offset":`+jsonInt(id1+1)+`,"timeout":0}`)
	_ = json.Unmarshal(a.Result, &ups)
	if len(ups) != 1 || string(ups[0]["update_id"]) != jsonInt(id2) {
		t.Fatalf("after offset: %s", a.Result)
	}
	// A webhook makes getUpdates a conflict.
	code, a := call(t, base, tok, "setWebhook", `{"url":"http://127.0.0.1:9/hook","secret_token":"s3cr3t_-OK"}`)
	if code != 200 || !a.OK {
		t.Fatalf("setWebhook: %d %+v", code, a)
	}
	code, a = call(t, base, tok, "getUpdates", `{}`)
	wantErr(t, code, a, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
	// secret_token: "1-256 characters. Only characters A-Z, a-z, 0-9, _
	// and - are allowed."
	code, a = call(t, base, tok, "setWebhook", `{"url":"http://127.0.0.1:9/hook","secret_token":"no spaces!"}`)
	if code != 400 || a.OK {
		t.Fatalf("bad secret accepted: %d %+v", code, a)
	}
	call(t, base, tok, "deleteWebhook", `{}`)
	if code, _ := call(t, base, tok, "getUpdates", `{"timeout":0}`); code != 200 {
		t.Fatalf("getUpdates after deleteWebhook: %d", code)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// A second getUpdates while one waits is refused with 409.
func TestConcurrentGetUpdatesConflicts(t *testing.T) {
	t.Parallel()
	emu, base := start(t, tgemu.Options{})
	tok := emu.Options().Token
	done := make(chan struct{})
	go func() { defer close(done); call(t, base, tok, "getUpdates", `{"timeout":2}`) }()
	var code int
	var a answer
	for range 100 {
		time.Sleep(10 * time.Millisecond)
		if code, a = call(t, base, tok, "getUpdates", `{"timeout":0}`); code == 409 {
			break
		}
	}
	wantErr(t, code, a, 409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
	<-done
}

// sendMessage: "Text of the message to be sent, 1-4096 characters";
// unknown chats are 400 "chat not found", a blocked bot 403.
func TestSendMessageRules(t *testing.T) {
	t.Parallel()
	emu, base := start(t, tgemu.Options{})
	tok := emu.Options().Token
	code, a := call(t, base, tok, "sendMessage", `{"chat_id":777,"text":"hi"}`)
	wantErr(t, code, a, 400, "Bad Request: chat not found")
	emu.Write(tgemu.Inbound{ChatID: 777, Text: "/start"})
	code, a = call(t, base, tok, "sendMessage", `{"chat_id":777,"text":""}`)
	wantErr(t, code, a, 400, "Bad Request: message text is empty")
	code, a = call(t, base, tok, "sendMessage", `{"chat_id":777,"text":"`+strings.Repeat("x", 4097)+`"}`)
	wantErr(t, code, a, 400, "Bad Request: message is too long")
	code, a = call(t, base, tok, "sendMessage", `{"chat_id":777,"text":"`+strings.Repeat("x", 4096)+`"}`)
	var m struct {
		MessageID int64 `json:"message_id"`
		From      struct {
			IsBot bool `json:"is_bot"`
		} `json:"from"`
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		Date int64  `json:"date"`
		Text string `json:"text"`
	}
	if code != 200 || json.Unmarshal(a.Result, &m) != nil || m.MessageID == 0 || !m.From.IsBot || m.Chat.ID != 777 || m.Date == 0 || len(m.Text) != 4096 {
		t.Fatalf("4096 characters: %d %+v", code, a)
	}
	// Form encoding works too.
	time.Sleep(time.Second)
	res, err := http.PostForm(base+"/bot"+tok+"/sendMessage", url.Values{"chat_id": {"777"}, "text": {"form"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("form sendMessage: %v %v", res, err)
	}
	res.Body.Close()
	emu.BlockSilently(777)
	time.Sleep(time.Second)
	code, a = call(t, base, tok, "sendMessage", `{"chat_id":777,"text":"still there?"}`)
	wantErr(t, code, a, 403, "Forbidden: bot was blocked by the user")
}

// Over the limits (Bots FAQ: no more than one message per second to a
// chat, about 30 per second overall) the answer is 429 with
// parameters.retry_after.
func TestRateLimits429WithRetryAfter(t *testing.T) {
	t.Parallel()
	emu, base := start(t, tgemu.Options{})
	tok := emu.Options().Token
	emu.Write(tgemu.Inbound{ChatID: 42, Text: "hi"})
	if code, _ := call(t, base, tok, "sendMessage", `{"chat_id":42,"text":"one"}`); code != 200 {
		t.Fatal(code)
	}
	code, a := call(t, base, tok, "sendMessage", `{"chat_id":42,"text":"two"}`)
	if code != 429 || a.ErrorCode != 429 || a.Parameters == nil || a.Parameters.RetryAfter < 1 ||
		!strings.HasPrefix(a.Description, "Too Many Requests: retry after ") {
		t.Fatalf("second message within a second: %d %+v", code, a)
	}
	// 31 chats in one second: the 31st is refused.
	for i := range 40 {
		emu.Write(tgemu.Inbound{ChatID: int64(1000 + i), Text: "hi"})
	}
	time.Sleep(1100 * time.Millisecond)
	var limited atomic.Int32
	for i := range 31 {
		code, _ := call(t, base, tok, "sendMessage", `{"chat_id":`+jsonInt(int64(1000+i))+`,"text":"x"}`)
		if code == 429 {
			limited.Add(1)
		}
	}
	if limited.Load() == 0 {
		t.Fatal("31 messages within a second were all accepted")
	}
}

// The webhook gets each update with the secret header, and an update
// stays until the webhook answers 2xx.
func TestWebhookDeliversWithSecretUntil2xx(t *testing.T) {
	t.Parallel()
	emu, base := start(t, tgemu.Options{})
	tok := emu.Options().Token
	var got atomic.Int32
	var fail atomic.Bool
	fail.Store(true)
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Telegram-Bot-Api-Secret-Token") != "abc_DEF-1" {
			w.WriteHeader(401)
			return
		}
		if fail.Load() {
			w.WriteHeader(500)
			return
		}
		got.Add(1)
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: hook}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	call(t, base, tok, "setWebhook", `{"url":"http://`+ln.Addr().String()+`/h","secret_token":"abc_DEF-1"}`)
	emu.Write(tgemu.Inbound{ChatID: 9, Text: "hello"})
	deadline := time.Now().Add(5 * time.Second)
	for emu.Stats().HookRefused == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if emu.Stats().Pending != 1 {
		t.Fatalf("refused update not kept: %+v", emu.Stats())
	}
	fail.Store(false)
	for got.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got.Load() != 1 || emu.Stats().Pending != 0 {
		t.Fatalf("delivered %d, stats %+v", got.Load(), emu.Stats())
	}
	_, a := call(t, base, tok, "getWebhookInfo", `{}`)
	var info struct {
		URL     string `json:"url"`
		Pending int    `json:"pending_update_count"`
	}
	if json.Unmarshal(a.Result, &info) != nil || !strings.HasSuffix(info.URL, "/h") || info.Pending != 0 {
		t.Fatalf("getWebhookInfo: %s", a.Result)
	}
}
