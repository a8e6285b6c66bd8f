package smspool

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

var errNoInboundSink = errors.New("no inbound sink configured")

// outboxBatch bounds one read of the outbox (and one delete transaction).
const outboxBatch = 128

// runInbound hands stored inbound messages to the InboundSink, oldest
// first, and deletes each batch once taken. A refused message is offered
// again after RetryBackoff; one refused inboundAttempts times in a row
// goes to the back of the line so it does not hold back the others. None
// is ever dropped. (Inbound volume is low, so the outbox is simply read
// from the store.)
func (p *Pool) runInbound(ctx context.Context) {
	failures := map[string]int{}
	for {
		err := p.drainInbound(ctx, failures)
		var retry <-chan time.Time
		var t *time.Timer
		if err != nil && ctx.Err() == nil {
			p.log.Warn("inbound SMS consumer failed; offering the message again", "err", err)
			t = time.NewTimer(p.cfg.RetryBackoff)
			retry = t.C
		}
		select {
		case <-ctx.Done():
		case <-p.inWake:
		case <-retry:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// inboundAttempts: refusals in a row before a message goes to the back.
const inboundAttempts = 3

func (p *Pool) drainInbound(ctx context.Context, failures map[string]int) error {
	type entry struct {
		key string
		val []byte
	}
	for ctx.Err() == nil {
		var batch []entry
		err := p.st.View(func(txn *store.Txn) error {
			return store.Each(txn, keyInMsg, func(k string, v []byte) error {
				batch = append(batch, entry{k, append([]byte(nil), v...)})
				if len(batch) == outboxBatch {
					return io.EOF // stops Each without an error
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		done := 0
		var derr error
		for _, e := range batch {
			if derr = p.deliverInbound(ctx, e.val); derr != nil {
				break
			}
			delete(failures, e.key)
			done++
		}
		err = p.st.Update(func(txn *store.Txn) error {
			for _, e := range batch[:done] {
				if err := txn.Delete([]byte(e.key)); err != nil {
					return err
				}
			}
			if derr == nil {
				return nil
			}
			e := batch[done]
			if failures[e.key]+1 < inboundAttempts {
				return nil
			}
			// To the back of the line, under a new key.
			if err := txn.Delete([]byte(e.key)); err != nil {
				return err
			}
			return txn.Set([]byte(seqKey(keyInMsg, p.nextSeq())), e.val)
		})
		if err != nil {
			return err
		}
		if derr != nil {
			failures[batch[done].key]++
			if failures[batch[done].key] >= inboundAttempts {
				delete(failures, batch[done].key)
			}
			return derr
		}
	}
	return ctx.Err()
}

func (p *Pool) deliverInbound(ctx context.Context, b []byte) error {
	var in message.Inbound
	if err := json.Unmarshal(b, &in); err != nil {
		p.log.Error("damaged inbound SMS record dropped", "err", err)
		return nil
	}
	if p.cfg.InboundSink == nil {
		return errNoInboundSink
	}
	return p.cfg.InboundSink.Inbound(ctx, in)
}
