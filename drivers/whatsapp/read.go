package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
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
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, c.base+"/"+c.phoneID+"/messages", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	var out struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, req, &out); err != nil {
		return err
	}
	if !out.Success {
		return errors.New("whatsapp: read receipt not confirmed (no success:true)")
	}
	return nil
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
