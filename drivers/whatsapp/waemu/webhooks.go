package waemu

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

type statusJob struct {
	wamid, from, to, callback string
	failCode                  int
	pricing                   bool
}

// deliverStatuses sends the statuses of one message in order.
func (s *Server) deliverStatuses(ctx context.Context, j statusJob) {
	steps := []string{"sent", "delivered", "read"}
	if s.o.NoRead {
		steps = steps[:2]
	}
	if j.failCode != 0 {
		steps = []string{"failed"}
	}
	for i, st := range steps {
		if i > 0 && s.o.StatusDelay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.o.StatusDelay):
			}
		}
		status := map[string]any{
			"id": j.wamid, "status": st, "timestamp": strconv.FormatInt(s.o.Now().Unix(), 10),
			"recipient_id": j.to,
		}
		if j.callback != "" {
			status["biz_opaque_callback_data"] = j.callback
		}
		if j.pricing && st != "failed" {
			status["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "marketing"}
		}
		if st == "failed" {
			status["errors"] = []map[string]any{{
				"code": j.failCode, "title": failTitle(j.failCode), "message": failTitle(j.failCode),
				"error_data": map[string]string{"details": failTitle(j.failCode) + " (injected by the emulator)"},
			}}
		}
		if err := s.post(ctx, s.valueFor(j.from, s.numbers[j.from], map[string]any{"statuses": []any{status}})); err != nil {
			s.o.Logger.Warn("waemu: status webhook not delivered", "wamid", j.wamid, "status", st, "err", err)
			return
		}
	}
}

func failTitle(code int) string {
	switch code {
	case 131026:
		return "Message undeliverable"
	case 131047:
		return "Re-engagement message"
	case 131049:
		return "This message was not delivered to maintain healthy ecosystem engagement."
	case 131050:
		return "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business."
	}
	return "Message failed (error " + strconv.Itoa(code) + ")"
}

// valueFor wraps a change value in a notification for the business
// number phoneID (display: its number).
func (s *Server) valueFor(phoneID, display string, v map[string]any) []byte {
	v["messaging_product"] = "whatsapp"
	v["metadata"] = map[string]string{"display_phone_number": display, "phone_number_id": phoneID}
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id":      s.o.WABAID,
			"changes": []any{map[string]any{"field": "messages", "value": v}},
		}},
	})
	return b
}

// post delivers a signed notification, retrying like Meta (with short
// pauses here) while the callback refuses or is unreachable.
func (s *Server) post(ctx context.Context, body []byte) error {
	var last error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
			}
		}
		last = s.postOnce(ctx, body)
		if last == nil {
			s.mu.Lock()
			s.stats.WebhooksDelivered++
			s.mu.Unlock()
			return nil
		}
		s.mu.Lock()
		s.stats.WebhooksFailed++
		s.mu.Unlock()
	}
	return last
}

