package waemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/metaschema"
)

// apiErr is a refusal in the Graph API's terms.
type apiErr struct {
	status  int
	code    int
	msg     string
	details string
}

func refuse(code int, msg, details string) *apiErr {
	return &apiErr{status: http.StatusBadRequest, code: code, msg: msg, details: details}
}

func badParam(format string, a ...any) *apiErr {
	return refuse(100, "(#100) Invalid parameter", fmt.Sprintf(format, a...))
}

// topLevelKeys are the keys a send body may have.
var topLevelKeys = map[string]bool{
	"messaging_product": true, "recipient_type": true, "to": true, "type": true,
	"context": true, "biz_opaque_callback_data": true, "text": true, "image": true,
	"document": true, "video": true, "audio": true, "sticker": true, "location": true,
	"template": true, "interactive": true, "contacts": true, "reaction": true, "status": true,
}

var sendTypes = map[string]bool{
	"text": true, "image": true, "document": true, "video": true, "audio": true,
	"sticker": true, "location": true, "template": true, "reaction": true, "interactive": true,
}

func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, from string) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		s.reject(w, badParam("Content-Type must be application/json, got %q", r.Header.Get("Content-Type")))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.reject(w, badParam("cannot read body"))
		return
	}
	var body map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		s.reject(w, badParam("body is not a JSON object: %v", err))
		return
	}
	if _, ok := body["status"]; ok {
		s.markRead(w, from, body)
		return
	}
	if ae := s.checkSchema(body); ae != nil {
		s.reject(w, ae)
		return
	}
	req, ae := s.validate(body)
	if ae != nil {
		s.reject(w, ae)
		return
	}
	now := s.o.Now()
	s.mu.Lock()
	if codes := s.failNext[req.to]; len(codes) > 0 {
		s.failNext[req.to] = codes[1:]
		s.mu.Unlock()
		s.reject(w, injected(codes[0]))
		return
	}
	if ae := s.limits(req.to, now); ae != nil {
		s.mu.Unlock()
		s.reject(w, ae)
		return
	}
	if req.freeForm {
		last, ok := s.inbound[from+"|"+req.to]
		if !ok || now.Sub(last) >= 24*time.Hour {
			s.mu.Unlock()
			s.reject(w, refuse(131047, "Re-engagement message",
				"Message failed to send because more than 24 hours have passed since the customer last replied to this number."))
			return
		}
	}
	wamid := "wamid." + randomID(24)
	s.sent = append(s.sent, Sent{WAMID: wamid, From: from, To: req.to, Type: req.typ, Body: raw, Callback: req.callback, At: now})
	s.stats.Accepted++
	failCode := s.failAsync[req.to]
	s.mu.Unlock()

	s.inflight.Add(1)
	s.queue <- statusJob{wamid: wamid, from: from, to: req.to, callback: req.callback, failCode: failCode, pricing: req.typ == "template"}
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": req.input, "wa_id": req.to}},
		"messages":          []map[string]string{{"id": wamid, "message_status": "accepted"}},
	})
}

func (s *Server) reject(w http.ResponseWriter, e *apiErr) {
	s.mu.Lock()
	s.stats.Rejected[e.code]++
	s.mu.Unlock()
	typ := "OAuthException"
	writeError(w, e.status, e.code, typ, e.msg, e.details)
}

// injected builds the answer for a forced error code.
func injected(code int) *apiErr {
	e := refuse(code, fmt.Sprintf("(#%d) injected by the emulator", code), "error injected by FailNext")
	switch code {
	case 130429:
		e.msg, e.status = "(#130429) Rate limit hit", http.StatusTooManyRequests
	case 131056:
		e.msg = "(#131056) (Business Account, Consumer Account) pair rate limit hit"
	case 131048:
		e.msg = "(#131048) Spam rate limit hit"
	case 190:
		e.msg, e.status = "Error validating access token: Session has expired.", http.StatusUnauthorized
	case 131000, 1, 2:
		e.msg, e.status = "Something went wrong", http.StatusInternalServerError
	case 131026:
		e.msg = "Message undeliverable"
	case 131053:
		e.msg = "(#131053) Media upload error"
	}
	return e
}

// limits applies throughput (token bucket of one second) and pair rate.
// Called with s.mu held.
func (s *Server) limits(to string, now time.Time) *apiErr {
	rate := float64(s.o.Throughput)
	if el := now.Sub(s.bucketAt).Seconds(); el > 0 {
		s.bucket = min(rate, s.bucket+el*rate)
	}
	s.bucketAt = now
	if s.bucket < 1 {
		return &apiErr{status: http.StatusTooManyRequests, code: 130429, msg: "(#130429) Rate limit hit",
			details: fmt.Sprintf("Cloud API message throughput (%d/s) has been reached.", s.o.Throughput)}
	}
	iv := s.o.PairInterval
	tat := s.pairs[to]
	if tat.Before(now) {
		tat = now
	}
	if tat.Sub(now) > time.Duration(s.o.PairBurst-1)*iv {
		return refuse(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit",
			"Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.")
	}
	s.bucket--
	s.pairs[to] = tat.Add(iv)
	return nil
}

