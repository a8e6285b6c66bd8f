package session

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// An extension's reply is stored for sending in the same transaction as
// its chat-log entry (key keyPending), so FromExtension can return as
// soon as that one commit is done: the channel takes it afterwards, and a
// restart hands over what was stored but not yet taken. Channels are
// idempotent by message ID (the SMS pool and the WhatsApp channel both
// keep records by ID), so a reply handed over twice goes out once.

const keyPending = "session/send/" // + outbound ID → pendingSend

// ErrBusy: the reply was not stored because the caller gave up waiting
// (the Gate was closed first); nothing will be sent, it may be retried.
var ErrBusy = errors.New("pbxgate is busy: the reply was not taken")

// replyWait is how long FromExtension waits for the channel to take a
// stored reply, so that a channel's immediate refusal (no SIM for the
// number) is still returned to the extension. After it the reply is sent
// in the background; it stays stored until the channel took it.
const replyWait = 100 * time.Millisecond

// handedFlush is how long the records of replies the channels took may
// wait for a batch of replies to remove them with.
const handedFlush = time.Second

// sendTimeout bounds one background hand-over to a channel.
const sendTimeout = 10 * time.Minute

type pendingSend struct {
	Session string           `json:"session"`
	Seq     int              `json:"seq"`
	Out     message.Outbound `json:"out"`
}

// Gate lets the caller of FromExtension stop waiting without doubt about
// the outcome: FromExtension enters the gate right before it stores the
// reply; a caller that closes it first knows nothing was stored (and
// FromExtension returns ErrBusy), a caller that cannot close it knows the
// store write has begun and waits for its result.
type Gate struct{ state atomic.Int32 }

const (
	gateOpen int32 = iota
	gateEntered
	gateClosed
)

// Close closes the gate unless FromExtension already entered it; it
// reports whether it did.
func (g *Gate) Close() bool { return g.state.CompareAndSwap(gateOpen, gateClosed) }

func (g *Gate) enter() bool { return g.state.CompareAndSwap(gateOpen, gateEntered) }

type gateKey struct{}

// WithGate attaches g to ctx for FromExtension.
func WithGate(ctx context.Context, g *Gate) context.Context {
	return context.WithValue(ctx, gateKey{}, g)
}

func gateOf(ctx context.Context) *Gate {
	g, _ := ctx.Value(gateKey{}).(*Gate)
	return g
}

// mayStore reports whether FromExtension may still store (ctx alive and
// the gate, if any, entered).
func mayStore(ctx context.Context) error {
	if g := gateOf(ctx); g != nil {
		if !g.enter() {
			return ErrBusy
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return nil
}

// gaveUp reports whether the caller already closed the gate.
func gaveUp(ctx context.Context) bool {
	g := gateOf(ctx)
	return g != nil && g.state.Load() == gateClosed
}

func putPending(txn *store.Txn, c *change) error {
	if !c.pending {
		return nil
	}
	for _, p := range c.sends {
		if err := store.SetJSON(txn, keyPending+p.out.ID, pendingSend{Session: p.session, Seq: p.seq, Out: p.out}); err != nil {
			return err
		}
	}
	return nil
}

// sendOut hands out (entry seq of session) to sender; an IDSender's id
// of the message (the wamid) is kept on the entry, so a contact's quote
// of it is found.
func (m *Manager) sendOut(ctx context.Context, sender Sender, out message.Outbound, session string, seq int) error {
	ids, ok := sender.(IDSender)
	if !ok {
		return sender.Send(ctx, out)
	}
	chID, err := ids.SendID(ctx, out)
	if err == nil && chID != "" {
		if err := m.setEntryChannelID(session, seq, chID); err != nil {
			m.log.Warn("reply sent, its channel id not kept", "session", session, "err", err)
		}
	}
	return err
}

// handOver gives a stored reply to its channel in the background and
// returns a channel that yields the channel's answer. The hand-over
// record is removed once the channel took the message or refused it.
func (m *Manager) handOver(p pendingSend, sender Sender) <-chan error {
	done := make(chan error, 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.baseCtx(), sendTimeout)
		defer cancel()
		err := m.sendOut(ctx, sender, p.Out, p.Session, p.Seq)
		if err != nil && ctx.Err() != nil {
			// Shutting down or timed out: stays stored for the next start.
			done <- err
			return
		}
		if err != nil {
			m.m.messages.WithLabelValues("out_failed").Inc()
			m.setEntryStatus(p.Session, p.Seq, string(message.Failed), err.Error(), message.ReasonOf(err), "")
			m.log.Warn("reply refused by its channel", "session", p.Session, "channel", p.Out.Channel, "err", err)
		} else {
			m.m.messages.WithLabelValues(Out).Inc()
		}
		done <- err
		// The channel has it (in its own store): the hand-over record goes
		// with the next batch of replies, or within handedFlush. A crash
		// before that hands it over again, which the channel recognises by
		// its ID (it keeps its records for days).
		m.replyMu.Lock()
		m.handed = append(m.handed, p.Out.ID)
		first := len(m.handed) == 1
		m.replyMu.Unlock()
		if first {
			time.AfterFunc(handedFlush, m.flushHanded)
		}
	}()
	return done
}

func (m *Manager) baseCtx() context.Context {
	if c := m.runCtx.Load(); c != nil {
		return *c
	}
	return context.Background()
}

// resumePending hands over the replies stored but not taken before a
// restart.
func (m *Manager) resumePending() error {
	var ps []pendingSend
	err := m.st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyPending, func(_ string, val []byte) error {
			var p pendingSend
			if err := jsonUnmarshal(val, &p); err != nil {
				return err
			}
			ps = append(ps, p)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load stored replies: %w", err)
	}
	for _, p := range ps {
		ch := m.chans[p.Out.Channel]
		if ch == nil {
			m.log.Error("stored reply for a channel no longer configured; not sent", "id", p.Out.ID, "channel", p.Out.Channel)
			continue
		}
		m.handOver(p, ch.Sender)
	}
	return nil
}

// takeHanded returns the IDs whose hand-over records are to be removed.
func (m *Manager) takeHanded() []string {
	m.replyMu.Lock()
	defer m.replyMu.Unlock()
	ids := m.handed
	m.handed = nil
	return ids
}

// putBackHanded keeps IDs whose removal failed for the next attempt.
func (m *Manager) putBackHanded(ids []string) {
	m.replyMu.Lock()
	m.handed = append(m.handed, ids...)
	m.replyMu.Unlock()
}

func deleteHanded(txn *store.Txn, ids []string) error {
	for _, id := range ids {
		if err := txn.Delete([]byte(keyPending + id)); err != nil {
			return err
		}
	}
	return nil
}

// flushHanded removes the hand-over records no batch of replies took
// along.
func (m *Manager) flushHanded() {
	ids := m.takeHanded()
	if len(ids) == 0 {
		return
	}
	err := m.st.Update(func(txn *store.Txn) error { return deleteHanded(txn, ids) })
	switch {
	case errors.Is(err, store.ErrClosed):
		// Shut down: they are handed over again at the next start.
	case err != nil:
		m.log.Error("remove hand-over records", "n", len(ids), "err", err)
		m.putBackHanded(ids)
		time.AfterFunc(handedFlush, m.flushHanded)
	}
}
