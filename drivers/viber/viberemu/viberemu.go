// Package viberemu is a Viber REST Bot API emulator for tests and the
// demo (make run). It follows the REST Bot API documentation
// (https://developers.viber.com/docs/api/rest-bot-api/, and the event
// pages at https://creators.viber.com/docs/bots-api/) where pbxgate uses
// it:
//
//   - every request needs the X-Viber-Auth-Token header: missing gives
//     status 2 "missing_auth_token", wrong status 2 "invalidAuthToken";
//   - set_webhook checks the URL at once with a signed "webhook" callback
//     and fails with status 1 unless it gets 200; an empty url removes it;
//   - every callback carries X-Viber-Content-Signature, the hex
//     HMAC-SHA256 of the body keyed with the token;
//   - send_message needs receiver, sender.name (at most 28 characters)
//     and for type text a text of at most 7,000 characters (status 3
//     badData otherwise); a receiver who never wrote is status 5
//     receiverNotRegistered, one who unsubscribed status 6
//     receiverNotSubscribed; more than PerSecond sends in a second give
//     status 12 tooManyRequests (Viber does not publish its limit: the
//     emulator's is Options.PerSecond);
//   - a user's first message subscribes them (no subscribed callback);
//     opening the chat is conversation_started, whose 200 answer may carry
//     a welcome message; unsubscribing is an unsubscribed callback;
//   - each sent message is followed by a delivered callback.
//
// It listens where the caller says (tests: 127.0.0.1).
package viberemu

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configure the emulator.
type Options struct {
	Token     string // default "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
	Name      string // the bot's name; default "pbxgate Demo"
	URI       string // the bot's URI; default "pbxgatedemo"
	PerSecond int    // send_message calls per second before status 12; default 50
	// NoReceipts: no delivered callbacks after a send.
	NoReceipts bool
}

func (o *Options) defaults() {
	if o.Token == "" {
		o.Token = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
	}
	if o.Name == "" {
		o.Name = "pbxgate Demo"
	}
	if o.URI == "" {
		o.URI = "pbxgatedemo"
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 50
	}
}

// Sent is a message the bot sent.
type Sent struct {
	Receiver string `json:"receiver"`
	Sender   string `json:"sender"`
	Text     string `json:"text"`
	Token    int64  `json:"message_token"`
}

type user struct {
	id         string
	name       string
	subscribed bool
	gone       bool // unsubscribed
}

// Server is the emulator.
type Server struct {
	o    Options
	http *http.Client

	mu       sync.Mutex
	webhook  string
	events   []string
	users    map[string]*user
	sent     []Sent
	welcomes []Sent
	nextTok  int64
	window   time.Time
	inWindow int
	limited  int
	hookErrs int
}

// New builds an emulator.
func New(o Options) *Server {
	o.defaults()
	return &Server{o: o, users: map[string]*user{}, nextTok: 5741311803571721087,
		http: &http.Client{Timeout: 10 * time.Second}}
}

// Options returns the effective options (the token).
func (s *Server) Options() Options { return s.o }

// Serve serves the API on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func answer(w http.ResponseWriter, status int, msg string, extra map[string]any) {
	out := map[string]any{"status": status, "status_message": msg}
	for k, v := range extra {
		out[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// ServeHTTP is the API: POST /pa/<method>, and /_emu/ for the demo.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emu/") {
		s.control(w, r)
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/pa/")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	tok := r.Header.Get("X-Viber-Auth-Token")
	if tok == "" {
		answer(w, 2, "missing_auth_token", nil)
		return
	}
	if tok != s.o.Token {
		answer(w, 2, "invalidAuthToken", nil)
		return
	}
	var p map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 30<<10)).Decode(&p); err != nil {
		answer(w, 3, "badData", nil)
		return
	}
	switch method {
	case "set_webhook":
		s.setWebhook(r.Context(), w, p)
	case "send_message":
		s.sendMessage(w, p)
	case "get_account_info":
		s.mu.Lock()
		subs := 0
		for _, u := range s.users {
			if u.subscribed {
				subs++
			}
		}
		info := map[string]any{"id": "pa:75346594275468546724", "name": s.o.Name, "uri": s.o.URI,
			"icon": "http://example.com", "category": "Business", "webhook": s.webhook, "event_types": s.events,
			"subscribers_count": subs, "members": []any{}}
		s.mu.Unlock()
		answer(w, 0, "ok", info)
	default:
		answer(w, 3, "badData", nil)
	}
}

