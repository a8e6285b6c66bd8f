package vkemu_test

// The emulator against VK's documentation: messages.send
// (https://dev.vk.com/en/method/messages.send: peer_id, random_id,
// message), the error codes of https://dev.vk.com/en/reference/errors
// (5, 6, 9, 100, 901, 914), and the Bots Long Poll API
// (https://dev.vk.com/en/api/bots-long-poll/getting-started: server, key
// and ts from groups.getLongPollServer; a_check; failed 1, 2 and 3).

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/vk/vkemu"
)

func start(t *testing.T, o vkemu.Options) (*vkemu.Server, string) {
	t.Helper()
	emu := vkemu.New(o)
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
	Response json.RawMessage `json:"response"`
	Error    *struct {
		Code int    `json:"error_code"`
		Msg  string `json:"error_msg"`
	} `json:"error"`
	Failed  int    `json:"failed"`
	TS      string `json:"ts"`
	Updates []struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
		Group  int64           `json:"group_id"`
	} `json:"updates"`
}

func get(t *testing.T, u string) answer {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a answer
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func method(t *testing.T, base, name string, p url.Values) answer {
	t.Helper()
	res, err := http.PostForm(base+"/method/"+name, p)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a answer
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func code(a answer) int {
	if a.Error == nil {
		return 0
	}
	return a.Error.Code
}

func TestMessagesSendRules(t *testing.T) {
	t.Parallel()
	emu, base := start(t, vkemu.Options{FloodLimit: 2})
	tok := emu.Options().Token
	p := func(kv ...string) url.Values {
		v := url.Values{"access_token": {tok}, "v": {"5.199"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	if c := code(method(t, base, "messages.send", url.Values{"access_token": {"bad"}, "v": {"5.199"}})); c != 5 {
		t.Fatalf("bad token: %d", c)
	}
	if c := code(method(t, base, "messages.send", url.Values{"access_token": {tok}})); c != 8 {
		t.Fatalf("without v: %d", c)
	}
	if c := code(method(t, base, "messages.send", p("peer_id", "123456", "message", "Hallo"))); c != 100 {
		t.Fatalf("without random_id: %d", c)
	}
	if c := code(method(t, base, "messages.send", p("peer_id", "123456", "random_id", "1", "message", "Hallo"))); c != 901 {
		t.Fatalf("to a user who never wrote: %d", c)
	}
	emu.Write(123456, "Hallo")
	a := method(t, base, "messages.send", p("peer_id", "123456", "random_id", "77", "message", "Antwort"))
	b := method(t, base, "messages.send", p("peer_id", "123456", "random_id", "77", "message", "Antwort"))
	if code(a) != 0 || string(a.Response) != string(b.Response) || len(emu.SentMessages()) != 1 {
		t.Fatalf("same random_id twice: %s %s, %d sent", a.Response, b.Response, len(emu.SentMessages()))
	}
	if c := code(method(t, base, "messages.send", p("peer_id", "123456", "random_id", "78", "message", strings.Repeat("я", 4097)))); c != 914 {
		t.Fatalf("too long: %d", c)
	}
	_ = method(t, base, "messages.send", p("peer_id", "123456", "random_id", "79", "message", "Antwort"))
	if c := code(method(t, base, "messages.send", p("peer_id", "123456", "random_id", "80", "message", "Antwort"))); c != 9 {
		t.Fatalf("third identical text with flood limit 2: %d", c)
	}
	emu.Deny(123456)
	if c := code(method(t, base, "messages.send", p("peer_id", "123456", "random_id", "81", "message", "Neu"))); c != 901 {
		t.Fatalf("after message_deny: %d", c)
	}
	// 20 calls per second, then error 6.
	limited := false
	for range 25 {
		if code(method(t, base, "groups.getById", p("group_id", strconv.FormatInt(emu.Options().GroupID, 10)))) == 6 {
			limited = true
		}
	}
	if !limited {
		t.Fatal("no error 6 after 25 calls within a second")
	}
}

func TestLongPollProtocol(t *testing.T) {
	t.Parallel()
	emu, base := start(t, vkemu.Options{})
	tok, gid := emu.Options().Token, strconv.FormatInt(emu.Options().GroupID, 10)
	a := method(t, base, "groups.getLongPollServer", url.Values{"access_token": {tok}, "v": {"5.199"}, "group_id": {gid}})
	var s struct{ Key, Server, TS string }
	if err := json.Unmarshal(a.Response, &s); err != nil || s.Key == "" || s.TS == "" || !strings.HasPrefix(s.Server, "http://127.0.0.1") {
		t.Fatalf("session %s %v", a.Response, err)
	}
	check := func(key, ts, wait string) answer {
		return get(t, s.Server+"?"+url.Values{"act": {"a_check"}, "key": {key}, "ts": {ts}, "wait": {wait}}.Encode())
	}
	emu.Write(42, "erste")
	emu.Allow(43, "flyer")
	r := check(s.Key, s.TS, "1")
	if r.Failed != 0 || len(r.Updates) != 2 || r.Updates[0].Type != "message_new" || r.Updates[1].Type != "message_allow" || r.TS == s.TS {
		t.Fatalf("a_check: %+v", r)
	}
	var mn struct {
		Message struct {
			FromID int64  `json:"from_id"`
			PeerID int64  `json:"peer_id"`
			Text   string `json:"text"`
		} `json:"message"`
	}
	_ = json.Unmarshal(r.Updates[0].Object, &mn)
	if mn.Message.Text != "erste" || mn.Message.PeerID != 42 {
		t.Fatalf("message_new object %s", r.Updates[0].Object)
	}
	if r2 := check(s.Key, r.TS, "0"); r2.Failed != 0 || len(r2.Updates) != 0 || r2.TS != r.TS {
		t.Fatalf("nothing new: %+v", r2)
	}
	if r3 := check(s.Key, "999999", "0"); r3.Failed != 1 || r3.TS != r.TS {
		t.Fatalf("ts from the future: %+v", r3)
	}
	emu.ExpireKey()
	if r4 := check(s.Key, r.TS, "0"); r4.Failed != 2 {
		t.Fatalf("expired key: %+v", r4)
	}
	emu.LoseInformation()
	if r5 := check(s.Key, r.TS, "0"); r5.Failed != 3 {
		t.Fatalf("lost information: %+v", r5)
	}
}
