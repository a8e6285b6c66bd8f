package chatchannel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// States of an outbox record.
const (
	StateSending = "sending"
	StateSent    = "sent"
	StateFailed  = "failed"
)

// Record is an outbox record as the outbox reads it, and the shape of a
// "sending" and a "failed" one ({"state":…,"reason":…}). A sent record
// also carries the platform's message id, in a field named by the driver
// (Sent.Record).
type Record struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// Outbox sends a channel's messages at most once per message ID, also
// across restarts: before a message goes out its record (Prefix+"out/"+ID)
// says "sending"; afterwards "sent" or "failed". It journals, reports the
// outcome to the status sink and keeps the channel's health.
type Outbox struct {
	Store  *store.Store
	Prefix string // the channel's key prefix, "telegram/<name>/"
	Kind   message.Kind
	// Name starts log lines ("telegram: …"); ErrName starts the errors
	// Send returns (default Name).
	Name    string
	ErrName string
	// Service is who a message goes to, in "interrupted while sending to
	// Telegram (not resent)".
	Service string
	// Resend: a message whose send was cut short is sent again, because
	// the platform drops a repeat itself (VK's random_id); otherwise it is
	// reported unknown and never resent.
	Resend bool

	Journal  Journal
	Statuses StatusSink
	Health   *Health
	Log      *slog.Logger
	Now      func() time.Time // default time.Now
	// Sender is the status events' sender (the bot's name); nil: none.
	Sender func() string
	// Code is the message log's code of a failure (the platform's error
	// code); nil or "": none.
	Code func(error) string
	// Reject marks a refusal for good; default: wrapping
	// campaign.ErrRejected.
	Reject func(error) error
}

// Sent is a platform's answer to a sent message.
type Sent struct {
	ChannelID string // the platform's message id in status events ("": none)
	// Record is stored as the message's record: the platform's shape, with
	// State StateSent.
	Record any
	// Also are further records written with it (receipt indexes: the
	// platform's id back to the message).
	Also map[string]any
}

// Attempt is the platform's part of sending one message.
type Attempt struct {
	// Transmit paces and sends the message.
	Transmit func(ctx context.Context) (Sent, error)
	// Unknown is the platform's "may or may not have been sent" error: the
	// message is reported unknown and its "sending" record stays.
	Unknown error
	// Refusals are the errors that refuse a message for good: recorded
	// failed, never tried again.
	Refusals []error
	// Refused runs before a refusal is recorded (a blocked bot becomes an
	// opt-out); nil: nothing.
	Refused func(ctx context.Context, err error)
}

// Key is where message id's record is.
func (o *Outbox) Key(id string) string { return o.Prefix + "out/" + id }

func (o *Outbox) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Outbox) reject(err error) error {
	if o.Reject != nil {
		return o.Reject(err)
	}
	return fmt.Errorf("%w: %w", campaign.ErrRejected, err)
}