type sendReq struct {
	to, input, typ, callback string
	freeForm                 bool
}

func (s *Server) validate(b map[string]json.RawMessage) (sendReq, *apiErr) {
	var req sendReq
	for k := range b {
		if !topLevelKeys[k] {
			return req, badParam("Unexpected key %q on param", k)
		}
	}
	str := func(k string) (string, bool) {
		var v string
		raw, ok := b[k]
		if !ok {
			return "", false
		}
		return v, json.Unmarshal(raw, &v) == nil
	}
	if mp, ok := str("messaging_product"); !ok || mp != "whatsapp" {
		return req, refuse(100, "(#100) The parameter messaging_product is required.", "messaging_product must be \"whatsapp\"")
	}
	if rt, ok := str("recipient_type"); ok && rt != "individual" {
		return req, badParam("recipient_type must be individual, got %q", rt)
	}
	to, ok := str("to")
	if !ok || to == "" {
		return req, refuse(100, "(#100) The parameter to is required.", "")
	}
	req.input, req.to = to, digits(to)
	if len(req.to) < 7 || len(req.to) > 15 || strings.Trim(to, "+0123456789 -") != "" {
		return req, refuse(131009, "(#131009) Parameter value is not valid", fmt.Sprintf("to %q is not a phone number", to))
	}
	typ, ok := str("type")
	if !ok {
		typ = "text" // Meta's default, see the "Send Text Message with Preview URL" example
	}
	if !sendTypes[typ] {
		return req, badParam("type %q is not supported by the emulator", typ)
	}
	req.typ = typ
	obj, ok := b[typ]
	if !ok {
		return req, refuse(100, fmt.Sprintf("(#100) The parameter %s is required.", typ), "")
	}
	for k := range b {
		if sendTypes[k] && k != typ {
			return req, badParam("param %q given for a message of type %q", k, typ)
		}
	}
	if cb, ok := b["biz_opaque_callback_data"]; ok {
		var v string
		if json.Unmarshal(cb, &v) != nil || len(v) > 512 {
			return req, badParam("biz_opaque_callback_data must be a string of at most 512 characters")
		}
		req.callback = v
	}
	if c, ok := b["context"]; ok {
		var ctx struct {
			MessageID string `json:"message_id"`
		}
		if json.Unmarshal(c, &ctx) != nil || ctx.MessageID == "" {
			return req, badParam("context.message_id is required")
		}
	}
	req.freeForm = typ != "template"
	var ae *apiErr
	switch typ {
	case "text":
		var t struct {
			Body       *string `json:"body"`
			PreviewURL *bool   `json:"preview_url"`
		}
		if err := strictDecode(obj, &t); err != nil {
			return req, badParam("text: %v", err)
		}
		if t.Body == nil || strings.TrimSpace(*t.Body) == "" {
			return req, refuse(100, "(#100) The parameter text['body'] is required.", "")
		}
		if n := utf8.RuneCountInString(*t.Body); n > 4096 {
			return req, badParam("text['body'] is too long: %d characters, at most 4096", n)
		}
	case "image", "document", "video", "audio", "sticker":
		ae = s.validateMedia(typ, obj)
	case "location":
		var l struct {
			Latitude  *json.Number `json:"latitude"`
			Longitude *json.Number `json:"longitude"`
			Name      string       `json:"name"`
			Address   string       `json:"address"`
		}
		if err := strictDecode(obj, &l); err != nil {
			return req, badParam("location: %v", err)
		}
		if l.Latitude == nil || l.Longitude == nil {
			return req, refuse(100, "(#100) The parameter location['latitude'] and location['longitude'] are required.", "")
		}
	case "template":
		ae = s.validateTemplate(obj)
	}
	return req, ae
}

// metaSchema is Meta's Message schema from its OpenAPI description
// (drivers/whatsapp/metaschema), compiled once; it is read-only and safe
// for concurrent use.
var metaSchema = sync.OnceValues(metaschema.New)

