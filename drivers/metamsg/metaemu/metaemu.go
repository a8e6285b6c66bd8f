// Package metaemu emulates the parts of Meta's Graph API a Facebook Page
// or an Instagram professional account uses for messaging, for tests and
// `make run`: the Send API (POST /{version}/{account-id|me}/messages),
// GET /{version}/me, and webhook calls signed with X-Hub-Signature-256
// when a person writes. It enforces the rules Meta documents (Messenger
// Platform: Send API Reference, Common Error Codes, Messenger Platform
// policy): the access token (190), page-scoped recipients (100/2018001),
// the 24-hour standard messaging window (10/2018278, Instagram
// 10/2534022), message tags only with messaging_type MESSAGE_TAG and
// HUMAN_AGENT only for 7 days, the text limit (2000 characters; Instagram
// 1000 bytes), a rate limit (613) and blocked people (551/1545041).
//
// Control routes for tests and the demo: POST /_emu/message (a person
// writes: {"from","name","text","ref","postback"}), POST /_emu/block
// ({"id"}), POST /_emu/age ({"id","hours"}: their last message was that
// long ago), GET /_emu/sent.
package metaemu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/drivers/metamsg"
)

// Options configure the emulator.
type Options struct {
	Platform  metamsg.Platform // default Messenger
	AccountID string           // the Page or Instagram account id; default "1000000000000001"
	Name      string           // the Page's name; default "pbxgate Demo"
	Username  string           // default "pbxgatedemo"
	Token     string           // default "EMU-PAGE-TOKEN"
	AppSecret string           // default "emu-app-secret"
	// CallbackURL receives the webhook calls (the portal's webhook).
	CallbackURL string
	// PerSecond is the Send API calls allowed per second before 613;
	// default 100.
	PerSecond int
	// DeliveryDelay: after a successful send, a delivery event (Messenger
	// only) follows after this long; 0: none.
	DeliveryDelay time.Duration
	Now           func() time.Time
	HTTPClient    *http.Client
}

// Sent is one message the emulator accepted.
type Sent struct {
	MID           string    `json:"mid"`
	To            string    `json:"to"`
	Text          string    `json:"text"`
	MessagingType string    `json:"messaging_type"`
	Tag           string    `json:"tag,omitempty"`
	At            time.Time `json:"at"`
}

type person struct {
	name    string
	lastIn  time.Time
	blocked bool
}

// Server is the emulator.
type Server struct {
	o   Options
	mux *http.ServeMux

	mu     sync.Mutex
	people map[string]*person
	sent   []Sent
	calls  []time.Time
	seq    int64
}

// New builds the emulator.
func New(o Options) *Server {
	if o.Platform == "" {
		o.Platform = metamsg.Messenger
	}
	if o.AccountID == "" {
		o.AccountID = "1000000000000001"
	}
	if o.Name == "" {
		o.Name = "pbxgate Demo"
	}
	if o.Username == "" {
		o.Username = "pbxgatedemo"
	}
	if o.Token == "" {
		o.Token = "EMU-PAGE-TOKEN"
	}
	if o.AppSecret == "" {
		o.AppSecret = "emu-app-secret"
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Server{o: o, people: map[string]*person{}}
	m := http.NewServeMux()
	m.HandleFunc("POST /_emu/message", s.ctlMessage)
	m.HandleFunc("POST /_emu/block", s.ctlBlock)
	m.HandleFunc("POST /_emu/age", s.ctlAge)
	m.HandleFunc("GET /_emu/sent", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.Sent()) })
	m.HandleFunc("GET /{version}/me", s.me)
	m.HandleFunc("POST /{version}/{account}/messages", s.send)
	s.mux = m
	return s
}

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.o }