// Send sends m (its To already the platform's address) once: a message
// already sent returns nil, one refused before returns the refusal again,
// one whose send was cut short is reported unknown (or sent again with
// Resend). A refusal for good returns an error wrapping
// campaign.ErrRejected; any other error removes the record, so the
// campaign may try again once the admin fixed the cause.
func (o *Outbox) Send(ctx context.Context, m message.Outbound, a Attempt) error {
	key := o.Key(m.ID)
	var prev Record
	fresh := false
	err := o.Store.Update(func(txn *store.Txn) error {
		prev, fresh = Record{}, false
		if err := store.GetJSON(txn, key, &prev); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		fresh = true
		return store.SetJSON(txn, key, Record{State: StateSending})
	})
	if err != nil {
		name := o.ErrName
		if name == "" {
			name = o.Name
		}
		return fmt.Errorf("%s: record message %s: %w", name, m.ID, err)
	}
	if !fresh {
		switch prev.State {
		case StateSent:
			return nil
		case StateFailed:
			return fmt.Errorf("%w: %s", campaign.ErrRejected, prev.Reason)
		}
		if !o.Resend {
			return o.report(ctx, m, message.Unknown, "", "interrupted while sending to "+o.Service+" (not resent)")
		}
	} else if o.Journal != nil {
		if err := o.Journal.Outbound(ctx, o.Kind, m, ""); err != nil {
			o.Log.Warn(o.Name+": message log: outbound not recorded", "id", m.ID, "err", err)
		}
	}
	sent, err := a.Transmit(ctx)
	switch {
	case err == nil:
		o.finish(key, sent.Record, sent.Also)
		o.Health.addSent()
		return o.report(ctx, m, message.Sent, sent.ChannelID, "")
	case a.Unknown != nil && errors.Is(err, a.Unknown):
		return o.report(ctx, m, message.Unknown, "", err.Error())
	case isAny(err, a.Refusals):
		if a.Refused != nil {
			a.Refused(ctx, err)
		}
		o.finish(key, Record{State: StateFailed, Reason: err.Error()}, nil)
		o.journalFailed(ctx, m, err)
		return o.reject(err)
	default:
		_ = o.Store.Update(func(txn *store.Txn) error { return txn.Delete([]byte(key)) })
		o.Health.Err(err)
		return err
	}
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// Refuse fails a message before it reaches the platform, with the reason
// in the message log.
func (o *Outbox) Refuse(ctx context.Context, m message.Outbound, err error) error {
	if o.Journal != nil {
		if jerr := o.Journal.Outbound(ctx, o.Kind, m, ""); jerr == nil {
			o.journalFailed(ctx, m, err)
		}
	}
	return o.reject(err)
}

func (o *Outbox) finish(key string, rec any, also map[string]any) {
	err := o.Store.Update(func(txn *store.Txn) error {
		for k, v := range also {
			if err := store.SetJSON(txn, k, v); err != nil {
				return err
			}
		}
		return store.SetJSON(txn, key, rec)
	})
	if err != nil {
		o.Log.Error(o.Name+": outcome not recorded", "key", key, "err", err)
	}
}

func (o *Outbox) journalFailed(ctx context.Context, m message.Outbound, err error) {
	if o.Journal == nil {
		return
	}
	ev := message.StatusEvent{ID: m.ID, Ref: m.Ref, Status: message.Failed, Reason: err.Error(), At: o.now()}
	if o.Code != nil {
		ev.Code = o.Code(err)
	}
	if jerr := o.Journal.Status(ctx, ev); jerr != nil {
		o.Log.Warn(o.Name+": message log: failure not recorded", "id", m.ID, "err", jerr)
	}
}

// report hands the outcome to the status sink; a sink that does not take
// it is no error of the send's.
func (o *Outbox) report(ctx context.Context, m message.Outbound, st message.Status, channelID, reason string) error {
	if o.Statuses == nil {
		return nil
	}
	ev := message.StatusEvent{ID: m.ID, Ref: m.Ref, Status: st, ChannelID: channelID, Reason: reason, At: o.now()}
	if o.Sender != nil {
		ev.Sender = o.Sender()
	}
	if err := o.Statuses.HandleStatus(ctx, ev); err != nil {
		o.Log.Debug(o.Name+": status not taken", "id", m.ID, "status", st, "err", err)
	}
	return nil
}

// CheckText refuses for good (campaign.ErrRejected) an empty text and one
// longer than max, length measured as the platform counts it; tooLong is
// the platform's error for it.
func CheckText(text string, length, max int, tooLong error) error {
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("%w: the message text is empty", campaign.ErrRejected)
	}
	if length > max {
		return fmt.Errorf("%w: %w (%d)", campaign.ErrRejected, tooLong, length)
	}
	return nil
}

// NumberID is a numeric platform message id as status events carry it:
// "" for 0 (none).
func NumberID(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}
