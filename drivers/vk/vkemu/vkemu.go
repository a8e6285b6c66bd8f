// Package vkemu is a VK API emulator for tests and the demo (make run):
// community messages (messages.send), groups.getById and the Bots Long
// Poll API. It follows VK's documentation where pbxgate uses it:
//
//   - methods are /method/<name> with parameters as query or form;
//     access_token must be the community's (error 5 "User authorization
//     failed: invalid access_token" otherwise) and v must be given
//     (error 8);
//   - more than PerSecond calls in a second give error 6 "Too many
//     requests per second" (VK: 20 per second for a community token);
//   - messages.send needs peer_id and random_id (error 100); a user who
//     never wrote or allowed messages, or who denied them, gives error 901
//     "Can't send messages for users without permission"; a message over
//     4096 characters error 914; the same random_id to the same peer
//     again returns the first message's id and sends nothing
//     (https://dev.vk.com/en/method/messages.send: random_id "prevents
//     re-sending the same message"); more than FloodLimit identical texts
//     to one peer give error 9 "Flood control";
//   - groups.getLongPollServer gives server, key and ts; a_check
//     (https://dev.vk.com/en/api/bots-long-poll/getting-started) returns
//     {"ts","updates"} after ts, waiting up to wait seconds (at most 90),
//     {"failed":1,"ts"} for a ts older than the kept history,
//     {"failed":2} for an expired or wrong key, {"failed":3} after lost
//     information (ExpireKey, LoseHistory, LoseInformation);
//   - events are message_new (object {"message", "client_info"} as since
//     5.103), message_allow {"user_id","key"}, message_deny {"user_id"}.
//
// It listens where the caller says (tests: 127.0.0.1).
package vkemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configure the emulator.
type Options struct {
	Token      string // default "vk1.a.emulator-community-token"
	GroupID    int64  // default 229000001
	Name       string // default "pbxgate Demo"
	ScreenName string // default "pbxgate_demo"
	PerSecond  int    // API calls per second before error 6; default 20
	History    int    // events kept for a_check; default 1000
	FloodLimit int    // identical texts to one peer before error 9; default 10
}

func (o *Options) defaults() {
	if o.Token == "" {
		o.Token = "vk1.a.emulator-community-token"
	}
	if o.GroupID == 0 {
		o.GroupID = 229000001
	}
	if o.Name == "" {
		o.Name = "pbxgate Demo"
	}
	if o.ScreenName == "" {
		o.ScreenName = "pbxgate_demo"
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 20
	}
	if o.History <= 0 {
		o.History = 1000
	}
	if o.FloodLimit <= 0 {
		o.FloodLimit = 10
	}
}

// Sent is a message the community sent.
type Sent struct {
	PeerID   int64  `json:"peer_id"`
	RandomID int64  `json:"random_id"`
	Text     string `json:"text"`
	ID       int64  `json:"id"`
}

type event struct {
	ts  int64
	raw json.RawMessage
}

// Server is the emulator.
type Server struct {
	o Options

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when an event arrives
	key      string
	ts       int64 // last event's ts
	first    int64 // oldest kept event's ts
	events   []event
	allowed  map[int64]bool
	dedup    map[[2]int64]int64 // peer, random_id -> message id
	texts    map[int64]map[string]int
	sent     []Sent
	nextMsg  int64
	window   time.Time
	inWindow int
	limited  int
	calls    map[string]int
	lost     bool // a_check answers failed 3 until a new session
}

// New builds an emulator.
func New(o Options) *Server {
	o.defaults()
	return &Server{o: o, changed: make(chan struct{}), key: newKey(), ts: 1, first: 2, allowed: map[int64]bool{},
		dedup: map[[2]int64]int64{}, texts: map[int64]map[string]int{}, nextMsg: 100, calls: map[string]int{}}
}

func newKey() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Options returns the effective options.
func (s *Server) Options() Options { return s.o }

// Serve serves the API on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, map[string]any{"error": map[string]any{"error_code": code, "error_msg": msg, "request_params": []any{}}})
}

