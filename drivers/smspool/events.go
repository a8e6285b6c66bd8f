package smspool

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Status events take an outbox in the store (smsq/events/<seq>) so none is
// lost, but are handed to the Sink from memory: scanning the outbox for
// every event would walk over the tombstones of all delivered ones, which
// grows with the campaign (quadratic work on a Raspberry Pi).
//
// Order: an event's seq is taken inside the transaction that stores it.
// Transactions commit in any order, so an event is handed over only when no
// transaction holding a smaller seq is still open. Two events of one
// message are always in seq order (the second transaction reads what the
// first one wrote), so the Sink sees each message's changes in order.

type queuedEvent struct {
	seq uint64
	ev  message.StatusEvent
	// volatile: not in the outbox (a "sending" event, see addEvent), so
	// nothing to delete once handed over.
	volatile bool
}

type eventQueue struct {
	mu       sync.Mutex
	inflight map[uint64]struct{} // seqs of transactions not finished yet
	ready    []queuedEvent       // committed, not yet handed over; by seq
	// queued counts the events of each message in flight or ready: while
	// one is, the message's later events take the queue too (not a
	// TxnSink inside the transaction), so the Sink sees them in order.
	queued map[string]int
	wake   chan struct{}
}

func newEventQueue() *eventQueue {
	return &eventQueue{inflight: map[uint64]struct{}{}, queued: map[string]int{}, wake: make(chan struct{}, 1)}
}

// tx is a store transaction that may add status events.
type tx struct {
	*store.Txn
	p   *Pool
	evs []queuedEvent
	// dones: what a TxnSink asked to hear once the transaction committed
	// or did not (events it took in this attempt).
	dones []func(committed bool)
}

// update runs fn in a transaction whose status events reach the Sink once
// it committed (and never if it did not).
func (p *Pool) update(fn func(t *tx) error) error {
	return p.updateWith(p.st.Update, fn)
}

// updateWith is update committing through commit (one of the store's
// Update variants).
func (p *Pool) updateWith(commit func(func(*store.Txn) error) error, fn func(t *tx) error) error {
	t := &tx{p: p}
	err := commit(func(txn *store.Txn) error {
		t.finish(false) // a previous attempt lost a conflict
		t.Txn = txn
		return fn(t)
	})
	t.finish(err == nil)
	return err
}

// finish ends an attempt of t's transaction: its events reach the Sink
// (committed) or are forgotten.
func (t *tx) finish(committed bool) {
	t.p.events.release(t.evs, committed)
	for _, d := range t.dones {
		d(committed)
	}
	t.evs, t.dones = nil, nil
}

// addEvent stores the status of r in the outbox, in this transaction.
func (t *tx) addEvent(r *record, now time.Time) error {
	p := t.p
	if p.cfg.Sink == nil {
		return nil
	}
	ev := message.StatusEvent{ID: r.Msg.ID, Ref: r.Msg.Ref, Status: r.Status, Sender: r.SIM,
		Reason: r.Reason, ReasonCode: r.ReasonCode, Code: r.Code, Retryable: r.Retryable, At: now}
	if len(r.Parts) > 0 {
		mrs := make([]string, len(r.Parts))
		for i, pt := range r.Parts {
			mrs[i] = strconv.Itoa(pt.MR)
		}
		ev.ChannelID = "mr:" + strings.Join(mrs, ",")
	}
	if ts, ok := p.cfg.Sink.(TxnSink); ok {
		if ctx := p.txnCtx.Load(); ctx != nil && !p.events.has(ev.ID) {
			taken, done, err := ts.StatusTxn(*ctx, t.Txn, ev)
			if err != nil {
				return err
			}
			if taken {
				if done != nil {
					t.dones = append(t.dones, done)
				}
				return nil
			}
		}
	}
	seq := p.events.alloc(p, ev.ID)
	if r.Status == message.Sending {
		// Handed over from memory only: every "sending" is followed by
		// an event that is stored (sent, failed, unknown, or queued
		// again; after a crash the restart marks the message unknown),
		// and a Sink never moves a message backwards, so losing this one
		// in a crash loses nothing the Sink needs. That saves the
		// outbox write and its later delete for every SMS.
		t.evs = append(t.evs, queuedEvent{seq: seq, ev: ev, volatile: true})
		return nil
	}
	t.evs = append(t.evs, queuedEvent{seq: seq, ev: ev})
	return store.SetJSONFast(t.Txn, seqKey(keyEvents, seq), ev)
}

// alloc takes a seq for an event of message id and marks it in flight,
// atomically: every seq handed out before is in flight or finished when a
// later one exists.
func (q *eventQueue) alloc(p *Pool, id string) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	seq := p.nextSeq()
	q.inflight[seq] = struct{}{}
	q.queued[id]++
	return seq
}

// has reports whether an event of message id is in flight or waiting.
func (q *eventQueue) has(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued[id] > 0
}

// forgetLocked drops one event of message id from queued. q.mu is held.
func (q *eventQueue) forgetLocked(id string) {
	if q.queued[id]--; q.queued[id] <= 0 {
		delete(q.queued, id)
	}
}

// release ends the transaction of evs: committed ones become ready.
func (q *eventQueue) release(evs []queuedEvent, committed bool) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	for _, e := range evs {
		delete(q.inflight, e.seq)
		if !committed {
			q.forgetLocked(e.ev.ID)
			continue
		}
		i, _ := slices.BinarySearchFunc(q.ready, e.seq, func(a queuedEvent, s uint64) int { return cmpSeq(a.seq, s) })
		q.ready = slices.Insert(q.ready, i, e)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// load puts the events a previous run left in the outbox first in line.
func (q *eventQueue) load(st *store.Store) error {
	var evs []queuedEvent
	err := st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyEvents, func(k string, v []byte) error {
			seq, err := parseSeqKey(keyEvents, k)
			if err != nil {
				return nil // not ours
			}
			var ev message.StatusEvent
			if err := json.Unmarshal(v, &ev); err != nil {
				return nil // damaged: delivered never; the key stays for inspection
			}
			evs = append(evs, queuedEvent{seq: seq, ev: ev})
			return nil
		})
	})
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.ready = append(evs, q.ready...)
	for _, e := range evs {
		q.queued[e.ev.ID]++
	}
	q.mu.Unlock()
	return nil
}

