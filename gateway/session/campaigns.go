package session

// Campaign sessions: campaign messages sent in session mode, and the
// status events of session and campaign messages.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// OpenSession implements campaign.SessionOpener: the open session with the
// contact on the channel, or a new one assigned to the campaign's target.
// The campaign's message (r.Text, with r.MsgID) goes into the session's
// chat log once, however often the campaign asks (a retry after a crash),
// and its channel status follows it there (HandleCampaignStatus).
func (m *Manager) OpenSession(ctx context.Context, r campaign.SessionRequest) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newChange()
	var s *Session
	reused := false
	if id, ok := m.active[activeKey(r.Channel, r.Contact)]; ok {
		s, reused = m.open[id].clone(), true
	} else {
		ch := m.chans[r.Channel]
		if ch == nil {
			return "", false, fmt.Errorf("%w: %q", ErrUnknownChannel, r.Channel)
		}
		t := Target{Kind: r.Target.Kind, ID: r.Target.ID}
		switch {
		case t.IsZero():
			t = ch.Route
		case t.Kind == ToQueue && m.queues[t.ID] == nil:
			return "", false, fmt.Errorf("%w: %s: queue %q", campaign.ErrRejected, ErrUnknownTarget, t.ID)
		case t.Kind != ToQueue:
			t.Kind = ToExtension
		}
		s = m.newSession(c, ch, r.Sender, r.Contact, "", t, "campaign", m.clock.Now())
	}
	if r.Text != "" && r.MsgID != "" && !m.hasCampaignEntry(r.MsgID) {
		by := r.By
		if by == "" {
			by = "campaign"
		}
		now := m.clock.Now()
		e := m.appendEntry(c, s, Entry{Dir: Out, At: now, Text: r.Text, By: by, Status: string(message.Queued), OutboundID: r.MsgID})
		s.LastActivity = now
		c.byOut = map[string]string{r.MsgID: fmt.Sprintf("%s/%d", s.ID, e.Seq)}
	} else if reused {
		return s.ID, true, nil
	}
	c.session(s)
	if err := m.commit(c); err != nil {
		return "", false, err
	}
	return s.ID, reused, nil
}

func (m *Manager) hasCampaignEntry(msgID string) bool {
	err := m.st.View(func(txn *store.Txn) error {
		_, err := txn.Get([]byte(keyByOut + msgID))
		return err
	})
	return err == nil
}

// CampaignFollower is HandleCampaignStatus as the campaigns' follower in
// the events router (events.TxnFollower): a campaign message sent in a
// session must see its statuses even across a crash, so the router sends
// those the durable way (the channel's outbox) rather than inside the
// channel's transaction.
type CampaignFollower struct{ m *Manager }

// CampaignFollower returns m's follower of campaign statuses.
func (m *Manager) CampaignFollower() CampaignFollower { return CampaignFollower{m} }

// HandleStatus is Manager.HandleCampaignStatus.
func (f CampaignFollower) HandleStatus(ctx context.Context, ev message.StatusEvent) error {
	return f.m.HandleCampaignStatus(ctx, ev)
}

// FollowsTxn reports whether ev is of a campaign message sent in a
// session (its chat log shows the status), read in txn.
func (f CampaignFollower) FollowsTxn(txn *store.Txn, ev message.StatusEvent) (bool, error) {
	_, err := txn.Get([]byte(keyByOut + ev.ID))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// HandleCampaignStatus shows a campaign message's status in the chat log
// of the session it was sent in; other events return ErrUnknownStatus.
func (m *Manager) HandleCampaignStatus(ctx context.Context, ev message.StatusEvent) error {
	var ref string
	err := m.st.View(func(txn *store.Txn) error {
		item, err := txn.Get([]byte(keyByOut + ev.ID))
		if err != nil {
			return err
		}
		b, err := item.ValueCopy(nil)
		ref = string(b)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnknownStatus
	}
	if err != nil {
		return err
	}
	i := strings.LastIndexByte(ref, '/')
	seq, err := strconv.Atoi(ref[i+1:])
	if i < 0 || err != nil {
		return fmt.Errorf("session: damaged campaign entry reference %q", ref)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.setEntryStatus(ref[:i], seq, string(ev.Status), ev.Reason, ev.ReasonCode, ev.ChannelID)
}

// HandleStatus records a channel's status for a session's message; events
// for other messages return ErrUnknownStatus.
func (m *Manager) HandleStatus(ctx context.Context, ev message.StatusEvent) error {
	rest, ok := strings.CutPrefix(ev.ID, outPrefix)
	i := strings.LastIndexByte(rest, '-')
	if !ok || i < 0 {
		return ErrUnknownStatus
	}
	seq, err := strconv.Atoi(rest[i+1:])
	if err != nil {
		return ErrUnknownStatus
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.setEntryStatus(rest[:i], seq, string(ev.Status), ev.Reason, ev.ReasonCode, ev.ChannelID)
}

// setEntryChannelID keeps the channel's id of an Out entry (the wamid of
// a WhatsApp reply) unless it has one; "" changes nothing. The write
// rides on the next sync rather than forcing one (an SD card's cost per
// reply): lost in a power cut, the id comes again with the message's
// status webhooks (HandleStatus keeps it).
func (m *Manager) setEntryChannelID(id string, seq int, chID string) error {
	if chID == "" {
		return nil
	}
	return m.st.UpdateNoSync(func(txn *store.Txn) error {
		var e Entry
		if err := store.GetJSON(txn, entryKey(id, seq), &e); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ErrUnknownStatus
			}
			return err
		}
		if e.Dir != Out || e.ChannelID != "" {
			return nil
		}
		e.ChannelID = chID
		return store.SetJSON(txn, entryKey(id, seq), e)
	})
}

// setEntryStatus records a status of entry seq of session id; chID, when
// given, is the channel's id of the message (kept if the entry has none).
func (m *Manager) setEntryStatus(id string, seq int, status, reason string, code message.Reason, chID string) error {
	var ns []notice
	err := m.st.Update(func(txn *store.Txn) error {
		ns = nil
		var e Entry
		if err := store.GetJSON(txn, entryKey(id, seq), &e); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ErrUnknownStatus
			}
			return err
		}
		// The extension that asked is told once per disposition, also of
		// a read after delivered.
		changed := false
		if chID != "" && e.Dir == Out && e.ChannelID == "" {
			e.ChannelID, changed = chID, true
		}
		if e.Notify != nil {
			if e.Reason == "" {
				e.Reason = reason
			}
			if d := e.Notify.disposition(message.Status(status)); d != "" {
				if n, ok := m.receiptNotice(id, e, d); ok {
					ns = append(ns, n)
				}
				e.Notify.Sent = append(e.Notify.Sent, d)
				changed = true
			}
		}
		if message.Status(e.Status).IsFinal() && e.Status != string(message.Sent) {
			if changed {
				return m.setEntry(txn, id, &e)
			}
			return nil
		}
		e.Status, e.Reason, e.ReasonCode = status, reason, code
		return m.setEntry(txn, id, &e)
	})
	if err == nil {
		m.sendNotices(ns)
	}
	return err
}