// checkSchema refuses a message body that does not match Meta's Message
// schema, as Meta does with (#100) Invalid parameter. A body without
// "type" is checked as the text message Meta takes it for.
//
// A validation costs about a third of a millisecond, too much for the
// throughput tests at 1,000 messages/s; bodies that differ only in "to"
// and "biz_opaque_callback_data" have the same verdict (validate checks
// those two itself), so passed shapes are remembered (at most
// schemaCacheSize).
func (s *Server) checkSchema(b map[string]json.RawMessage) *apiErr {
	if _, ok := b["status"]; ok {
		return nil // a read receipt / typing indicator: no Message
	}
	v, err := metaSchema()
	if err != nil {
		return &apiErr{status: http.StatusInternalServerError, code: 1, msg: "emulator: " + err.Error()}
	}
	b = maps.Clone(b)
	if _, ok := b["type"]; !ok {
		b["type"] = json.RawMessage(`"text"`)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return badParam("body: %v", err)
	}
	to, cb := b["to"], b["biz_opaque_callback_data"]
	delete(b, "to")
	delete(b, "biz_opaque_callback_data")
	shape, _ := json.Marshal(b) // map keys sorted: a stable key
	key := sha256.Sum256(append(append(shape, kindOf(to)), kindOf(cb)))
	s.mu.Lock()
	_, ok := s.schemaOK[key]
	s.mu.Unlock()
	if ok {
		return nil
	}
	if err := v.Message(raw); err != nil {
		return badParam("%s", metaschema.Short(err))
	}
	s.mu.Lock()
	if len(s.schemaOK) >= schemaCacheSize {
		clear(s.schemaOK)
	}
	s.schemaOK[key] = struct{}{}
	s.mu.Unlock()
	return nil
}

const schemaCacheSize = 4096

// kindOf tells a JSON value's kind by its first byte (absent: 0), so a
// remembered verdict is only reused for "to" and callback data of the
// same kind.
func kindOf(raw json.RawMessage) byte {
	if t := bytes.TrimSpace(raw); len(t) > 0 {
		return t[0]
	}
	return 0
}

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}

func (s *Server) validateMedia(typ string, raw json.RawMessage) *apiErr {
	var m struct {
		ID       string `json:"id"`
		Link     string `json:"link"`
		Caption  string `json:"caption"`
		Filename string `json:"filename"`
	}
	if err := strictDecode(raw, &m); err != nil {
		return badParam("%s: %v", typ, err)
	}
	if (m.ID == "") == (m.Link == "") {
		return badParam("%s needs exactly one of id or link", typ)
	}
	if m.Filename != "" && typ != "document" {
		return badParam("%s has no filename", typ)
	}
	if m.Caption != "" && (typ == "audio" || typ == "sticker") {
		return badParam("%s has no caption", typ)
	}
	if m.ID != "" {
		s.mu.Lock()
		_, ok := s.media[m.ID]
		s.mu.Unlock()
		if !ok {
			return refuse(131053, "(#131053) Media upload error", fmt.Sprintf("media id %s was not uploaded to this phone number", m.ID))
		}
	}
	if m.Link != "" {
		u, err := url.Parse(m.Link)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return badParam("%s link %q is not an http(s) URL", typ, m.Link)
		}
	}
	return nil
}

// Read is a read receipt the emulator received.
type Read struct {
	From      string // phone_number_id that sent it
	MessageID string
	Typing    bool
	At        time.Time
}

// markRead takes a read receipt with optional typing indicator, in the
// shape of Meta's example "Send typing indicator and read receipt": only
// those keys, status "read", typing_indicator.type "text", and message_id
// an inbound message to this number.
func (s *Server) markRead(w http.ResponseWriter, from string, b map[string]json.RawMessage) {
	var r struct {
		MessagingProduct string `json:"messaging_product"`
		Status           string `json:"status"`
		MessageID        string `json:"message_id"`
		Typing           *struct {
			Type string `json:"type"`
		} `json:"typing_indicator"`
	}
	raw, _ := json.Marshal(b)
	if err := strictDecode(raw, &r); err != nil {
		s.reject(w, badParam("read receipt: %v", err))
		return
	}
	switch {
	case r.MessagingProduct != "whatsapp":
		s.reject(w, refuse(100, "(#100) The parameter messaging_product is required.", "messaging_product must be \"whatsapp\""))
		return
	case r.Status != "read":
		s.reject(w, badParam("status must be \"read\", got %q", r.Status))
		return
	case r.Typing != nil && r.Typing.Type != "text":
		s.reject(w, badParam("typing_indicator.type must be \"text\", got %q", r.Typing.Type))
		return
	}
	s.mu.Lock()
	to, ok := s.received[r.MessageID]
	if !ok || to != from {
		s.mu.Unlock()
		s.reject(w, badParam("message_id %q is not a message this phone number received", r.MessageID))
		return
	}
	s.reads = append(s.reads, Read{From: from, MessageID: r.MessageID, Typing: r.Typing != nil, At: s.o.Now()})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}

// Reads are the read receipts received, in order.
func (s *Server) Reads() []Read {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Read(nil), s.reads...)
}
