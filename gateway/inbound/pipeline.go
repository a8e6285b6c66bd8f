// Package inbound is what happens to a message a contact sent, after the
// inbox stored it: the message log records it, consent and the keyword
// rules run on it (STOP/START, blacklist, replies, forwards, keyword
// campaigns, routing), and a conversation no rule took goes to the PBX's
// chat sessions. The Pipeline is the inbox's consumer; Outbound is how the
// rules answer.
package inbound

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

// Journal is the message log as the pipeline feeds it: idempotent by ID.
type Journal interface {
	Inbound(ctx context.Context, in message.Inbound) error
}

// Sessions are the PBX's chat sessions (gateway/session.Manager): a
// message joins (or opens) its contact's session on its channel; an ID the
// sessions have already is ignored.
type Sessions interface {
	Handles(channel string) bool
	Inbound(ctx context.Context, in message.Inbound) error
}

// Config configures a Pipeline. Rules is required.
type Config struct {
	Journal  Journal       // nil: no message log
	Rules    *rules.Engine // consent and keyword rules
	Sessions Sessions      // nil: no PBX (sip.enabled off)
	// Retention is how long the rules' records of handled messages are
	// kept; 0 keeps them.
	Retention time.Duration
	Logger    *slog.Logger
}

// Pipeline takes every complete inbound message of every channel.
type Pipeline struct {
	cfg Config
}

// New builds the pipeline.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Rules == nil {
		return nil, errors.New("inbound: Config.Rules is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{cfg: cfg}, nil
}

// Inbound handles one message. The rules engine stores it before its
// actions run, and redelivery after a crash runs no action twice, so
// returning an error (the inbox keeps the message and offers it again)
// loses nothing. A message that was not a STOP/START keyword, not blocked
// and not routed by a rule goes to the sessions of its channel.
func (p *Pipeline) Inbound(ctx context.Context, in message.Inbound) error {
	// Logged first, like the rules store it first: an error makes the
	// inbox offer the message again, and logging it twice keeps one entry.
	if p.cfg.Journal != nil && in.ID != "" {
		if err := p.cfg.Journal.Inbound(ctx, in); err != nil {
			return err
		}
	}
	rec, err := p.cfg.Rules.Handle(ctx, in)
	if err != nil {
		return err
	}
	s := p.cfg.Sessions
	if s == nil || rec.Consent != "" || rec.Blocked != "" || rec.Routed() || !s.Handles(in.Channel) {
		return nil
	}
	return s.Inbound(ctx, in)
}

// Run retries the rules' failed actions and prunes their records daily,
// until ctx ends.
func (p *Pipeline) Run(ctx context.Context) error {
	if p.cfg.Retention > 0 {
		go func() {
			t := time.NewTicker(24 * time.Hour)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					if _, err := p.cfg.Rules.Prune(ctx, now.Add(-p.cfg.Retention)); err != nil {
						p.cfg.Logger.Warn("pruning handled inbound messages", "err", err)
					}
				}
			}
		}()
	}
	return p.cfg.Rules.Run(ctx)
}
