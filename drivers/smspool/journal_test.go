package smspool

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// journal records what the pool hands it, and can refuse.
type journal struct {
	mu   sync.Mutex
	got  []message.Outbound
	fail error
}

func (j *journal) Queued(txn *store.Txn, kind message.Kind, msg message.Outbound, _ string, _ time.Time) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	if kind != message.SMS || txn == nil {
		return errors.New("journal: wrong kind or no transaction")
	}
	j.got = append(j.got, msg)
	return nil
}

// Every accepted SMS reaches the journal once, with its channel filled in;
// a journal that cannot record fails the Enqueue, so nothing is queued
// unrecorded.
func TestEnqueueJournalsOnce(t *testing.T) {
	t.Parallel()
	j := &journal{}
	h := newHarness(t, Config{Journal: j})
	ctx := context.Background()
	m := message.Outbound{ID: "m1", To: "+4915112345678", Text: "hello"}
	for range 3 {
		if err := h.pool.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.pool.Enqueue(ctx, message.Outbound{ID: "bad", To: "not a number", Text: "x"}); err == nil {
		t.Fatal("invalid message accepted")
	}
	j.mu.Lock()
	if len(j.got) != 1 || j.got[0].ID != "m1" || j.got[0].Channel != "main" {
		t.Fatalf("journal got %+v, want m1 on channel main once", j.got)
	}
	j.fail = errors.New("store full")
	j.mu.Unlock()
	if err := h.pool.Enqueue(ctx, message.Outbound{ID: "m2", To: "+4915112345678", Text: "x"}); err == nil {
		t.Fatal("Enqueue succeeded although the journal refused")
	}
	if _, err := h.pool.Status("m2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("m2 queued without a journal entry: %v", err)
	}
}

// EnqueueTxn stores the message (and its journal entry) in the caller's
// transaction: nothing is queued when that transaction does not commit,
// and the message reaches a SIM only once committed is called. It is
// idempotent by ID and checks the message as Enqueue does.
func TestEnqueueTxn(t *testing.T) {
	t.Parallel()
	j := &journal{}
	h := newHarness(t, Config{Journal: j, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	a := newFakeModem("a")
	h.attach(a)
	h.run()
	m := message.Outbound{ID: "t1", To: "+4915112345678", Text: "hello"}
	abort := errors.New("abort")
	err := h.st.Update(func(txn *store.Txn) error {
		if _, err := h.pool.EnqueueTxn(txn, m); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		t.Fatal(err)
	}
	if _, err := h.pool.Status("t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stored although the transaction did not commit: %v", err)
	}
	var committed func()
	if err := h.st.Update(func(txn *store.Txn) error {
		var err error
		committed, err = h.pool.EnqueueTxn(txn, m)
		return err
	}); err != nil || committed == nil {
		t.Fatalf("EnqueueTxn: %v, committed %v", err, committed != nil)
	}
	if got, err := h.pool.Status("t1"); err != nil || got.Status != message.Queued || got.Channel != "main" {
		t.Fatalf("stored: %+v %v", got, err)
	}
	select {
	case <-a.started:
		t.Fatal("sent before committed was called")
	case <-time.After(50 * time.Millisecond):
	}
	committed()
	h.ev.waitFor(t, "t1 sent", func(st []message.StatusEvent, _ []message.Inbound) bool {
		return slices.Equal(trail(st, "t1"), []string{"sending@a", "sent@a"})
	})
	if err := h.st.Update(func(txn *store.Txn) error {
		again, err := h.pool.EnqueueTxn(txn, m)
		if again != nil {
			t.Error("an ID the pool has was queued again")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.Update(func(txn *store.Txn) error {
		_, err := h.pool.EnqueueTxn(txn, message.Outbound{ID: "bad", To: "not a number", Text: "x"})
		return err
	}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid message: %v", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if n := len(j.got); n != 2 { // the aborted attempt's and the committed one's
		t.Errorf("journal called %d times, want 2", n)
	}
}