func (s *Server) setWebhook(ctx context.Context, w http.ResponseWriter, p map[string]any) {
	url, _ := p["url"].(string)
	if url == "" {
		s.mu.Lock()
		s.webhook, s.events = "", nil
		s.mu.Unlock()
		answer(w, 0, "ok", nil)
		return
	}
	var evs []string
	if list, ok := p["event_types"].([]any); ok {
		for _, e := range list {
			if es, ok := e.(string); ok {
				evs = append(evs, es)
			}
		}
	} else {
		evs = []string{"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}
	}
	// Viber checks the webhook with a "webhook" callback before it answers.
	if _, err := s.post(ctx, url, map[string]any{"event": "webhook", "timestamp": time.Now().UnixMilli(),
		"chat_hostname": "SN-EMU_", "message_token": s.token()}); err != nil {
		answer(w, 1, "invalidUrl: "+err.Error(), nil)
		return
	}
	s.mu.Lock()
	s.webhook, s.events = url, evs
	s.mu.Unlock()
	answer(w, 0, "ok", map[string]any{"event_types": evs})
}

func (s *Server) token() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextTok++
	return s.nextTok
}

func (s *Server) sendMessage(w http.ResponseWriter, p map[string]any) {
	recv, _ := p["receiver"].(string)
	sender, _ := p["sender"].(map[string]any)
	name, _ := sender["name"].(string)
	typ, _ := p["type"].(string)
	text, _ := p["text"].(string)
	switch {
	case recv == "" || typ == "":
		answer(w, 4, "missingData", nil)
		return
	case name == "" || utf8.RuneCountInString(name) > 28:
		answer(w, 3, "badData: sender.name is required (at most 28 characters)", nil)
		return
	case typ == "text" && (text == "" || utf8.RuneCountInString(text) > 7000):
		answer(w, 3, "badData: text", nil)
		return
	}
	s.mu.Lock()
	now := time.Now()
	if now.Sub(s.window) >= time.Second {
		s.window, s.inWindow = now, 0
	}
	if s.inWindow >= s.o.PerSecond {
		s.limited++
		s.mu.Unlock()
		answer(w, 12, "tooManyRequests", nil)
		return
	}
	s.inWindow++
	u := s.users[recv]
	switch {
	case u == nil:
		s.mu.Unlock()
		answer(w, 5, "receiverNotRegistered", nil)
		return
	case !u.subscribed:
		s.mu.Unlock()
		answer(w, 6, "receiverNotSubscribed", nil)
		return
	}
	s.nextTok++
	tok := s.nextTok
	s.sent = append(s.sent, Sent{Receiver: recv, Sender: name, Text: text, Token: tok})
	hook, receipts := s.webhook, !s.o.NoReceipts && s.wants("delivered")
	s.mu.Unlock()
	answer(w, 0, "ok", map[string]any{"message_token": tok, "chat_hostname": "SN-CHAT-05_", "billing_status": 1})
	if hook != "" && receipts {
		go func() {
			time.Sleep(20 * time.Millisecond)
			_, _ = s.post(context.Background(), hook, map[string]any{"event": "delivered",
				"timestamp": time.Now().UnixMilli(), "message_token": tok, "user_id": recv})
		}()
	}
}

func (s *Server) wants(ev string) bool {
	for _, e := range s.events {
		if e == ev {
			return true
		}
	}
	return false
}

// post sends a signed callback and returns the answer's body; anything
// but 200 is an error (Viber would retry).
func (s *Server) post(ctx context.Context, url string, ev map[string]any) ([]byte, error) {
	body, _ := json.Marshal(ev)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, []byte(s.o.Token))
	m.Write(body)
	req.Header.Set("X-Viber-Content-Signature", hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	res, err := s.http.Do(req)
	if err != nil {
		s.countHookErr()
		return nil, err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		s.countHookErr()
		return out, fmt.Errorf("webhook answered %d", res.StatusCode)
	}
	return out, nil
}

func (s *Server) countHookErr() {
	s.mu.Lock()
	s.hookErrs++
	s.mu.Unlock()
}

// ErrNoWebhook: a user event while no webhook is set (Viber would not
// offer the chat at all).
var ErrNoWebhook = errors.New("viberemu: no webhook set")

func (s *Server) hook() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webhook == "" {
		return "", ErrNoWebhook
	}
	return s.webhook, nil
}

func (s *Server) userLocked(id, name string) *user {
	u := s.users[id]
	if u == nil {
		u = &user{id: id}
		s.users[id] = u
	}
	if name != "" {
		u.name = name
	}
	return u
}