// ServeHTTP serves the API and the control routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Sent returns the accepted messages, oldest first.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// graphErr writes a Graph API error in Meta's documented shape.
func graphErr(w http.ResponseWriter, status, code, sub int, typ, msg string) {
	e := map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": "AemuTrace" + randHex(4)}
	if sub != 0 {
		e["error_subcode"] = sub
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok := r.URL.Query().Get("access_token")
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = h
	}
	if tok == "" {
		graphErr(w, 400, 2500, 0, "OAuthException", "An active access token must be used to query information about the current user.")
		return false
	}
	if tok != s.o.Token {
		graphErr(w, 400, metamsg.CodeInvalidToken, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
		return false
	}
	return true
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	writeJSON(w, 200, map[string]string{"id": s.o.AccountID, "name": s.o.Name, "username": s.o.Username})
}

// tags Meta allows with MESSAGE_TAG: Messenger's four (and HUMAN_AGENT),
// Instagram's HUMAN_AGENT only.
func (s *Server) allowedTag(tag string) bool {
	if s.o.Platform == metamsg.Instagram {
		return tag == metamsg.TagHumanAgent
	}
	switch tag {
	case "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "CUSTOMER_FEEDBACK", metamsg.TagHumanAgent:
		return true
	}
	return false
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if a := r.PathValue("account"); a != "me" && a != s.o.AccountID {
		graphErr(w, 400, 100, 33, "GraphMethodException", fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", a))
		return
	}
	var req metamsg.SendRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) Invalid JSON: "+err.Error())
		return
	}
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Rate: calls in the last second.
	cut := now.Add(-time.Second)
	keep := s.calls[:0]
	for _, t := range s.calls {
		if t.After(cut) {
			keep = append(keep, t)
		}
	}
	s.calls = keep
	if len(s.calls) >= s.o.PerSecond {
		graphErr(w, 400, metamsg.CodeRateLimit, 0, "OAuthException", "(#613) Calls to this API have exceeded the rate limit.")
		return
	}
	s.calls = append(s.calls, now)
	switch req.MessagingType {
	case metamsg.TypeResponse, metamsg.TypeUpdate, metamsg.TypeMessageTag:
	case "":
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) param messaging_type is required")
		return
	default:
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
		return
	}
	if req.MessagingType == metamsg.TypeMessageTag && req.Tag == "" {
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) param tag is required when messaging_type is MESSAGE_TAG")
		return
	}
	if req.Tag != "" && req.MessagingType != metamsg.TypeMessageTag {
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) tag may only be used with messaging_type MESSAGE_TAG")
		return
	}
	if req.Tag != "" && !s.allowedTag(req.Tag) {
		graphErr(w, 400, 100, 0, "OAuthException", fmt.Sprintf("(#100) Param tag must be one of the supported message tags; %q is not", req.Tag))
		return
	}
	if req.Recipient.ID == "" {
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) The parameter recipient is required")
		return
	}
	if req.Message.Text == "" {
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) param message must be non-empty.")
		return
	}
	if s.o.Platform == metamsg.Instagram && len(req.Message.Text) > 1000 {
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) Length of param message[text] must be less than or equal to 1000 bytes")
		return
	}
	if s.o.Platform != metamsg.Instagram && utf8.RuneCountInString(req.Message.Text) > 2000 {
		graphErr(w, 400, 100, 0, "OAuthException", "(#100) Length of param message[text] must be less than or equal to 2000")
		return
	}
	p := s.people[req.Recipient.ID]
	if p == nil {
		graphErr(w, 400, metamsg.CodeInvalid, metamsg.SubNoUser, "OAuthException", "(#100) No matching user found")
		return
	}
	if p.blocked {
		graphErr(w, 400, metamsg.CodeUnavailable, metamsg.SubUnavailable, "OAuthException", "(#551) This person isn't available right now.")
		return
	}
	age := now.Sub(p.lastIn)
	window := age <= metamsg.StandardWindow ||
		(req.Tag == metamsg.TagHumanAgent && age <= metamsg.HumanAgentWindow) ||
		(req.Tag != "" && req.Tag != metamsg.TagHumanAgent && s.o.Platform == metamsg.Messenger)
	if !window {
		sub := metamsg.SubWindowMessenger
		if s.o.Platform == metamsg.Instagram {
			sub = metamsg.SubWindowInstagram
		}
		graphErr(w, 400, metamsg.CodeWindow, sub, "OAuthException", "(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview")
		return
	}
	s.seq++
	mid := fmt.Sprintf("m_emu%d%s", s.seq, randHex(6))
	s.sent = append(s.sent, Sent{MID: mid, To: req.Recipient.ID, Text: req.Message.Text, MessagingType: req.MessagingType, Tag: req.Tag, At: now})
	writeJSON(w, 200, metamsg.SendResponse{RecipientID: req.Recipient.ID, MessageID: mid})
	if s.o.DeliveryDelay > 0 && s.o.Platform == metamsg.Messenger && s.o.CallbackURL != "" {
		to := req.Recipient.ID
		time.AfterFunc(s.o.DeliveryDelay, func() {
			ev := map[string]any{"sender": map[string]string{"id": to}, "recipient": map[string]string{"id": s.o.AccountID},
				"delivery": map[string]any{"mids": []string{mid}, "watermark": s.o.Now().UnixMilli()}}
			_, _ = s.Deliver(context.Background(), ev)
		})
	}
}

