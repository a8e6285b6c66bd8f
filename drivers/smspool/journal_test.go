package smspool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

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
