// Package tgemu is a local Telegram Bot API server for tests and `make
// run`: one bot, its subscribers, and the Bot API's documented rules
// (https://core.telegram.org/bots/api):
//
//   - requests go to /bot<token>/<method>; another token is 401
//     Unauthorized, an unknown method 404 Not Found;
//   - parameters come as JSON, form or query string ("Making requests");
//   - getUpdates returns the updates from offset on and confirms those
//     below it ("An update is considered confirmed as soon as getUpdates
//     is called with an offset higher than its update_id"), long-polls for
//     timeout seconds, and is refused with 409 while a webhook is set or
//     another getUpdates is waiting;
//   - setWebhook (secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -)
//     makes the server POST each update to the URL with the
//     X-Telegram-Bot-Api-Secret-Token header until it is answered 2xx;
//   - sendMessage: text 1-4096 characters, 400 "Bad Request: chat not
//     found" for a chat that never wrote to the bot, 403 "Forbidden: bot
//     was blocked by the user", and 429 "Too Many Requests: retry after N"
//     with parameters.retry_after above about 30 messages per second
//     overall or more than one per second to one chat (Bots FAQ, "My bot
//     is hitting limits").
//
// Its control API under /_emu/ plays the subscribers: they write, send
// photos, documents, locations and contacts, and block the bot.
package tgemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Options configure the emulator.
type Options struct {
	Token       string // default "123456789:TEST-emulator-token-AAAAAAAAAAAA"
	BotID       int64  // default 123456789
	BotUsername string // default "pbxgate_demo_bot"
	// PerSecond is the overall send limit (default 30); PerChat the gap
	// between two messages to one chat (default 1 s), less Slack for the
	// jitter of a client that paces exactly (default 50 ms).
	PerSecond int
	PerChat   time.Duration
	Slack     time.Duration
	// Client sends the webhook calls; default a plain http.Client.
	Client *http.Client
}