// Inbound is what a person sends.
type Inbound struct {
	From     string `json:"from"`
	Name     string `json:"name,omitempty"`
	Text     string `json:"text,omitempty"`
	Ref      string `json:"ref,omitempty"`      // a link's ref: a referral event
	Postback string `json:"postback,omitempty"` // a tapped button's payload
	Image    string `json:"image,omitempty"`    // an image attachment's URL
}

// Write makes a person write to the account: it opens their messaging
// window and posts the signed webhook call. It returns the webhook's HTTP
// status.
func (s *Server) Write(ctx context.Context, in Inbound) (int, error) {
	if in.From == "" {
		return 0, errors.New("metaemu: from is required")
	}
	now := s.o.Now()
	s.mu.Lock()
	p := s.people[in.From]
	if p == nil {
		p = &person{}
		s.people[in.From] = p
	}
	p.name, p.lastIn, p.blocked = in.Name, now, false
	s.seq++
	mid := fmt.Sprintf("m_in%d%s", s.seq, randHex(6))
	s.mu.Unlock()
	ev := map[string]any{"sender": map[string]string{"id": in.From}, "recipient": map[string]string{"id": s.o.AccountID},
		"timestamp": now.UnixMilli()}
	switch {
	case in.Postback != "":
		ev["postback"] = map[string]any{"mid": mid, "title": in.Text, "payload": in.Postback}
	case in.Ref != "" && in.Text == "":
		ev["referral"] = map[string]any{"ref": in.Ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
	case in.Image != "":
		ev["message"] = map[string]any{"mid": mid, "attachments": []any{map[string]any{"type": "image", "payload": map[string]string{"url": in.Image}}}}
	default:
		ev["message"] = map[string]any{"mid": mid, "text": in.Text}
	}
	return s.Deliver(ctx, ev)
}

// Deliver posts one messaging event as a signed notification.
func (s *Server) Deliver(ctx context.Context, event map[string]any) (int, error) {
	if s.o.CallbackURL == "" {
		return 0, errors.New("metaemu: no callback URL")
	}
	n := map[string]any{"object": metamsg.Object(s.o.Platform), "entry": []any{map[string]any{
		"id": s.o.AccountID, "time": s.o.Now().UnixMilli(), "messaging": []any{event}}}}
	body, _ := json.Marshal(n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(metamsg.SignatureHeader, metamsg.Sign(s.o.AppSecret, body))
	res, err := s.o.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// Block makes a person block the account (no webhook: Meta sends none).
func (s *Server) Block(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.people[id]; p != nil {
		p.blocked = true
	}
}

// Age moves a person's last message d into the past.
func (s *Server) Age(id string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.people[id]; p != nil {
		p.lastIn = p.lastIn.Add(-d)
	}
}

func (s *Server) ctlMessage(w http.ResponseWriter, r *http.Request) {
	var in Inbound
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil || in.From == "" {
		http.Error(w, `want {"from":"<id>","text":"..."}`, http.StatusBadRequest)
		return
	}
	code, err := s.Write(r.Context(), in)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	writeJSON(w, 200, map[string]int{"webhook_status": code})
}

func (s *Server) ctlBlock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil || in.ID == "" {
		http.Error(w, `want {"id":"<id>"}`, http.StatusBadRequest)
		return
	}
	s.Block(in.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlAge(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID    string  `json:"id"`
		Hours float64 `json:"hours"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil || in.ID == "" {
		http.Error(w, `want {"id":"<id>","hours":25}`, http.StatusBadRequest)
		return
	}
	s.Age(in.ID, time.Duration(in.Hours*float64(time.Hour)))
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