func (s *Server) postOnce(ctx context.Context, body []byte) error {
	s.mu.Lock()
	cb := s.callback
	s.mu.Unlock()
	if cb == "" {
		return errors.New("no callback URL configured")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", s.Sign(body))
	resp, err := s.o.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("callback answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 value for body with the app secret.
func (s *Server) Sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(s.o.AppSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Inbound is a message a user sends to the business number.
type Inbound struct {
	From   string `json:"from"`              // wa_id (phone digits)
	UserID string `json:"user_id,omitempty"` // business-scoped user id, if any
	Name   string `json:"name,omitempty"`
	// Type: text (Text), image (MediaID from AddMedia, Text as caption),
	// location (Latitude, Longitude, Text as name), button (Text, Payload),
	// interactive (button reply: Payload as id, Text as title) or reaction
	// (Text as emoji, ReplyTo).
	Type      string  `json:"type"`
	Text      string  `json:"text,omitempty"`
	Payload   string  `json:"payload,omitempty"`
	MediaID   string  `json:"media_id,omitempty"`
	Latitude  float64 `json:"latitude,omitempty"`
	Longitude float64 `json:"longitude,omitempty"`
	ReplyTo   string  `json:"reply_to,omitempty"` // wamid
	// ID fixes the wamid (to replay a delivery); empty: a new one.
	ID string `json:"id,omitempty"`
	// To is the phone_number_id the user writes to: one of Options.Numbers,
	// or a number the emulator does not serve (Meta sends the webhooks of
	// every number of the account to the same callback); empty: the
	// primary number. ToDisplay is a number's display number if it is not
	// emulated.
	To        string `json:"to,omitempty"`
	ToDisplay string `json:"to_display,omitempty"`
}

// Inject delivers an inbound message to the callback URL as a signed
// webhook, opens the sender's service window and returns the wamid.
func (s *Server) Inject(ctx context.Context, in Inbound) (string, error) {
	body, wamid, err := s.InboundNotification(in)
	if err != nil {
		return "", err
	}
	to := cmp.Or(in.To, s.o.PhoneNumberID)
	if _, ok := s.numbers[to]; ok {
		// Only a message to one of the emulated numbers opens its window.
		s.mu.Lock()
		s.inbound[to+"|"+digits(in.From)] = s.o.Now()
		s.received[wamid] = to
		s.mu.Unlock()
	}
	return wamid, s.post(ctx, body)
}

// InboundNotification builds the webhook body for in without sending it
// (for tests that replay or tamper with deliveries).
func (s *Server) InboundNotification(in Inbound) (body []byte, wamid string, err error) {
	if digits(in.From) == "" {
		return nil, "", errors.New("inbound needs a sender wa_id")
	}
	wamid = in.ID
	if wamid == "" {
		wamid = "wamid." + randomID(24)
	}
	msg := map[string]any{"from": digits(in.From), "id": wamid,
		"timestamp": strconv.FormatInt(s.o.Now().Unix(), 10), "type": in.Type}
	if in.ReplyTo != "" && in.Type != "reaction" {
		msg["context"] = map[string]string{"from": s.display(in.To, in.ToDisplay), "id": in.ReplyTo}
	}
	switch in.Type {
	case "text":
		msg["text"] = map[string]string{"body": in.Text}
	case "image":
		s.mu.Lock()
		m := s.media[in.MediaID]
		s.mu.Unlock()
		if m == nil {
			return nil, "", fmt.Errorf("image needs a MediaID from AddMedia")
		}
		img := map[string]string{"id": m.id, "mime_type": m.mimeType, "sha256": m.sha256}
		if in.Text != "" {
			img["caption"] = in.Text
		}
		msg["image"] = img
	case "location":
		msg["location"] = map[string]any{"latitude": in.Latitude, "longitude": in.Longitude, "name": in.Text}
	case "button":
		msg["button"] = map[string]string{"payload": in.Payload, "text": in.Text}
	case "interactive":
		msg["interactive"] = map[string]any{"type": "button_reply",
			"button_reply": map[string]string{"id": in.Payload, "title": in.Text}}
	case "reaction":
		msg["reaction"] = map[string]string{"message_id": in.ReplyTo, "emoji": in.Text}
	default:
		return nil, "", fmt.Errorf("inbound type %q is not supported (text, image, location, button, interactive, reaction)", in.Type)
	}
	contact := map[string]any{"profile": map[string]string{"name": in.Name}, "wa_id": digits(in.From)}
	if in.UserID != "" {
		contact["user_id"] = in.UserID
	}
	v := map[string]any{"contacts": []any{contact}, "messages": []any{msg}}
	return s.valueFor(cmp.Or(in.To, s.o.PhoneNumberID), s.display(in.To, in.ToDisplay), v), wamid, nil
}

// display is the display number of phone number id (the emulated
// number's for ""); for a number not emulated, given or the id itself.
func (s *Server) display(id, given string) string {
	if id == "" {
		return s.o.DisplayPhoneNumber
	}
	if d, ok := s.numbers[id]; ok {
		return d
	}
	return cmp.Or(given, id)
}

// control is a small unauthenticated API for demos (cmd/waemu, make run):
//
//	POST /_emu/inbound  {Inbound}                → {"id": wamid}
//	POST /_emu/fail     {"to", "codes": [..]}    → next sends to "to" fail
//	POST /_emu/template_status {"name", "language", "event", "reason", "title", "description"}
//	                                             → status change + Meta's webhook
//	POST /_emu/undeliverable {"to", "code"}      → failed status webhooks
//	POST /_emu/phone {"phone_number_id", "quality_rating", "messaging_limit_tier", "status", "name_status", "event"}
//	                                             → the number's standing + Meta's webhook
//	POST /_emu/template_quality {"name", "language", "quality"} → Meta's quality webhook
//	GET  /_emu/stats                             → Stats
//	GET  /_emu/sent                              → accepted sends
func (s *Server) control(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) != 1 {
		http.NotFound(w, r)
		return
	}
	switch {
	case parts[0] == "inbound" && r.Method == http.MethodPost:
		var in Inbound
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, err := s.Inject(r.Context(), in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": id})
	case parts[0] == "template_status" && r.Method == http.MethodPost:
		var f struct {
			Name, Language, Event, Reason, Title, Description string
		}
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil || f.Name == "" || f.Language == "" || f.Event == "" {
			http.Error(w, `want {"name": "hello_world", "language": "en_US", "event": "PAUSED", "reason": "NONE", "title": "FIRST_PAUSE", "description": "…"}`, http.StatusBadRequest)
			return
		}
		if err := s.SetTemplateStatus(r.Context(), f.Name, f.Language, f.Event, f.Reason, f.Title, f.Description); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case parts[0] == "fail" && r.Method == http.MethodPost:
		var f struct {
			To    string `json:"to"`
			Codes []int  `json:"codes"`
		}
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil || f.To == "" || len(f.Codes) == 0 {
			http.Error(w, `want {"to": "491701234567", "codes": [131026]}`, http.StatusBadRequest)
			return
		}
		s.FailNext(f.To, f.Codes...)
		w.WriteHeader(http.StatusNoContent)
	case parts[0] == "undeliverable" && r.Method == http.MethodPost:
		var f struct {
			To   string `json:"to"`
			Code int    `json:"code"`
		}
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil || f.To == "" || f.Code == 0 {
			http.Error(w, `want {"to": "491701234567", "code": 131026}`, http.StatusBadRequest)
			return
		}
		s.FailDelivery(f.To, f.Code)
		w.WriteHeader(http.StatusNoContent)
	case (parts[0] == "phone" || parts[0] == "template_quality") && r.Method == http.MethodPost:
		s.controlPhone(w, r, parts[0])
	case parts[0] == "stats" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Stats())
	case parts[0] == "sent" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Sent())
	default:
		http.NotFound(w, r)
	}
}
