package session

import (
	"context"
	"fmt"
	"slices"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// DeliveryNotify asks for notices about what became of an extension's
// reply: delivered to the contact, failed, read. The PBX side attaches it
// to FromExtension's ctx (WithNotify): as an RFC 5438 IMDN when the phone
// asked for one in its message, or as a short text notice when the
// extension is configured for them.
type DeliveryNotify struct {
	// IMDN: answer with an IMDN (message/imdn+xml); false: a text notice.
	IMDN bool `json:"imdn,omitempty"`
	// MessageID and DateTime of the phone's message (imdn.Message-ID and
	// DateTime, RFC 5438 §6.3), echoed in the IMDN.
	MessageID string `json:"message_id,omitempty"`
	DateTime  string `json:"date_time,omitempty"`
	Delivery  bool   `json:"delivery,omitempty"` // positive-delivery
	Failure   bool   `json:"failure,omitempty"`  // negative-delivery
	Display   bool   `json:"display,omitempty"`  // display (read, where the channel reports it)
	// Sent records the dispositions already notified.
	Sent []string `json:"sent,omitempty"`
}

// Dispositions notified (RFC 5438 §7.2.1.1 status values).
const (
	DispDelivered = "delivered"
	DispFailed    = "failed"
	DispDisplayed = "displayed"
)

// Receipt is a notice about a reply's fate (Chat.Receipt).
type Receipt struct {
	DeliveryNotify
	Disposition string // DispDelivered, DispFailed, DispDisplayed
	Reply       string // the reply's text
}

type notifyKey struct{}

// WithNotify attaches n to ctx for FromExtension.
func WithNotify(ctx context.Context, n DeliveryNotify) context.Context {
	return context.WithValue(ctx, notifyKey{}, n)
}

func notifyOf(ctx context.Context) *DeliveryNotify {
	n, ok := ctx.Value(notifyKey{}).(DeliveryNotify)
	if !ok || !n.Delivery && !n.Failure && !n.Display {
		return nil
	}
	return &n
}

// disposition maps a channel status to what a DeliveryNotify asked for;
// "" when it asked for nothing about it or was told already.
func (n *DeliveryNotify) disposition(st message.Status) string {
	var d string
	switch {
	case st == message.Delivered && n.Delivery:
		d = DispDelivered
	case st == message.Read && n.Display:
		d = DispDisplayed
	case st == message.Read && n.Delivery:
		d = DispDelivered // read implies delivered
	case st == message.Failed && n.Failure:
		d = DispFailed
	}
	if d == "" || slices.Contains(n.Sent, d) {
		return ""
	}
	return d
}

// receiptNotice is the notice telling ext about e's disposition d (called
// with m.mu held); false when the session is no longer open.
func (m *Manager) receiptNotice(id string, e Entry, d string) (notice, bool) {
	s := m.open[id]
	if s == nil || e.By == "" {
		return notice{}, false
	}
	r := &Receipt{DeliveryNotify: *e.Notify, Disposition: d, Reply: e.Text}
	text := ""
	if !e.Notify.IMDN {
		short := []rune(e.Text)
		if len(short) > 40 {
			short = append(short[:40], '…')
		}
		what := map[string]string{DispDelivered: "delivered to", DispFailed: "NOT delivered to", DispDisplayed: "read by"}[d]
		text = fmt.Sprintf("pbxgate: %s %s: %q", what, s.Contact, string(short))
		if d == DispFailed && e.Reason != "" {
			text += " (" + e.Reason + ")"
		}
	}
	return notice{exts: []string{e.By}, chat: Chat{SessionID: s.ID, Seq: e.Seq, Contact: s.Contact, Name: s.Name, Channel: s.Channel,
		Kind: s.Kind, Thread: m.threads[s.Channel], Label: m.labels[s.Channel], Notice: true, Text: text, Receipt: r}}, true
}
