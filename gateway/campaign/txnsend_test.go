package campaign

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// txnChannel is a TxnSender on the engine's store: SendTxn writes the
// message under txnch/<id> in the campaign's transaction, and the message
// counts as handed over (the ledger) only once that transaction committed.
type txnChannel struct {
	*testChannel
	st atomic.Pointer[store.Store]

	mu        sync.Mutex
	inTxn     map[string]uint64 // message ID -> store commits when SendTxn ran
	committed map[string]uint64 // message ID -> store commits when committed ran
	storeErr  error             // SendTxn writes, then fails with it
}

func newTxnChannel(name string, led *ledger) *txnChannel {
	return &txnChannel{testChannel: newTestChannel(name, led), inTxn: map[string]uint64{}, committed: map[string]uint64{}}
}

func (c *txnChannel) TxnStore() *store.Store { return c.st.Load() }

func (c *txnChannel) SendTxn(txn *store.Txn, m message.Outbound) (func(), error) {
	st := c.st.Load()
	c.testChannel.mu.Lock()
	rejected := c.reject[m.To]
	c.testChannel.mu.Unlock()
	if rejected {
		return nil, fmt.Errorf("%w: number %s is barred", ErrRejected, m.To)
	}
	if _, err := txn.Get([]byte("txnch/" + m.ID)); err == nil {
		return nil, nil // idempotent by ID
	}
	if err := txn.Set([]byte("txnch/"+m.ID), []byte(m.Text)); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.storeErr != nil {
		return nil, c.storeErr
	}
	c.inTxn[m.ID] = st.Commits()
	return func() {
		c.mu.Lock()
		c.committed[m.ID] = st.Commits()
		c.mu.Unlock()
		c.led.mu.Lock()
		c.led.to[m.To]++
		c.led.transmitted[m.ID]++
		c.led.mu.Unlock()
	}, nil
}

func (c *txnChannel) stored(t *testing.T, id string) bool {
	t.Helper()
	var ok bool
	err := c.st.Load().View(func(txn *store.Txn) error {
		_, err := txn.Get([]byte("txnch/" + id))
		ok = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// With a TxnSender on the engine's store, a recipient's hand-over is one
// transaction: the channel's write and the recipient stored "sending"
// with AcceptedAt commit together, the channel acts on the message only
// after that commit, and no accepted mark follows. A rejected recipient
// fails in the same transaction.
func TestHandOverInOneTransaction(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTxnChannel("sms-1", led)
	ch.quiet = true // no reports: the recipients stay "sending"
	ev := newEnv(t, "", Config{BatchSize: 3}, ch)
	ch.st.Store(ev.st)
	rs := numbers(7)
	ch.reject[rs[4].Number] = true
	c, err := ev.e.Create(bg, smsSpec("Termine", "sms-1", "now"), rs)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor("every recipient handed over", func() bool { return ev.get(c.ID).Counts == Counts{Sending: 6, Failed: 1} })
	if n := len(ch.sends()); n != 0 {
		t.Errorf("%d Sends, want none (all through SendTxn)", n)
	}
	for _, r := range ev.recipients(c.ID) {
		if r.Number == rs[4].Number {
			if r.Status != RFailed || !strings.Contains(r.Reason, "barred") || ch.stored(t, r.MsgID) {
				t.Errorf("rejected recipient: %+v", r)
			}
			continue
		}
		if r.Status != RSending || r.MsgID == "" || r.AcceptedAt.IsZero() || !r.AcceptedAt.Equal(r.SendingAt) {
			t.Errorf("recipient %d: %+v", r.Seq, r)
			continue
		}
		if !ch.stored(t, r.MsgID) {
			t.Errorf("recipient %d: the channel did not store %s", r.Seq, r.MsgID)
		}
		ch.mu.Lock()
		in, done := ch.inTxn[r.MsgID], ch.committed[r.MsgID]
		ch.mu.Unlock()
		if done != in+1 {
			t.Errorf("recipient %d: channel's write at commit %d, acted on at %d: want the very next commit", r.Seq, in, done)
		}
	}
	for num, n := range led.perNumber() {
		if n != 1 {
			t.Errorf("%s handed over %d times", num, n)
		}
	}
}

// A channel error that is not a rejection fails the transaction: the
// channel's partial write is not stored, the batch stays queued, and the
// campaign stops with the error; Resume then hands everything over once.
func TestHandOverTxnChannelErrorStoresNothing(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTxnChannel("sms-1", led)
	ch.quiet = true
	ch.storeErr = errors.New("value log full")
	ev := newEnv(t, "", Config{BatchSize: 2}, ch)
	ch.st.Store(ev.st)
	c, err := ev.e.Create(bg, smsSpec("Termine", "sms-1", "now"), numbers(4))
	if err != nil {
		t.Fatal(err)
	}
	c = ev.waitFor2(c.ID, func(c Campaign) bool { return c.State == Stopped })
	if !strings.Contains(c.Reason, "value log full") || c.Counts != (Counts{Queued: 4}) {
		t.Fatalf("stopped: %q %+v", c.Reason, c.Counts)
	}
	for _, r := range ev.recipients(c.ID) {
		if r.Status != RQueued || r.MsgID != "" {
			t.Errorf("recipient %d: %+v", r.Seq, r)
		}
		if ch.stored(t, msgID(c.ID, r.Seq, 0)) || ch.stored(t, msgID(c.ID, r.Seq, 1)) {
			t.Errorf("recipient %d: the failed transaction's write was stored", r.Seq)
		}
	}
	ch.mu.Lock()
	ch.storeErr = nil
	ch.mu.Unlock()
	if _, err := ev.e.Resume(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	ev.waitFor("every recipient handed over", func() bool { return ev.get(c.ID).Counts == Counts{Sending: 4} })
	for num, n := range led.perNumber() {
		if n != 1 {
			t.Errorf("%s handed over %d times", num, n)
		}
	}
}
