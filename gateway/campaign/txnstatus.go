package campaign

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/events"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// HandleStatusTxn is HandleStatus inside txn, the transaction in which the
// channel stores the event (events.TxnHandler; the SMS pool's, through the
// router): the recipient's change commits with the pool's record, with no
// transaction, outbox entry and hand-over of its own.
//
// It answers ErrUnknownStatus (wrapped) for a message that is not a
// campaign's, and events.ErrNotInTxn, having written nothing, for what it
// takes only the ordinary way: an SMS fallback's events and withdrawn
// messages (rare, handled by HandleStatus), and any event while the
// engine's writer lock is taken — waiting for it would tie the channel's
// transaction (and the sync its SIM waits for before AT+CMGS) to the
// engine's commit, and the engine may be calling into the channel.
//
// The recipient is written in txn; the campaign's counts change in memory
// only once txn committed (done). Until then save keeps the stale-counts
// marker (see Engine.txnPending): a campaign record stored meanwhile
// carries counts without this change, and a crash then has New recount.
func (e *Engine) HandleStatusTxn(ctx context.Context, txn *store.Txn, ev message.StatusEvent) (func(committed bool), error) {
	if strings.HasSuffix(ev.ID, fallbackSuffix) || (ev.Status == message.Failed && ev.Code == message.CodeWithdrawn) {
		if _, _, _, ok := parseMsgID(strings.TrimSuffix(ev.ID, fallbackSuffix)); !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownStatus, ev.ID)
		}
		return nil, events.ErrNotInTxn
	}
	req, err := e.statusReq(ctx, ev)
	if req == nil {
		return nil, err // not ours, or nothing to store (queued, sending)
	}
	if !e.wmu.TryLock() {
		return nil, events.ErrNotInTxn
	}
	defer e.wmu.Unlock()
	cur := e.camps[req.id]
	if cur == nil {
		return nil, fmt.Errorf("%w: %s (campaign deleted?)", ErrUnknownStatus, ev.ID)
	}
	seq := req.seqs[0]
	key := string(recipKey(req.id, seq))
	var r Recipient
	if err := e.recips.Get(txn, key, &r); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s (recipient deleted?)", ErrUnknownStatus, ev.ID)
		}
		return nil, events.ErrNotInTxn // nothing written; the ordinary way reports it
	}
	old := r.Status
	if !req.fn(cur, &r) {
		return func(committed bool) {
			if committed {
				_ = e.statusDone(ev, req) // req.err is nil: nothing changed
			}
		}, nil
	}
	if err := e.recips.Set(txn, key, &r); err != nil {
		return nil, err
	}
	mark := !e.staleCounts[req.id]
	if mark {
		if err := txn.Set(staleKey(req.id), nil); err != nil {
			return nil, err
		}
	}
	e.txnPending[req.id]++
	now := e.clock.Now().UTC()
	return func(committed bool) {
		e.wmu.Lock()
		if e.txnPending[req.id]--; e.txnPending[req.id] <= 0 {
			delete(e.txnPending, req.id)
		}
		var ch string
		if committed {
			if mark {
				e.staleCounts[req.id] = true
			}
			if cur := e.camps[req.id]; cur != nil {
				c := cur.clone()
				c.Counts.add(old, -1)
				c.Counts.add(r.Status, 1)
				c.UpdatedAt = now
				e.publish(c)
				ch = c.Spec.Channel
			}
		}
		e.wmu.Unlock()
		if !committed {
			return
		}
		e.m.recipients.WithLabelValues(ch, string(r.Status)).Inc()
		req.changed = []Recipient{r}
		_ = e.statusDone(ev, req) // req.err is nil
		// The last channel report completes the campaign.
		e.finish(req.id, false)
	}, nil
}
