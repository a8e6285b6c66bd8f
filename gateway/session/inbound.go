package session

// Inbound routing: a contact's message joins or opens a session and is
// offered to the route's extension or queue.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Inbound routes a contact's message to its session (creating one on the
// channel's route) and queues it for the session's extensions. The message
// is stored before Inbound returns; a repeated ID is ignored.
func (m *Manager) Inbound(ctx context.Context, in message.Inbound) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := m.chans[in.Channel]
	if ch == nil {
		return fmt.Errorf("%w: %q (route it in sip.sessions.routes)", ErrUnknownChannel, in.Channel)
	}
	if in.ID != "" {
		dup := false
		if err := m.st.View(func(txn *store.Txn) error {
			_, err := txn.Get([]byte(keySeen + in.ID))
			if err == nil {
				dup = true
				return nil
			}
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}); err != nil {
			return fmt.Errorf("check inbound %s: %w", in.ID, err)
		}
		if dup {
			return nil
		}
	}
	now := m.clock.Now()
	c := newChange()
	c.seen = in.ID
	var s *Session
	if id, ok := m.active[activeKey(in.Channel, in.From)]; ok {
		s = m.open[id].clone()
		c.session(s)
		followSender(s, in.Receiver, now)
	} else {
		target, autoReply := m.routeNew(ch, now)
		s = m.newSession(c, ch, in.Receiver, in.From, in.Name, target, "contact", now)
		if autoReply != "" {
			m.autoReply(c, ch, s, autoReply, now)
		}
	}
	if in.Name != "" {
		s.Name = in.Name
	} else if s.Name == "" {
		s.Name = m.nameOf(ctx, in.From)
	}
	s.LastActivity, s.LastInbound = now, now
	e := m.appendEntry(c, s, Entry{Dir: In, At: now, Text: m.inboundText(s, in), MediaType: in.MediaType,
		MediaID: in.MediaID, Status: "pending", InboundID: in.ID, QuoteID: quoteOf(in)})
	m.queueDeliveries(c, s, e, m.audience(s), now)
	if err := m.commit(c); err != nil {
		return err
	}
	m.m.messages.WithLabelValues(In).Inc()
	m.sendAfterCommit(ctx, c)
	return nil
}

// followSender makes the SIM or WhatsApp number the contact wrote to last
// the one replies leave from, unless an admin pinned the sender
// (PinSender). A change is recorded in the timeline.
func followSender(s *Session, receiver string, now time.Time) {
	if receiver == "" || s.SenderPinned || s.Sender == receiver {
		return
	}
	if s.Sender != "" {
		s.event(now, "sender", "contact", s.Sender+" → "+receiver)
	}
	s.Sender = receiver
}

func (m *Manager) nameOf(ctx context.Context, number string) string {
	if m.cfg.Names == nil {
		return ""
	}
	name, _ := m.cfg.Names.NameOf(ctx, number)
	return name
}

// routeNew is where a new session from an inbound message goes, and the
// auto-reply to send when a queue is out of hours.
func (m *Manager) routeNew(ch *Channel, now time.Time) (Target, string) {
	t := ch.Route
	if t.Kind != ToQueue {
		return t, ""
	}
	q := m.queues[t.ID]
	if q.Hours == nil || q.Hours.Contains(now) {
		return t, ""
	}
	if !q.OutOfHours.IsZero() {
		t = q.OutOfHours
	}
	return t, q.AutoReply
}

func (m *Manager) autoReply(c *change, ch *Channel, s *Session, text string, now time.Time) {
	s.AutoReplied = true
	e := m.appendEntry(c, s, Entry{Dir: Out, At: now, Text: text, By: "pbxgate", Status: string(message.Queued)})
	m.addSend(c, ch, s, &e)
}

func (m *Manager) inboundText(s *Session, in message.Inbound) string {
	if in.MediaID == "" && in.MediaType == "" {
		return in.Text
	}
	kind := in.MediaType
	if kind == "" {
		kind = "media"
	}
	link := fmt.Sprintf("%s/sessions/%s/media/%s", strings.TrimRight(m.cfg.PortalURL, "/"), s.ID, in.MediaID)
	if in.Text != "" {
		return fmt.Sprintf("%s\n[%s: %s]", in.Text, kind, link)
	}
	return fmt.Sprintf("[%s: %s]", kind, link)
}

// quoteOf is the message an inbound one quotes; a reaction's ReplyTo is
// the message it reacts to, not a quote.
func quoteOf(in message.Inbound) string {
	if in.Reaction {
		return ""
	}
	return in.ReplyTo
}
