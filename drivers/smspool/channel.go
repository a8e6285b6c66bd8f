package smspool

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
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