// ServeHTTP is the API (/method/...), the Long Poll server (/lp/<group>)
// and the demo's subscriber side (/_emu/).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/method/"):
		s.method(w, r, strings.TrimPrefix(r.URL.Path, "/method/"))
	case strings.HasPrefix(r.URL.Path, "/lp/"):
		s.longPoll(w, r)
	case strings.HasPrefix(r.URL.Path, "/_emu/"):
		s.control(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) method(w http.ResponseWriter, r *http.Request, name string) {
	if err := r.ParseForm(); err != nil {
		apiError(w, 8, "Invalid request: "+err.Error())
		return
	}
	p := r.Form
	if p.Get("access_token") != s.o.Token {
		apiError(w, 5, "User authorization failed: invalid access_token (4).")
		return
	}
	if p.Get("v") == "" {
		apiError(w, 8, "Invalid request: v (version) is required")
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
		apiError(w, 6, "Too many requests per second")
		return
	}
	s.inWindow++
	s.calls[name]++
	s.mu.Unlock()
	gid := strconv.FormatInt(s.o.GroupID, 10)
	switch name {
	case "groups.getById":
		if g := p.Get("group_id"); g != "" && g != gid && g != s.o.ScreenName {
			apiError(w, 100, "One of the parameters specified was missing or invalid: group_id is undefined")
			return
		}
		writeJSON(w, map[string]any{"response": map[string]any{"groups": []any{map[string]any{"id": s.o.GroupID,
			"name": s.o.Name, "screen_name": s.o.ScreenName, "is_closed": 0, "type": "group"}}, "profiles": []any{}}})
	case "groups.getLongPollServer":
		if p.Get("group_id") != gid {
			apiError(w, 100, "One of the parameters specified was missing or invalid: group_id is undefined")
			return
		}
		s.mu.Lock()
		s.lost = false
		out := map[string]any{"key": s.key, "server": "http://" + r.Host + "/lp/" + gid, "ts": strconv.FormatInt(s.ts, 10)}
		s.mu.Unlock()
		writeJSON(w, map[string]any{"response": out})
	case "messages.send":
		s.send(w, p.Get("peer_id"), p.Get("user_id"), p.Get("random_id"), p.Get("message"))
	default:
		apiError(w, 3, "Unknown method passed")
	}
}

