package chatchannel

import (
	"context"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Health is a channel's counters for the portal's setup page: when the
// platform last answered, its last error, messages received and sent.
type Health struct {
	redact func(string) string

	mu       sync.Mutex
	lastOK   time.Time
	lastErr  string
	received int64
	sent     int64
}

// Counts is a snapshot of Health.
type Counts struct {
	LastOK    time.Time
	LastError string
	Received  int64
	Sent      int64
}

// NewHealth keeps errors through redact (which takes the token out of
// them; nil keeps them as they are).
func NewHealth(redact func(string) string) *Health {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &Health{redact: redact}
}

// OK notes that the platform answered at now and clears the last error.
func (h *Health) OK(now time.Time) {
	h.mu.Lock()
	h.lastOK, h.lastErr = now, ""
	h.mu.Unlock()
}

// Err notes the platform's last error, redacted.
func (h *Health) Err(err error) {
	msg := h.redact(err.Error())
	h.mu.Lock()
	h.lastErr = msg
	h.mu.Unlock()
}

// Counts returns the counters.
func (h *Health) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Counts{LastOK: h.lastOK, LastError: h.lastErr, Received: h.received, Sent: h.sent}
}

func (h *Health) addSent() {
	h.mu.Lock()
	h.sent++
	h.mu.Unlock()
}

// Accept hands in to the inbox (none: nil, nothing stored) and counts it
// received; an error means it is not stored and must not be confirmed.
func (h *Health) Accept(ctx context.Context, inbox Inbox, in message.Inbound) error {
	if inbox == nil {
		return nil
	}
	if err := inbox.Accept(ctx, in); err != nil {
		return err
	}
	h.mu.Lock()
	h.received++
	h.mu.Unlock()
	return nil
}
