package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pbxgate/pbxgate/drivers/forward"
	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

// automation is the inbound side: consent (STOP/START, blacklist, groups)
// and the keyword rules with their actions.
type automation struct {
	consent *consent.Consent
	rules   *rules.Engine
	// pbx, once started (sip.enabled), takes conversations that no rule
	// consumed or routed: they go to the channel's session route.
	pbx atomic.Pointer[pbxSide]
	// journal is the message log; nil: none.
	journal inboundJournal
}

// inboundJournal is the message log as the inbound side feeds it.
type inboundJournal interface {
	Inbound(ctx context.Context, in message.Inbound) error
}

// newAutomation builds consent and the rules engine. Actions need the SMS
// pool (replies, SMS forwards) and the campaign engine (keyword campaigns);
// both are reached through late-bound adapters, since the pool delivers
// inbound messages to the rules and the rules send through the pool.
func (d *daemon) newAutomation(out *outbound) (*automation, error) {
	a := d.cfg.Automation
	var stop, start []string
	if len(a.StopWords) > 0 {
		stop = a.StopWords
	}
	if len(a.StartWords) > 0 {
		start = a.StartWords
	}
	cs, err := consent.New(consent.Config{Store: d.store, StopWords: stop, StartWords: start, Logger: d.log.With("component", "consent")})
	if err != nil {
		return nil, err
	}
	rc := rules.Config{
		Store:      d.store,
		Consent:    cs,
		Replier:    out,
		SMS:        out,
		Campaigns:  out,
		HTTP:       forward.NewHTTP(forward.HTTPConfig{Timeout: a.HTTPTimeout, UserAgent: "pbxgate/" + version}),
		Location:   d.cfg.Location(),
		Logger:     d.log.With("component", "rules"),
		Registerer: d.reg,
		StopReply:  a.StopReply,
		StartReply: a.StartReply,
		Retry:      rules.Retry{First: a.RetryFirst, Max: a.RetryMax, Attempts: a.RetryAttempts},
	}
	if s := a.SMTP; s.Host != "" {
		m, err := forward.NewSMTP(forward.SMTPConfig{Host: s.Host, Port: s.Port, TLS: s.TLS, Username: s.Username,
			Password: s.Password.Reveal(), From: s.From, Timeout: s.Timeout})
		if err != nil {
			return nil, fmt.Errorf("automation.smtp: %w", err)
		}
		rc.Mailer = m
	}
	au := &automation{consent: cs}
	if d.cfg.SIP.Enabled {
		rc.Router = lateRouter{au}
	}
	eng, err := rules.New(rc)
	if err != nil {
		return nil, err
	}
	au.rules = eng
	return au, nil
}

// lateRouter is the rules' route action before the PBX side exists.
type lateRouter struct{ a *automation }

func (r lateRouter) Route(ctx context.Context, in message.Inbound, kind, id string) error {
	p := r.a.pbx.Load()
	if p == nil {
		return errNotReady
	}
	return p.Route(ctx, in, kind, id)
}

// Inbound takes every complete inbound message from a channel. The rules
// engine stores it before its actions run, and redelivery after a crash
// runs no action twice, so returning an error (the channel keeps the message
// and offers it again) loses nothing. A message that was not a STOP/START
// keyword, not blocked and not routed by a rule goes to the PBX: the
// channel's session route delivers it to an extension or queue (the session
// manager ignores an ID it already has).
func (a *automation) Inbound(ctx context.Context, in message.Inbound) error {
	// Logged first, like the rules store it first: an error makes the
	// channel offer the message again, and logging it twice keeps one entry.
	if a.journal != nil && in.ID != "" {
		if err := a.journal.Inbound(ctx, in); err != nil {
			return err
		}
	}
	rec, err := a.rules.Handle(ctx, in)
	if err != nil {
		return err
	}
	p := a.pbx.Load()
	if p == nil || rec.Consent != "" || rec.Blocked != "" || rec.Routed() || !p.sessions.Handles(in.Channel) {
		return nil
	}
	return p.sessions.Inbound(ctx, in)
}

// HandleInbound is Inbound under the name the WhatsApp channel asks for.
func (a *automation) HandleInbound(ctx context.Context, in message.Inbound) error {
	return a.Inbound(ctx, in)
}

// run retries failed actions and prunes the message log daily.
func (a *automation) run(ctx context.Context, retention time.Duration) error {
	go func() {
		if retention <= 0 {
			return
		}
		t := time.NewTicker(24 * time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				_, _ = a.rules.Prune(ctx, now.Add(-retention))
			}
		}
	}()
	return a.rules.Run(ctx)
}

// outbound sends what the automation decides (replies, SMS forwards,
// keyword campaigns) through the SMS pool and the campaign engine, which are
// set once they exist.
type outbound struct {
	pool       atomic.Pointer[smspool.Pool]
	wa         atomic.Pointer[whatsapp.Channel]
	campaigns  atomic.Pointer[campaign.Engine]
	defaultSMS string // channel for SMS forwards of messages that came in on WhatsApp
}

var errNotReady = errors.New("sending is not started yet")

// Reply answers the contact on the SIM (channel and receiving number) the
// message came in on.
func (o *outbound) Reply(ctx context.Context, in message.Inbound, text string) error {
	id := "reply-" + in.ID + "-" + randomID()
	if in.Kind == message.WhatsApp {
		wa := o.wa.Load()
		if wa == nil {
			return errNotReady
		}
		_, err := wa.SendMessage(ctx, id, in.From, whatsapp.Text(text))
		return err
	}
	pool := o.pool.Load()
	if pool == nil {
		return errNotReady
	}
	return pool.Enqueue(ctx, message.Outbound{ID: id, Channel: in.Channel, Sender: in.Receiver, To: in.From, Text: text})
}

// SendSMS sends an SMS forward; its ID is stable across the rule's retries.
func (o *outbound) SendSMS(ctx context.Context, m message.Outbound) error {
	pool := o.pool.Load()
	if pool == nil {
		return errNotReady
	}
	if m.Channel == "" {
		m.Channel = o.defaultSMS
	}
	return pool.Enqueue(ctx, m)
}

// StartForContact starts a copy of a prepared campaign for one contact.
func (o *outbound) StartForContact(ctx context.Context, id string, in message.Inbound, vars map[string]string) error {
	eng := o.campaigns.Load()
	if eng == nil {
		return errNotReady
	}
	tpl, err := eng.Get(ctx, id)
	if err != nil {
		return err
	}
	spec := tpl.Spec
	spec.Name = tpl.Spec.Name + " → " + in.From + " " + in.At.Format("2006-01-02 15:04:05")
	spec.When = campaign.When{Kind: "now"}
	_, err = eng.Create(ctx, spec, []recipients.Recipient{{Number: in.From, Vars: vars}})
	if errors.Is(err, campaign.ErrInvalid) {
		return permanent{err} // e.g. a placeholder this contact has no value for
	}
	return err
}

// permanent marks an error a retry cannot cure (the rules engine asks).
type permanent struct{ error }

func (permanent) Permanent() bool { return true }
func (p permanent) Unwrap() error { return p.error }