// next returns up to n events that may be handed over now, oldest first.
func (q *eventQueue) next(n int) []queuedEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	var floor uint64 = 1<<64 - 1
	for s := range q.inflight {
		floor = min(floor, s)
	}
	k := 0
	for k < len(q.ready) && k < n && q.ready[k].seq < floor {
		k++
	}
	return slices.Clone(q.ready[:k])
}

// done drops the first k ready events (handed over). New events cannot
// have slipped in front of them: their seqs were in flight when next ran.
func (q *eventQueue) done(k int) {
	q.mu.Lock()
	for _, e := range q.ready[:k] {
		q.forgetLocked(e.ev.ID)
	}
	q.ready = slices.Delete(q.ready, 0, k)
	q.mu.Unlock()
}

// runEvents hands status events to the Sink until ctx ends.
//
// Handed-over events leave the outbox in deferred group deletes (at most
// every eventDeleteDelay, or eventDeleteBatch at once, and when Run ends):
// with sync_writes a delete per event would cost an fsync per event.
// After a crash the events of the last moments are offered again, which
// the Sink's contract (idempotent by ID and status) allows.
func (p *Pool) runEvents(ctx context.Context) {
	q := p.events
	var lastFailed uint64
	failures := 0
	var handed []uint64 // delivered, not yet deleted from the store
	var flush <-chan time.Time
	var flushT *time.Timer
	deleteHanded := func() {
		if len(handed) == 0 {
			return
		}
		// No sync of its own: a delete lost in a power cut only offers
		// the events again.
		derr := p.st.UpdateNoSync(func(txn *store.Txn) error {
			for _, seq := range handed {
				if err := txn.Delete([]byte(seqKey(keyEvents, seq))); err != nil {
					return err
				}
			}
			return nil
		})
		if derr != nil {
			// Offered again after a restart: the Sink is idempotent.
			p.log.Warn("cannot remove delivered SMS status events from the outbox", "err", derr)
		}
		handed = handed[:0]
		if flushT != nil {
			flushT.Stop()
			flushT, flush = nil, nil
		}
	}
	defer deleteHanded()
	// The Sink may write what it makes of an event without waiting for
	// the sync (store.DeferSync): the event leaves the outbox only by a
	// later commit, and a sync that makes that delete durable makes the
	// Sink's earlier writes durable too. Lost together, the event is
	// offered again.
	sinkCtx := store.DeferSync(ctx)
	var evs []message.StatusEvent
	for {
		batch := q.next(outboxBatch)
		delivered, err := p.handOver(sinkCtx, batch, &evs)
		if delivered > 0 {
			for _, e := range batch[:delivered] {
				if !e.volatile {
					handed = append(handed, e.seq)
				}
			}
			q.done(delivered)
			if len(handed) >= eventDeleteBatch {
				deleteHanded()
			} else if flushT == nil && len(handed) > 0 {
				flushT = time.NewTimer(eventDeleteDelay)
				flush = flushT.C
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failed := batch[delivered]
			if failed.seq != lastFailed {
				lastFailed, failures = failed.seq, 0
			}
			failures++
			if failures >= sinkAttempts {
				// One event the consumer never takes must not hold back all
				// later ones for ever.
				p.log.Error("SMS status event dropped: the consumer refused it every time",
					"id", failed.ev.ID, "status", failed.ev.Status, "attempts", failures, "err", err)
				p.dropEvent(failed.seq)
				q.done(1)
				continue
			}
			p.log.Warn("SMS status consumer failed; offering the event again", "id", failed.ev.ID, "err", err)
			deleteHanded()
			if !sleepCtx(ctx, p.cfg.RetryBackoff) {
				return
			}
			continue
		}
		if len(batch) == outboxBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-flush:
			flushT, flush = nil, nil
			deleteHanded()
		}
	}
}

// handOver gives batch to the Sink, all at once when it takes batches,
// and says how many of it, from the first on, it took. evs is scratch.
func (p *Pool) handOver(ctx context.Context, batch []queuedEvent, evs *[]message.StatusEvent) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	if bs, ok := p.cfg.Sink.(BatchSink); ok && len(batch) > 1 {
		*evs = (*evs)[:0]
		for _, e := range batch {
			*evs = append(*evs, e.ev)
		}
		n, err := bs.StatusBatch(ctx, *evs)
		clear(*evs) // no references kept between batches
		if n > len(batch) {
			n = len(batch)
		}
		if n < len(batch) && err == nil {
			err = errors.New("the consumer took only part of a batch of status events")
		}
		return n, err
	}
	for i, e := range batch {
		if err := p.cfg.Sink.Status(ctx, e.ev); err != nil {
			return i, err
		}
	}
	return len(batch), nil
}

// Deferred deletes of handed-over status events (see runEvents).
const (
	eventDeleteDelay = 200 * time.Millisecond
	eventDeleteBatch = 256
)

// sinkAttempts is how often one status event is offered before it is
// dropped (about 100 s with the default RetryBackoff).
const sinkAttempts = 20

func (p *Pool) dropEvent(seq uint64) {
	if err := p.st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(seqKey(keyEvents, seq))) }); err != nil {
		p.log.Warn("cannot remove a dropped SMS status event from the outbox", "err", err)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
