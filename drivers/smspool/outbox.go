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

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// outboxBatch bounds one read of the outbox (and one delete transaction).
const outboxBatch = 128

// runOutbox hands the entries under prefix to deliver, oldest first, and
// deletes each batch once delivered. A deliver error stops the batch; it is
// retried after RetryBackoff.
func (p *Pool) runOutbox(ctx context.Context, prefix string, wake <-chan struct{}, deliver func(context.Context, []byte) error) {
	for {
		err := p.drainOutbox(ctx, prefix, deliver)
		var retry <-chan time.Time
		var t *time.Timer
		if err != nil && ctx.Err() == nil {
			p.log.Warn("cannot hand over SMS events; retrying", "outbox", prefix, "err", err)
			t = time.NewTimer(p.cfg.RetryBackoff)
			retry = t.C
		}
		select {
		case <-ctx.Done():
		case <-wake:
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

func (p *Pool) drainOutbox(ctx context.Context, prefix string, deliver func(context.Context, []byte) error) error {
	type entry struct {
		key []byte
		val []byte
	}
	for ctx.Err() == nil {
		var batch []entry
		err := p.st.View(func(txn *store.Txn) error {
			return store.Each(txn, prefix, func(k string, v []byte) error {
				batch = append(batch, entry{[]byte(k), append([]byte(nil), v...)})
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
			if derr = deliver(ctx, e.val); derr != nil {
				break
			}
			done++
		}
		if done > 0 {
			if err := p.st.Update(func(txn *store.Txn) error {
				for _, e := range batch[:done] {
					if err := txn.Delete(e.key); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if derr != nil {
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
