package consent_test

import (
	"context"
	"sync"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// bus hands one box's changes to the other box, as the cluster's bucket
// does, and records them.
type bus struct {
	mu   sync.Mutex
	to   *consent.Consent
	seen []consent.Change
}

func (b *bus) Replicate(ctx context.Context, ch consent.Change) {
	b.mu.Lock()
	b.seen = append(b.seen, ch)
	to := b.to
	b.mu.Unlock()
	if to != nil {
		if err := to.Apply(ctx, ch); err != nil {
			panic(err)
		}
	}
}

// TestReplicatedOptOutAndBlacklist: an opt-out, opt-in, block and unblock
// on box A are applied on box B; B's applying passes nothing on (no echo),
// and applying twice changes nothing.
func TestReplicatedOptOutAndBlacklist(t *testing.T) {
	ctx := context.Background()
	toB, fromB := &bus{}, &bus{}
	a, err := consent.New(consent.Config{Store: testkit.Store(t), Replicator: toB})
	if err != nil {
		t.Fatal(err)
	}
	b, err := consent.New(consent.Config{Store: testkit.Store(t), Replicator: fromB})
	if err != nil {
		t.Fatal(err)
	}
	toB.to = b

	if err := a.OptOut(ctx, "+49 151 1234 5678", "STOP", "sms"); err != nil {
		t.Fatal(err)
	}
	if o, ok := b.OptedOut(ctx, "004915112345678"); !ok || o.Keyword != "STOP" || o.Channel != "sms" {
		t.Fatalf("opt-out on B: %+v %v", o, ok)
	}
	e, err := a.Block(ctx, consent.Entry{Prefix: "49900", Direction: consent.Send})
	if err != nil {
		t.Fatal(err)
	}
	if reason, blocked := b.SendBlacklisted(ctx, "+4990012345"); !blocked || reason == "" {
		t.Fatalf("prefix block not on B: %q %v", reason, blocked)
	}
	// Applying the same again is harmless.
	for _, ch := range a.Changes() {
		if err := b.Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.Blacklist(ctx)) != 1 || len(b.OptOuts(ctx)) != 1 {
		t.Fatalf("B after a second apply: %d entries, %d opt-outs", len(b.Blacklist(ctx)), len(b.OptOuts(ctx)))
	}
	if len(fromB.seen) != 0 {
		t.Fatalf("B passed applied changes on: %+v", fromB.seen)
	}
	if _, err := a.OptIn(ctx, "+4915112345678"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unblock(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.OptedOut(ctx, "4915112345678"); ok {
		t.Error("opt-in not applied on B")
	}
	if _, blocked := b.SendBlacklisted(ctx, "+4990012345"); blocked {
		t.Error("unblock not applied on B")
	}
	if len(toB.seen) != 4 {
		t.Errorf("A replicated %d changes, want 4 (opt-out, block, opt-in, unblock)", len(toB.seen))
	}
}

// TestApplyRefusesBadChanges: a change of an unknown kind or a broken
// entry from another box is an error, not a silent half-write.
func TestApplyRefusesBadChanges(t *testing.T) {
	ctx := context.Background()
	c, err := consent.New(consent.Config{Store: testkit.Store(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []consent.Change{
		{Kind: "group", Key: "x"},
		{Kind: consent.KindBlock, Key: "id1", Value: []byte(`{"id":"id1"}`)},
		{Kind: consent.KindBlock, Key: "id1", Value: []byte(`{"id":"other","number":"49151"}`)},
		{Kind: consent.KindOptOut, Key: "", Value: []byte(`{}`)},
		{Kind: consent.KindOptOut, Key: "49151", Value: []byte(`{`)},
	} {
		if err := c.Apply(ctx, ch); err == nil {
			t.Errorf("Apply(%+v) accepted", ch)
		}
	}
	if len(c.Blacklist(ctx)) != 0 || len(c.OptOuts(ctx)) != 0 {
		t.Error("a refused change was stored")
	}
}