func userJSON(id, name string) map[string]any {
	return map[string]any{"id": id, "name": name, "avatar": "http://avatar.example.com", "country": "DE",
		"language": "de", "api_version": 8}
}

// Open is a user opening the chat (conversation_started, with the link's
// context); it returns the welcome message text the bot answered with.
func (s *Server) Open(ctx context.Context, id, name, contextParam string) (string, error) {
	url, err := s.hook()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	u := s.userLocked(id, name)
	sub := u.subscribed
	s.mu.Unlock()
	out, err := s.post(ctx, url, map[string]any{"event": "conversation_started", "timestamp": time.Now().UnixMilli(),
		"message_token": s.token(), "type": "open", "context": contextParam, "user": userJSON(id, name), "subscribed": sub})
	if err != nil {
		return "", err
	}
	var welcome struct {
		Sender struct {
			Name string `json:"name"`
		} `json:"sender"`
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if len(bytes.TrimSpace(out)) == 0 || json.Unmarshal(out, &welcome) != nil {
		return "", nil
	}
	s.mu.Lock()
	s.welcomes = append(s.welcomes, Sent{Receiver: id, Sender: welcome.Sender.Name, Text: welcome.Text})
	s.mu.Unlock()
	return welcome.Text, nil
}

// Subscribe is a user tapping "subscribe" (subscribed callback).
func (s *Server) Subscribe(ctx context.Context, id, name string) error {
	url, err := s.hook()
	if err != nil {
		return err
	}
	s.mu.Lock()
	u := s.userLocked(id, name)
	u.subscribed, u.gone = true, false
	s.mu.Unlock()
	_, err = s.post(ctx, url, map[string]any{"event": "subscribed", "timestamp": time.Now().UnixMilli(),
		"user": userJSON(id, name), "message_token": s.token()})
	return err
}

// Write is a user sending text; the first message subscribes them. It
// returns the message_token.
func (s *Server) Write(ctx context.Context, id, name, text string) (int64, error) {
	return s.WriteMessage(ctx, id, name, map[string]any{"type": "text", "text": text})
}

// WriteMessage is a user sending any message object.
func (s *Server) WriteMessage(ctx context.Context, id, name string, msg map[string]any) (int64, error) {
	url, err := s.hook()
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	u := s.userLocked(id, name)
	u.subscribed, u.gone = true, false
	s.mu.Unlock()
	tok := s.token()
	_, err = s.post(ctx, url, map[string]any{"event": "message", "timestamp": time.Now().UnixMilli(),
		"message_token": tok, "sender": userJSON(id, name), "message": msg})
	return tok, err
}

// Unsubscribe is a user leaving the bot (unsubscribed callback).
func (s *Server) Unsubscribe(ctx context.Context, id string) error {
	url, err := s.hook()
	if err != nil {
		return err
	}
	s.mu.Lock()
	u := s.userLocked(id, "")
	u.subscribed, u.gone = false, true
	s.mu.Unlock()
	_, err = s.post(ctx, url, map[string]any{"event": "unsubscribed", "timestamp": time.Now().UnixMilli(),
		"user_id": id, "message_token": s.token()})
	return err
}

// SentMessages returns what the bot sent, in order.
func (s *Server) SentMessages() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Stats is the emulator's counters.
type Stats struct {
	Webhook   string `json:"webhook"`
	Limited   int    `json:"limited"` // status 12 answers
	HookFails int    `json:"hook_fails"`
	Welcomes  int    `json:"welcomes"`
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Webhook: s.webhook, Limited: s.limited, HookFails: s.hookErrs, Welcomes: len(s.welcomes)}
}

// control is the demo's subscriber side: POST /_emu/message
// {"id","name","text"}, /_emu/unsubscribe {"id"}, GET /_emu/sent.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_emu/sent" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.SentMessages())
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var in struct{ ID, Name, Text, Context string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil || !validID(in.ID) {
		http.Error(w, "want JSON {\"id\": \"<base64 user id>\", \"name\": …, \"text\": …}", http.StatusBadRequest)
		return
	}
	var err error
	switch r.URL.Path {
	case "/_emu/message":
		_, err = s.Write(r.Context(), in.ID, in.Name, in.Text)
	case "/_emu/open":
		_, err = s.Open(r.Context(), in.ID, in.Name, in.Context)
	case "/_emu/unsubscribe":
		err = s.Unsubscribe(r.Context(), in.ID)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=') {
			return false
		}
	}
	return true
}
