package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// statusRouter hands a channel's status events to whoever sent the message:
// the campaign engine, then the chat sessions; others (CLI sends, automatic
// answers) are only logged. Every event also updates the message log.
type statusRouter struct {
	log       *slog.Logger
	journal   statusJournal                   // the message log; nil: none
	campaigns atomic.Pointer[campaign.Engine] // set once the engine exists
	sessions  atomic.Pointer[session.Manager] // set with sip.enabled
	traffic   *traffic
}

var errNotStarted = errors.New("campaign engine not started yet")

// statusJournal is the message log as the router feeds it.
type statusJournal interface {
	Status(ctx context.Context, ev message.StatusEvent) error
}

func (r *statusRouter) Status(ctx context.Context, ev message.StatusEvent) error {
	// The log sees every event, whoever claims it (or nobody). It is
	// idempotent and never moves backwards, so an event offered again
	// after a routing error does no harm; a failure to log is reported
	// but does not hold the campaigns' events back.
	if r.journal != nil {
		if err := r.journal.Status(ctx, ev); err != nil {
			r.log.Warn("message log: status not recorded", "id", ev.ID, "status", ev.Status, "err", err)
		}
	}
	err := r.route(ctx, ev)
	if err == nil {
		r.traffic.count(ev)
	}
	return err
}

func (r *statusRouter) route(ctx context.Context, ev message.StatusEvent) error {
	e := r.campaigns.Load()
	if e == nil {
		// The pool keeps the event in its outbox and offers it again.
		return errNotStarted
	}
	err := e.HandleStatus(ctx, ev)
	if err == nil {
		// A campaign message sent in session mode shows in that chat too.
		if m := r.sessions.Load(); m != nil {
			if err := m.HandleCampaignStatus(ctx, ev); err != nil && !errors.Is(err, session.ErrUnknownStatus) {
				r.log.Warn("campaign message status not shown in its chat session", "id", ev.ID, "err", err)
			}
		}
		return nil
	}
	if !errors.Is(err, campaign.ErrUnknownStatus) {
		return err
	}
	if m := r.sessions.Load(); m != nil {
		err := m.HandleStatus(ctx, ev)
		if err == nil || !errors.Is(err, session.ErrUnknownStatus) {
			return err
		}
	}
	r.log.Debug("message status", "id", ev.ID, "status", ev.Status, "sender", ev.Sender, "reason", ev.Reason)
	return nil
}

// HandleStatus is Status under the name the WhatsApp channel asks for.
func (r *statusRouter) HandleStatus(ctx context.Context, ev message.StatusEvent) error {
	return r.Status(ctx, ev)
}