func (s *Server) send(w http.ResponseWriter, peerS, userS, ridS, text string) {
	if peerS == "" {
		peerS = userS
	}
	peer, err := strconv.ParseInt(peerS, 10, 64)
	if err != nil || peer == 0 {
		apiError(w, 100, "One of the parameters specified was missing or invalid: you should specify peer_id, user_id, domain, chat_id or user_ids param")
		return
	}
	rid, err := strconv.ParseInt(ridS, 10, 32)
	if err != nil {
		apiError(w, 100, "One of the parameters specified was missing or invalid: random_id is a required parameter")
		return
	}
	if text == "" {
		apiError(w, 100, "One of the parameters specified was missing or invalid: message is empty or invalid")
		return
	}
	if utf8.RuneCountInString(text) > 4096 {
		apiError(w, 914, "Message is too long")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.dedup[[2]int64{peer, rid}]; ok && rid != 0 {
		writeJSON(w, map[string]any{"response": id})
		return
	}
	if !s.allowed[peer] {
		apiError(w, 901, "Can't send messages for users without permission")
		return
	}
	if s.texts[peer] == nil {
		s.texts[peer] = map[string]int{}
	}
	if s.texts[peer][text] >= s.o.FloodLimit {
		apiError(w, 9, "Flood control")
		return
	}
	s.texts[peer][text]++
	s.nextMsg++
	id := s.nextMsg
	if rid != 0 {
		s.dedup[[2]int64{peer, rid}] = id
	}
	s.sent = append(s.sent, Sent{PeerID: peer, RandomID: rid, Text: text, ID: id})
	writeJSON(w, map[string]any{"response": id})
}

func (s *Server) longPoll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("act") != "a_check" || strings.TrimPrefix(r.URL.Path, "/lp/") != strconv.FormatInt(s.o.GroupID, 10) {
		http.NotFound(w, r)
		return
	}
	wait, _ := strconv.Atoi(q.Get("wait"))
	wait = min(max(wait, 0), 90)
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	for {
		s.mu.Lock()
		if s.lost {
			s.mu.Unlock()
			writeJSON(w, map[string]any{"failed": 3})
			return
		}
		if q.Get("key") != s.key {
			s.mu.Unlock()
			writeJSON(w, map[string]any{"failed": 2})
			return
		}
		ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
		if err != nil || ts > s.ts || ts+1 < s.first {
			cur := s.ts
			s.mu.Unlock()
			writeJSON(w, map[string]any{"failed": 1, "ts": strconv.FormatInt(cur, 10)})
			return
		}
		var ups []json.RawMessage
		for _, e := range s.events {
			if e.ts > ts {
				ups = append(ups, e.raw)
			}
		}
		cur, changed := s.ts, s.changed
		s.mu.Unlock()
		if len(ups) > 0 || !time.Now().Before(deadline) {
			if ups == nil {
				ups = []json.RawMessage{}
			}
			writeJSON(w, map[string]any{"ts": strconv.FormatInt(cur, 10), "updates": ups})
			return
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-changed:
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		t.Stop()
	}
}

// push appends an event (ts grows by one per event).
func (s *Server) push(typ string, object any) {
	obj, _ := json.Marshal(object)
	s.mu.Lock()
	s.ts++
	raw, _ := json.Marshal(map[string]any{"type": typ, "object": json.RawMessage(obj), "group_id": s.o.GroupID,
		"event_id": newKey()[:40], "v": "5.199"})
	s.events = append(s.events, event{ts: s.ts, raw: raw})
	if len(s.events) > s.o.History {
		s.events = s.events[len(s.events)-s.o.History:]
	}
	s.first = s.events[0].ts
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Write is a user writing text to the community (message_new); writing
// allows the community to answer. It returns the message id.
func (s *Server) Write(user int64, text string) int64 {
	s.mu.Lock()
	s.allowed[user] = true
	s.nextMsg++
	id := s.nextMsg
	s.mu.Unlock()
	s.push("message_new", map[string]any{
		"message": map[string]any{"date": time.Now().Unix(), "from_id": user, "id": id, "out": 0, "peer_id": user,
			"text": text, "conversation_message_id": id, "fwd_messages": []any{}, "important": false, "random_id": 0,
			"attachments": []any{}, "is_hidden": false},
		"client_info": map[string]any{"button_actions": []string{"text", "vkpay", "open_app", "location", "open_link"},
			"keyboard": true, "inline_keyboard": true, "carousel": true, "lang_id": 0}})
	return id
}

// Allow is a user allowing messages from the community (message_allow).
func (s *Server) Allow(user int64, key string) {
	s.mu.Lock()
	s.allowed[user] = true
	s.mu.Unlock()
	s.push("message_allow", map[string]any{"user_id": user, "key": key})
}

// Deny is a user forbidding messages from the community (message_deny).
func (s *Server) Deny(user int64) {
	s.mu.Lock()
	s.allowed[user] = false
	s.mu.Unlock()
	s.push("message_deny", map[string]any{"user_id": user})
}

// ExpireKey makes the session key invalid (a_check answers failed 2).
func (s *Server) ExpireKey() {
	s.mu.Lock()
	s.key = newKey()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// LoseHistory drops the kept events (a ts from before is failed 1).
func (s *Server) LoseHistory() {
	s.mu.Lock()
	s.events = nil
	s.first = s.ts + 1
	s.mu.Unlock()
}

// LoseInformation makes a_check answer failed 3 until the client opens a
// new session with groups.getLongPollServer.
func (s *Server) LoseInformation() {
	s.mu.Lock()
	s.lost = true
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// SentMessages returns what the community sent, in order.
func (s *Server) SentMessages() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Stats is the emulator's counters.
type Stats struct {
	Limited int            `json:"limited"` // error 6 answers
	Calls   map[string]int `json:"calls"`
	TS      int64          `json:"ts"`
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := map[string]int{}
	for k, v := range s.calls {
		c[k] = v
	}
	return Stats{Limited: s.limited, Calls: c, TS: s.ts}
}

// control is the demo's subscriber side: POST /_emu/message
// {"user_id","text"}, /_emu/allow {"user_id","key"}, /_emu/deny
// {"user_id"}; GET /_emu/sent.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_emu/sent" {
		writeJSON(w, s.SentMessages())
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var in struct {
		UserID int64  `json:"user_id"`
		Text   string `json:"text"`
		Key    string `json:"key"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil || in.UserID <= 0 {
		http.Error(w, `want JSON {"user_id": 123, "text": "…"}`, http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/_emu/message":
		s.Write(in.UserID, in.Text)
	case "/_emu/allow":
		s.Allow(in.UserID, in.Key)
	case "/_emu/deny":
		s.Deny(in.UserID)
	default:
		http.NotFound(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
