package whatsapp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ReadRequest marks an inbound message as read and, with TypingIndicator,
// shows the user that an answer is being typed (for up to 25 s or until
// the answer is sent). Shape of Meta's example "Send typing indicator and
// read receipt" (POST /{phone-number-id}/messages); Meta's OpenAPI
// description has no schema for it.
type ReadRequest struct {
	MessagingProduct string           `json:"messaging_product"`
	Status           string           `json:"status"`
	MessageID        string           `json:"message_id"`
	TypingIndicator  *TypingIndicator `json:"typing_indicator,omitempty"`
}

// TypingIndicator is the typing bubble; Type is "text".
type TypingIndicator struct {
	Type string `json:"type"`
}

// PostRead sends a read receipt (and typing indicator).
func (c *Client) PostRead(ctx context.Context, r *ReadRequest) error {
	return c.doConfirmed(ctx, http.MethodPost, "/"+c.phoneID+"/messages", r, "read receipt")
}

// MarkRead tells the user that the business read their message wamid (the
// blue ticks; earlier messages count as read too) and, with typing, shows
// the typing indicator until the answer goes out or 25 s pass. Call it on
// the channel of the number the message was sent to. Not paced: it is no
// message and Meta does not count it against the throughput.
func (ch *Channel) MarkRead(ctx context.Context, wamid string, typing bool) error {
	if !strings.HasPrefix(wamid, "wamid.") {
		return fmt.Errorf("%w: %q is not a WhatsApp message id (wamid.…)", ErrInvalidMessage, wamid)
	}
	if err := ch.stoppedErr(); err != nil {
		return err
	}
	r := &ReadRequest{MessagingProduct: "whatsapp", Status: "read", MessageID: wamid}
	if typing {
		r.TypingIndicator = &TypingIndicator{Type: "text"}
	}
	if err := ch.client.PostRead(ctx, r); err != nil {
		return fmt.Errorf("whatsapp: mark %s read: %w", wamid, err)
	}
	return nil
}

// TypingInterval is how often ShowTyping sends the typing indicator again
// for the same message while an agent keeps typing: Meta shows it for up
// to 25 s (or until the answer is sent).
const TypingInterval = 20 * time.Second

// ShowTyping shows the contact of message wamid that an answer is being
// typed (and marks the message read), at most once per TypingInterval per
// message: sent is false when it was shown recently and nothing was sent.
// Call it on the channel of the number the message was sent to.
func (ch *Channel) ShowTyping(ctx context.Context, wamid string) (sent bool, err error) {
	now := ch.clk.Now()
	ch.typingMu.Lock()
	if last, ok := ch.typing[wamid]; ok && now.Sub(last) < TypingInterval {
		ch.typingMu.Unlock()
		return false, nil
	}
	if ch.typing == nil {
		ch.typing = map[string]time.Time{}
	}
	for k, at := range ch.typing {
		if now.Sub(at) >= TypingInterval {
			delete(ch.typing, k)
		}
	}
	ch.typing[wamid] = now
	ch.typingMu.Unlock()
	if err := ch.MarkRead(ctx, wamid, true); err != nil {
		ch.typingMu.Lock()
		delete(ch.typing, wamid)
		ch.typingMu.Unlock()
		return false, err
	}
	return true, nil
}