func (o *Options) defaults() {
	if o.Token == "" {
		o.Token = "123456789:TEST-emulator-token-AAAAAAAAAAAA"
	}
	if o.BotID == 0 {
		o.BotID, _ = strconv.ParseInt(strings.SplitN(o.Token, ":", 2)[0], 10, 64)
		if o.BotID == 0 {
			o.BotID = 123456789
		}
	}
	if o.BotUsername == "" {
		o.BotUsername = "pbxgate_demo_bot"
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 30
	}
	if o.PerChat <= 0 {
		o.PerChat = time.Second
	}
	if o.Slack < 0 {
		o.Slack = 0
	} else if o.Slack == 0 {
		o.Slack = 50 * time.Millisecond
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
}

// Sent is a message the bot sent.
type Sent struct {
	MessageID int64     `json:"message_id"`
	ChatID    int64     `json:"chat_id"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
}

// Server is the emulator. It is an http.Handler.
type Server struct {
	o Options

	mu        sync.Mutex
	users     map[int64]*user
	queue     []map[string]any // pending updates, oldest first
	nextUpd   int64
	nextMsg   int64
	webhook   string
	secret    string
	polling   bool
	wake      chan struct{}
	sent      []Sent
	sends     []time.Time // accepted sends in the last second
	lastChat  map[int64]time.Time
	limited   int // 429 answers
	hookCalls int
	hookFails int
}

type user struct {
	id        int64
	first     string
	last      string
	username  string
	started   bool // wrote to the bot: the bot may message it
	blocked   bool
	messageID int64
}

// New builds an emulator.
func New(o Options) *Server {
	o.defaults()
	return &Server{o: o, users: map[int64]*user{}, nextUpd: 100000, wake: make(chan struct{}), lastChat: map[int64]time.Time{}}
}

// Options returns the effective options (token, bot name).
func (s *Server) Options() Options { return s.o }

// Serve serves on ln until ctx ends, and delivers webhook calls.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	go s.deliver(ctx)
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// apiError is the Bot API's error object.
func apiError(w http.ResponseWriter, code int, desc string, retryAfter int) {
	body := map[string]any{"ok": false, "error_code": code, "description": desc}
	if retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": retryAfter}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func ok(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

// ServeHTTP routes Bot API calls and the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emu/") {
		s.control(w, r)
		return
	}
	rest, found := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, _ := strings.Cut(rest, "/")
	if !found || token != s.o.Token {
		apiError(w, http.StatusUnauthorized, "Unauthorized", 0)
		return
	}
	p, err := params(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "Bad Request: "+err.Error(), 0)
		return
	}
	switch strings.ToLower(method) {
	case "getme":
		ok(w, s.botUser())
	case "getupdates":
		s.getUpdates(w, r, p)
	case "setwebhook":
		s.setWebhook(w, p)
	case "deletewebhook":
		s.mu.Lock()
		s.webhook, s.secret = "", ""
		if p.bool("drop_pending_updates") {
			s.queue = nil
		}
		s.mu.Unlock()
		ok(w, true)
	case "getwebhookinfo":
		s.mu.Lock()
		info := map[string]any{"url": s.webhook, "has_custom_certificate": false, "pending_update_count": len(s.queue)}
		s.mu.Unlock()
		ok(w, info)
	case "sendmessage":
		s.sendMessage(w, p)
	default:
		apiError(w, http.StatusNotFound, "Not Found", 0)
	}
}

func (s *Server) botUser() map[string]any {
	return map[string]any{"id": s.o.BotID, "is_bot": true, "first_name": "pbxgate demo", "username": s.o.BotUsername,
		"can_join_groups": false, "can_read_all_group_messages": false, "supports_inline_queries": false}
}

// paramSet is a request's parameters, whichever way they came.
type paramSet map[string]any

func params(r *http.Request) (paramSet, error) {
	p := paramSet{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	switch ct {
	case "application/json":
		if len(bytes.TrimSpace(body)) == 0 {
			return p, nil
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("can't parse JSON object")
		}
		for k, v := range m {
			p[k] = v
		}
	case "application/x-www-form-urlencoded", "":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range vals {
			p[k] = v[0]
		}
	}
	return p, nil
}

func (p paramSet) str(k string) string {
	switch v := p[k].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (p paramSet) int(k string) (int64, bool, error) {
	s := p.str(k)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, true, err
}

func (p paramSet) bool(k string) bool {
	if b, ok := p[k].(bool); ok {
		return b
	}
	return p.str(k) == "true"
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, p paramSet) {
	offset, hasOffset, err := p.int("offset")
	if err != nil {
		apiError(w, 400, "Bad Request: invalid offset", 0)
		return
	}
	limit, hasLimit, err := p.int("limit")
	if err != nil || hasLimit && (limit < 1 || limit > 100) {
		limit = 100 // "Values between 1-100 are accepted"
	}
	if !hasLimit {
		limit = 100
	}
	timeout, _, _ := p.int("timeout")
	s.mu.Lock()
	if s.webhook != "" {
		s.mu.Unlock()
		apiError(w, http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 0)
		return
	}
	if s.polling {
		s.mu.Unlock()
		apiError(w, http.StatusConflict, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running", 0)
		return
	}
	if hasOffset && offset > 0 {
		kept := s.queue[:0]
		for _, u := range s.queue {
			if u["update_id"].(int64) >= offset {
				kept = append(kept, u)
			}
		}
		s.queue = kept
	}
	s.polling = true
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)
	for {
		if len(s.queue) > 0 || !time.Now().Before(deadline) {
			break
		}
		wake := s.wake
		s.mu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-wake:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		s.mu.Lock()
		if r.Context().Err() != nil {
			break
		}
	}
	n := min(int(limit), len(s.queue))
	out := append([]map[string]any{}, s.queue[:n]...)
	s.polling = false
	s.mu.Unlock()
	ok(w, out)
}

var secretRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Server) setWebhook(w http.ResponseWriter, p paramSet) {
	u := p.str("url")
	secret := p.str("secret_token")
	if secret != "" && !secretRE.MatchString(secret) {
		apiError(w, 400, "Bad Request: secret token contains unallowed characters", 0)
		return
	}
	if u != "" {
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http") {
			apiError(w, 400, "Bad Request: bad webhook: invalid URL", 0)
			return
		}
	}
	s.mu.Lock()
	s.webhook, s.secret = u, secret
	s.kickLocked()
	s.mu.Unlock()
	ok(w, true)
}

func (s *Server) kickLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *Server) sendMessage(w http.ResponseWriter, p paramSet) {
	chatID, has, err := p.int("chat_id")
	if !has {
		apiError(w, 400, "Bad Request: chat_id is empty", 0)
		return
	}
	if err != nil {
		apiError(w, 400, "Bad Request: chat not found", 0)
		return
	}
	text := p.str("text")
	if strings.TrimSpace(text) == "" {
		apiError(w, 400, "Bad Request: message text is empty", 0)
		return
	}
	if len(utf16.Encode([]rune(text))) > 4096 {
		apiError(w, 400, "Bad Request: message is too long", 0)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[chatID]
	if u == nil || !u.started {
		apiError(w, 400, "Bad Request: chat not found", 0)
		return
	}
	if u.blocked {
		apiError(w, 403, "Forbidden: bot was blocked by the user", 0)
		return
	}
	now := time.Now()
	cut := now.Add(-time.Second)
	kept := s.sends[:0]
	for _, t := range s.sends {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	s.sends = kept
	if len(s.sends) >= s.o.PerSecond {
		s.limited++
		apiError(w, 429, "Too Many Requests: retry after 1", 1)
		return
	}
	if last, ok := s.lastChat[chatID]; ok && now.Sub(last) < s.o.PerChat-s.o.Slack {
		s.limited++
		ra := int(math.Ceil((s.o.PerChat - now.Sub(last)).Seconds()))
		apiError(w, 429, fmt.Sprintf("Too Many Requests: retry after %d", max(ra, 1)), max(ra, 1))
		return
	}
	s.sends = append(s.sends, now)
	s.lastChat[chatID] = now
	s.nextMsg++
	u.messageID++
	msg := map[string]any{"message_id": u.messageID, "from": s.botUser(), "chat": s.chatOf(u), "date": now.Unix(), "text": text}
	s.sent = append(s.sent, Sent{MessageID: u.messageID, ChatID: chatID, Text: text, At: now})
	ok(w, msg)
}

func (s *Server) chatOf(u *user) map[string]any {
	c := map[string]any{"id": u.id, "type": "private", "first_name": u.first}
	if u.last != "" {
		c["last_name"] = u.last
	}
	if u.username != "" {
		c["username"] = u.username
	}
	return c
}

func (s *Server) fromOf(u *user) map[string]any {
	f := map[string]any{"id": u.id, "is_bot": false, "first_name": u.first, "language_code": "de"}
	if u.last != "" {
		f["last_name"] = u.last
	}
	if u.username != "" {
		f["username"] = u.username
	}
	return f
}

// Inbound is what a subscriber sends (the control API's body).
type Inbound struct {
	ChatID    int64  `json:"chat_id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	Text      string `json:"text,omitempty"`
	Caption   string `json:"caption,omitempty"`
	// Photo or Document sends a file (their file_id); Latitude/Longitude a
	// location; Phone a contact.
	Photo     string   `json:"photo,omitempty"`
	Document  string   `json:"document,omitempty"`
	FileName  string   `json:"file_name,omitempty"`
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	Phone     string   `json:"phone,omitempty"`
}

// Write makes a subscriber send a message to the bot and returns its
// update_id.
func (s *Server) Write(in Inbound) (int64, error) {
	if in.ChatID <= 0 {
		return 0, errors.New("chat_id must be a positive user id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[in.ChatID]
	if u == nil {
		u = &user{id: in.ChatID, first: in.FirstName, last: in.LastName, username: in.Username}
		if u.first == "" {
			u.first = "User " + strconv.FormatInt(in.ChatID, 10)
		}
		s.users[in.ChatID] = u
	}
	u.started, u.blocked = true, false
	u.messageID++
	msg := map[string]any{"message_id": u.messageID, "from": s.fromOf(u), "chat": s.chatOf(u), "date": time.Now().Unix()}
	switch {
	case in.Text != "":
		msg["text"] = in.Text
		if strings.HasPrefix(in.Text, "/") {
			cmd, _, _ := strings.Cut(in.Text, " ")
			msg["entities"] = []map[string]any{{"type": "bot_command", "offset": 0, "length": len(utf16.Encode([]rune(cmd)))}}
		}
	case in.Photo != "":
		msg["photo"] = []map[string]any{
			{"file_id": in.Photo + "-s", "file_unique_id": in.Photo + "s", "width": 90, "height": 60, "file_size": 1200},
			{"file_id": in.Photo, "file_unique_id": in.Photo + "x", "width": 1280, "height": 853, "file_size": 98000}}
	case in.Document != "":
		msg["document"] = map[string]any{"file_id": in.Document, "file_unique_id": in.Document + "u", "file_name": in.FileName, "mime_type": "application/pdf"}
	case in.Latitude != nil && in.Longitude != nil:
		msg["location"] = map[string]any{"latitude": *in.Latitude, "longitude": *in.Longitude}
	case in.Phone != "":
		msg["contact"] = map[string]any{"phone_number": in.Phone, "first_name": u.first, "user_id": u.id}
	default:
		return 0, errors.New("nothing to send: give text, photo, document, latitude/longitude or phone")
	}
	if in.Caption != "" {
		msg["caption"] = in.Caption
	}
	return s.enqueueLocked(map[string]any{"message": msg}), nil
}

// Block makes a subscriber block the bot: further sends get 403, and the
// bot gets a my_chat_member update ("kicked").
func (s *Server) Block(chatID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[chatID]
	if u == nil {
		return fmt.Errorf("no subscriber %d", chatID)
	}
	u.blocked = true
	bot := s.botUser()
	bot["is_bot"] = true
	s.enqueueLocked(map[string]any{"my_chat_member": map[string]any{
		"chat": s.chatOf(u), "from": s.fromOf(u), "date": time.Now().Unix(),
		"old_chat_member": map[string]any{"status": "member", "user": bot},
		"new_chat_member": map[string]any{"status": "kicked", "user": bot, "until_date": 0},
	}})
	return nil
}

// BlockSilently blocks without the my_chat_member update: the bot learns
// it only from the 403 of its next message.
func (s *Server) BlockSilently(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[chatID]; u != nil {
		u.blocked = true
	}
}

func (s *Server) enqueueLocked(u map[string]any) int64 {
	s.nextUpd++
	u["update_id"] = s.nextUpd
	s.queue = append(s.queue, u)
	s.kickLocked()
	return s.nextUpd
}

// SentMessages returns what the bot sent, oldest first.
func (s *Server) SentMessages() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Stats are the emulator's counters.
type Stats struct {
	Pending     int    `json:"pending"`
	Limited     int    `json:"limited"` // 429 answers
	Webhook     string `json:"webhook"`
	HookCalls   int    `json:"hook_calls"`
	HookRefused int    `json:"hook_refused"`
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Pending: len(s.queue), Limited: s.limited, Webhook: s.webhook, HookCalls: s.hookCalls, HookRefused: s.hookFails}
}

// deliver POSTs pending updates to the webhook, oldest first; an update
// goes once the webhook answers 2xx.
func (s *Server) deliver(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		hook, secret, wake := s.webhook, s.secret, s.wake
		var next map[string]any
		if hook != "" && len(s.queue) > 0 {
			next = s.queue[0]
		}
		s.mu.Unlock()
		if next == nil {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			continue
		}
		body, _ := json.Marshal(next)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		res, err := s.o.Client.Do(req)
		good := err == nil && res.StatusCode/100 == 2
		if res != nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		s.mu.Lock()
		s.hookCalls++
		if good && len(s.queue) > 0 && s.queue[0]["update_id"] == next["update_id"] {
			s.queue = s.queue[1:]
		}
		if !good {
			s.hookFails++
		}
		s.mu.Unlock()
		if !good {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// control is the subscribers' side: POST /_emu/message (Inbound),
// POST /_emu/block {"chat_id"}, GET /_emu/sent, GET /_emu/stats.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_emu/message" && r.Method == http.MethodPost:
		var in Inbound
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, err := s.Write(in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"update_id": id})
	case r.URL.Path == "/_emu/block" && r.Method == http.MethodPost:
		var in struct {
			ChatID int64 `json:"chat_id"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.Block(in.ChatID); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_emu/sent":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.SentMessages())
	case r.URL.Path == "/_emu/stats":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	default:
		http.NotFound(w, r)
	}
}
