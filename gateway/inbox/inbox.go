// Package inbox is the one persistent inbox of every channel. A driver
// hands each complete inbound message to Accept, which stores it (and
// syncs it to disk) before the driver acknowledges it to its network —
// the modem deletes the SMS from the SIM, the webhook answers Meta 200 —
// and drops a message it already has (same channel, same channel message
// id) as a duplicate. Run hands the stored messages to the registered
// Consumer in the order they were accepted, at least once: a message is
// deleted only after the consumer took it, so after a crash or restart it
// is offered again, in order.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Store keys:
//
//	inbox/q/<seq>              message.Inbound not yet taken by the consumer
//	inbox/seen/<channel>/<id>  accepted already (de-duplication, TTL)
//	inbox/bad/<seq>            a record that could not be read, kept for inspection
const (
	keyQueue = "inbox/q/"
	keySeen  = "inbox/seen/"
	keyBad   = "inbox/bad/"
)

// ErrInvalid: the message lacks what de-duplication needs.
var ErrInvalid = errors.New("inbound message needs a channel and a channel message id")

// ErrNoConsumer: Run was called before Register.
var ErrNoConsumer = errors.New("inbox: no consumer registered")

// Consumer takes the inbox's messages, one at a time, in order, at least
// once (by channel and ID). An error makes the inbox offer the same message
// again after Config.RetryBackoff; after Config.Attempts refusals in a row
// it goes to the back of the line so it does not hold the others back. No
// message is ever dropped.
type Consumer interface {
	Inbound(ctx context.Context, in message.Inbound) error
}

// ConsumerFunc adapts a function to Consumer.
type ConsumerFunc func(ctx context.Context, in message.Inbound) error

// Inbound calls f.
func (f ConsumerFunc) Inbound(ctx context.Context, in message.Inbound) error { return f(ctx, in) }

// Config configures an Inbox. Store is required.
type Config struct {
	Store  *store.Store
	Logger *slog.Logger
	// SeenTTL is how long an accepted message's channel and ID are
	// remembered to drop duplicates. Default 8 days: Meta retries a webhook
	// for up to 7 days.
	SeenTTL time.Duration
	// RetryBackoff is the pause after the consumer refused a message.
	// Default 5 s.
	RetryBackoff time.Duration
	// Attempts is how many refusals in a row send a message to the back
	// of the line. Default 3.
	Attempts int
}

// batchSize bounds one read of the queue and one delete transaction.
const batchSize = 128

// Inbox is the persistent inbox. Build it with New, Register its consumer,
// then Run it.
type Inbox struct {
	cfg  Config
	st   *store.Store
	log  *slog.Logger
	wake chan struct{}

	// mu makes key order commit order: keys are handed out and committed
	// under it, so Run can remember where it stopped.
	mu   sync.Mutex
	last uint64

	cmu      sync.Mutex
	consumer Consumer
}

