package clusterwork

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// TestWatchBehindIsReplaced: a campaign watch that stops delivering
// without ending (nats-io/nats.go#1094: the KV watch's ordered consumer
// not recreated after a server or leader change) must not leave a box
// blind to a campaign. A real stall cannot be produced on demand, so the
// test makes the box forget what its watch delivered of one campaign (as
// if that put had never arrived) on a real JetStream bucket: a healthy
// watch is never held to be behind, the forgetful one is found behind at
// two checks in a row, and the session's new watch brings the campaign
// back.
func TestWatchBehindIsReplaced(t *testing.T) {
	t.Parallel()
	node, err := cluster.Start(context.Background(), cluster.Options{Name: "site", Node: "box1",
		Dir: filepath.Join(t.TempDir(), "box1"), Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	w := New(Config{Node: node, Logger: testkit.Logger(), Resync: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	c, err := w.Create(ctx, Spec{Name: "winter", Channel: "sms", Text: "Hallo", Numbers: []string{"+4917000000001", "+4917000000002"}})
	if err != nil {
		t.Fatal(err)
	}
	listed := func() bool {
		for _, l := range w.List() {
			if l.ID == c.ID {
				return true
			}
		}
		return false
	}
	testkit.Eventually(t, "the campaign through the watch", listed)

	// A watch that delivered everything is not behind, at any check.
	lag, still := w.behind(ctx, nil)
	if len(lag) != 0 || len(still) != 0 {
		t.Fatalf("healthy watch: lagging %v, still %v", lag, still)
	}

	// Forget the delivery, as a stalled watch would never have made it.
	w.mu.Lock()
	delete(w.camps, c.ID)
	w.revs[c.ID] = 0
	w.mu.Unlock()
	lag, still = w.behind(ctx, nil)
	if lag[c.ID] == 0 || len(still) != 0 {
		t.Fatalf("first check: lagging %v, still %v; want %s lagging, nothing still", lag, still, c.ID)
	}
	if _, still = w.behind(ctx, lag); len(still) != 1 || still[0] != c.ID {
		t.Fatalf("second check: still %v; want [%s]", still, c.ID)
	}

	// The session itself: with short checks it replaces the watch, and
	// the new one delivers the campaign again.
	cancel()
	<-done
	w2 := New(Config{Node: node, Logger: testkit.Logger(), Resync: 50 * time.Millisecond})
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); _ = w2.Run(ctx2) }()
	t.Cleanup(func() { cancel2(); <-done2 })
	testkit.Eventually(t, "w2 lists the campaign", func() bool { return len(w2.List()) == 1 })
	w2.mu.Lock()
	delete(w2.camps, c.ID)
	w2.revs[c.ID] = 0
	w2.mu.Unlock()
	testkit.Eventually(t, "the campaign back after the watch was replaced", func() bool { return len(w2.List()) == 1 })
}
