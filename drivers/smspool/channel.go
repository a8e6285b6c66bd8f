package smspool

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// SMSChannel is one configured channel as its users (campaigns, chat
// sessions) see it. It has the method set gateway/campaign's Channel,
// SenderLister and ResendSafety ask for.
type SMSChannel struct {
	p  *Pool
	ch *channel
}

// Channel returns the configured channel named name.
func (p *Pool) Channel(name string) (*SMSChannel, error) {
	ch := p.byName[name]
	if ch == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownChannel, name)
	}
	return &SMSChannel{p: p, ch: ch}, nil
}

// Name is the configured channel name.
func (c *SMSChannel) Name() string { return c.ch.name }

// Kind is message.SMS.
func (c *SMSChannel) Kind() message.Kind { return message.SMS }

// Send queues m on this channel (m.Channel is set to it); see Pool.Enqueue.
// Errors wrapping ErrInvalid or ErrUnknownSender concern this message only:
// they wrap campaign.ErrRejected too, so only this recipient fails.
func (c *SMSChannel) Send(ctx context.Context, m message.Outbound) error {
	m.Channel = c.ch.name
	err := c.p.Enqueue(ctx, m)
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownSender) {
		return fmt.Errorf("%w: %w", campaign.ErrRejected, err)
	}
	return err
}

// SendTxn is Send in the caller's transaction txn (see Pool.EnqueueTxn;
// campaign.TxnSender): m is stored queued in txn, and committed, called
// once txn has committed, puts it into the queue. Errors are Send's.
func (c *SMSChannel) SendTxn(txn *store.Txn, m message.Outbound) (committed func(), err error) {
	m.Channel = c.ch.name
	committed, err = c.p.EnqueueTxn(txn, m)
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownSender) {
		return nil, fmt.Errorf("%w: %w", campaign.ErrRejected, err)
	}
	return committed, err
}

// TxnStore is the store SendTxn writes to: the pool's.
func (c *SMSChannel) TxnStore() *store.Store { return c.p.st }

// MaxPerMinute is sms_channels[].max_per_minute (0: no limit).
func (c *SMSChannel) MaxPerMinute() int { return c.ch.maxPerMinute }

// Senders lists what Outbound.Sender may name on this channel: the SIM
// names and the numbers of attached SIMs that know theirs.
func (c *SMSChannel) Senders() []string {
	out := slices.Clone(c.ch.sims)
	for _, s := range c.p.SIMStates() {
		if s.Number != "" && slices.Contains(c.ch.sims, s.Name) {
			out = append(out, s.Number)
		}
	}
	return out
}

// ResendSafe is true: the pool remembers every ID in the store, so handing
// a message to it again after a restart never sends it twice.
func (c *SMSChannel) ResendSafe() bool { return true }

// State is the channel's ChannelState (queue, SIMs, why it is blocked).
func (c *SMSChannel) State() ChannelState {
	for _, cs := range c.p.ChannelStates() {
		if cs.Name == c.ch.name {
			return cs
		}
	}
	return ChannelState{Name: c.ch.name}
}

// Capacity is how many messages the channel can start next: its SIMs that
// are attached, ready and not held back by quiet hours or a cap (pacing
// gaps do not count: they end within seconds). A campaign hands the
// channel only a small window per such SIM, so the pool's queue never
// holds a campaign's backlog (gateway/campaign's Capacitor).
func (c *SMSChannel) Capacity() int { return c.p.capacity(c.ch) }

func (p *Pool) capacity(ch *channel) int {
	type cand struct {
		m       Modem
		blocked bool
	}
	p.mu.Lock()
	now := p.cfg.Now().In(p.cfg.Location)
	cands := make([]cand, 0, len(ch.sims))
	for _, n := range ch.sims {
		s := p.sims[n]
		if s == nil || s.modem == nil {
			continue
		}
		reason, _ := s.pc.blocked(now)
		cands = append(cands, cand{s.modem, reason != ""})
	}
	p.mu.Unlock()
	n := 0
	for _, c := range cands {
		if !c.blocked && c.m.Ready() { // Ready outside p.mu, as the workers call it
			n++
		}
	}
	return n
}

// Withdraw takes back those of ids that are queued on this channel and
// not yet handed to a modem, and returns them; they will never be sent
// (gateway/campaign's Withdrawer). A message a SIM has claimed (at most one
// per SIM: the one inside AT+CMGS or about to be) is not withdrawn. Each
// withdrawn message is stored failed with Code message.CodeWithdrawn and
// reported so, in the transaction that takes it out of the queue.
func (c *SMSChannel) Withdraw(ctx context.Context, ids []string) ([]string, error) {
	return c.p.withdraw(ctx, c.ch, ids)
}

func (p *Pool) withdraw(ctx context.Context, ch *channel, ids []string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	// Out of the queue under p.mu: from now on no worker can claim them.
	var taken []*item
	p.mu.Lock()
	for class := range ch.queue {
		ch.queue[class] = slices.DeleteFunc(ch.queue[class], func(it *item) bool {
			if want[it.id] {
				taken = append(taken, it)
				return true
			}
			return false
		})
	}
	p.mu.Unlock()
	if len(taken) == 0 {
		return nil, nil
	}
	now := p.cfg.Now()
	var out []string
	err := p.update(func(t *tx) error {
		out = out[:0]
		for _, it := range taken {
			r, err := getRecord(t.Txn, it.id)
			if err != nil {
				return err
			}
			if r.Status != message.Queued {
				continue // cannot happen: only queued messages are in the queue
			}
			r.Status, r.Reason, r.ReasonCode, r.Code, r.Retryable, r.UpdatedAt = message.Failed,
				"withdrawn before it was sent (its campaign was stopped); not sent", rWithdrawn.R(), message.CodeWithdrawn, false, now
			if err := t.Txn.Delete([]byte(seqKey(keyPending, r.Seq))); err != nil {
				return err
			}
			if err := p.setRecord(t.Txn, &r); err != nil {
				return err
			}
			if err := t.addEvent(&r, now); err != nil {
				return err
			}
			out = append(out, r.Msg.ID)
		}
		return nil
	})
	if err != nil {
		p.mu.Lock()
		for _, it := range taken {
			p.insertLocked(it)
		}
		p.mu.Unlock()
		return nil, fmt.Errorf("withdraw SMS from channel %s: %w", ch.name, err)
	}
	return out, nil
}