// New opens the inbox on cfg.Store; messages stored by an earlier run are
// kept and offered first.
func New(cfg Config) (*Inbox, error) {
	if cfg.Store == nil {
		return nil, errors.New("inbox: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SeenTTL <= 0 {
		cfg.SeenTTL = 8 * 24 * time.Hour
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 5 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	b := &Inbox{cfg: cfg, st: cfg.Store, log: cfg.Logger, wake: make(chan struct{}, 1)}
	var last string
	if err := b.st.View(func(txn *store.Txn) error { last = store.Last(txn, keyQueue); return nil }); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	if last != "" {
		n, err := strconv.ParseUint(last[len(keyQueue):], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("inbox: damaged key %q: %w", last, err)
		}
		b.last = n
	}
	return b, nil
}

// Register makes c the consumer Run hands the messages to. It is called
// once, while the daemon wires its parts, before Run.
func (b *Inbox) Register(c Consumer) error {
	b.cmu.Lock()
	defer b.cmu.Unlock()
	if b.consumer != nil {
		return errors.New("inbox: a consumer is registered already")
	}
	b.consumer = c
	return nil
}

func queueKey(n uint64) string { return fmt.Sprintf("%s%020d", keyQueue, n) }

func seenKey(channel, id string) string {
	return keySeen + url.PathEscape(channel) + "/" + url.PathEscape(id)
}

// nextLocked hands out the next key: time-ordered, so keys stay increasing
// across restarts even if the last ones were taken already.
func (b *Inbox) nextLocked() uint64 {
	n := max(uint64(time.Now().UnixNano()), b.last+1)
	b.last = n
	return n
}

// Accept stores in — unless a message with its channel and ID was accepted
// already — and returns nil only once it is on disk: then, and only then,
// may the driver acknowledge it.
func (b *Inbox) Accept(ctx context.Context, in message.Inbound) error {
	if in.Channel == "" || in.ID == "" {
		return fmt.Errorf("%w (channel %q, id %q)", ErrInvalid, in.Channel, in.ID)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	seen := seenKey(in.Channel, in.ID)
	added := false
	b.mu.Lock()
	n := b.last
	err := b.st.Update(func(txn *store.Txn) error {
		added = false
		if dup, err := store.Exists(txn, seen); err != nil || dup {
			return err
		}
		if err := store.SetTTL(txn, seen, nil, b.cfg.SeenTTL); err != nil {
			return err
		}
		b.last = n // a retried transaction takes a key again
		added = true
		return store.SetJSON(txn, queueKey(b.nextLocked()), in)
	})
	if err != nil {
		b.last = n
	}
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("inbox: store message %s of channel %s: %w", in.ID, in.Channel, err)
	}
	// The driver acknowledges when this returns: make sure the message
	// (or, for a duplicate, the first copy) is on disk even when
	// store.sync_writes is off.
	if err := b.st.Sync(); err != nil {
		return fmt.Errorf("inbox: store message %s of channel %s: %w", in.ID, in.Channel, err)
	}
	if added {
		b.kick()
	}
	return nil
}

func (b *Inbox) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Pending counts the messages the consumer has not taken yet.
func (b *Inbox) Pending() (int, error) {
	n := 0
	err := b.st.View(func(txn *store.Txn) error { n = store.Count(txn, keyQueue); return nil })
	return n, err
}

// Run hands the stored messages to the consumer until ctx ends.
func (b *Inbox) Run(ctx context.Context) error {
	b.cmu.Lock()
	c := b.consumer
	b.cmu.Unlock()
	if c == nil {
		return ErrNoConsumer
	}
	r := &runner{b: b, c: c, failures: map[string]int{}}
	for {
		err := r.drain(ctx)
		var retry <-chan time.Time
		var t *time.Timer
		if err != nil && ctx.Err() == nil {
			b.log.Warn("inbound message not taken; offering it again", "err", err)
			t = time.NewTimer(b.cfg.RetryBackoff)
			retry = t.C
		}
		select {
		case <-ctx.Done():
		case <-b.wake:
		case <-retry:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

type runner struct {
	b        *Inbox
	c        Consumer
	failures map[string]int // refusals in a row, by key
	// cursor: every key up to it was taken. Deleted keys stay behind as
	// tombstones for a while; seeking past them keeps a burst linear.
	cursor string
}

type entry struct {
	key string
	val []byte
}

func (r *runner) drain(ctx context.Context) error {
	b := r.b
	for ctx.Err() == nil {
		var batch []entry
		err := b.st.View(func(txn *store.Txn) error {
			return store.EachFrom(txn, keyQueue, r.cursor, func(k string, v []byte) error {
				batch = append(batch, entry{k, append([]byte(nil), v...)})
				if len(batch) == batchSize {
					return errStop
				}
				return nil
			})
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		done := 0
		var bad []entry
		var derr error
		for _, e := range batch {
			var in message.Inbound
			if err := json.Unmarshal(e.val, &in); err != nil {
				b.log.Error("inbox: unreadable record kept for inspection", "key", e.key, "err", err)
				bad = append(bad, e)
				done++
				continue
			}
			if derr = r.c.Inbound(ctx, in); derr != nil {
				derr = fmt.Errorf("message %s of channel %s: %w", in.ID, in.Channel, derr)
				break
			}
			delete(r.failures, e.key)
			done++
		}
		var failed *entry
		if derr != nil {
			failed = &batch[done]
			r.failures[failed.key]++
		}
		if err := r.commit(batch[:done], bad, failed); err != nil {
			return err
		}
		if done > 0 {
			r.cursor = batch[done-1].key + "\x00"
		}
		if derr != nil {
			return derr
		}
	}
	return ctx.Err()
}

// errStop ends an iteration early.
var errStop = errors.New("stop")

// commit deletes the taken messages, keeps unreadable ones aside and sends
// a message refused too often to the back of the line.
func (r *runner) commit(taken, bad []entry, failed *entry) error {
	b := r.b
	back := failed != nil && r.failures[failed.key] >= b.cfg.Attempts
	if len(taken) == 0 && !back {
		return nil
	}
	var n uint64
	if back {
		b.mu.Lock()
		defer b.mu.Unlock()
		n = b.last
	}
	err := b.st.Update(func(txn *store.Txn) error {
		for _, e := range taken {
			if err := txn.Delete([]byte(e.key)); err != nil {
				return err
			}
		}
		for _, e := range bad {
			if err := txn.Set([]byte(keyBad+e.key[len(keyQueue):]), e.val); err != nil {
				return err
			}
		}
		if !back {
			return nil
		}
		if err := txn.Delete([]byte(failed.key)); err != nil {
			return err
		}
		b.last = n
		return txn.Set([]byte(queueKey(b.nextLocked())), failed.val)
	})
	if err != nil {
		if back {
			b.last = n
		}
		return err
	}
	if back {
		delete(r.failures, failed.key)
		b.log.Warn("inbound message refused repeatedly; moved behind the others", "key", failed.key)
	}
	return nil
}
