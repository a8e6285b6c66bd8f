package consentsync_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/consentsync"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

type box struct {
	node *cluster.Node
	c    *consent.Consent
	sync *consentsync.Sync
}

// TestOptOutWhileAloneReachesTheClusterLater: box1 starts first and alone
// (its peers are configured but not up: no leader), records an opt-out —
// it is kept locally and pending. When box2 and box3 come up, the
// opt-out reaches both; a blacklist entry made on box3 reaches box1, and
// box1's opt-in removes the opt-out on box2. Each box has its own Badger
// store and its own JetStream directory.
func TestOptOutWhileAloneReachesTheClusterLater(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ports := make([]string, 3)
	for i := range ports {
		ports[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(t, "127.0.0.1")))
	}
	dir := t.TempDir()
	start := func(i int) *box {
		var peers []string
		for j, p := range ports {
			if j != i {
				peers = append(peers, p)
			}
		}
		n, err := cluster.Start(ctx, cluster.Options{Name: "site", Node: fmt.Sprintf("box%d", i+1),
			Listen: ports[i], Peers: peers, Dir: filepath.Join(dir, strconv.Itoa(i)), Logger: testkit.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		s := consentsync.New(n, testkit.Logger())
		c, err := consent.New(consent.Config{Store: testkit.Store(t), Replicator: s})
		if err != nil {
			t.Fatal(err)
		}
		s.Attach(c)
		done := make(chan struct{})
		go func() { _ = s.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done; _ = n.Close() })
		return &box{node: n, c: c, sync: s}
	}
	b1 := start(0)
	if err := b1.c.OptOut(ctx, "+4915112345678", "STOP", "sms"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b1.c.OptedOut(ctx, "+4915112345678"); !ok || b1.sync.Pending() != 1 {
		t.Fatalf("box1 alone: opt-out kept %v, pending %d", ok, b1.sync.Pending())
	}
	b2, b3 := start(1), start(2)
	testkit.Eventually(t, "the opt-out of box1 on box2 and box3", func() bool {
		_, on2 := b2.c.OptedOut(ctx, "4915112345678")
		_, on3 := b3.c.OptedOut(ctx, "4915112345678")
		return on2 && on3 && b1.sync.Pending() == 0
	})
	if _, err := b3.c.Block(ctx, consent.Entry{Prefix: "49900", Direction: consent.Send}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "box3's blacklist entry on box1", func() bool {
		_, blocked := b1.c.SendBlacklisted(ctx, "+499001234")
		return blocked
	})
	if _, err := b1.c.OptIn(ctx, "+4915112345678"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "box1's opt-in on box2", func() bool {
		_, on2 := b2.c.OptedOut(ctx, "4915112345678")
		return !on2
	})

	// A new session with the cluster (as after a reconnect) finds every
	// entry of box1 in the bucket already: it creates none, instead of
	// asking the bucket once per entry.
	if len(b1.c.Changes()) == 0 {
		t.Fatal("box1 has no consent entries to reconcile")
	}
	again := consentsync.New(b1.node, testkit.Logger())
	again.Attach(b1.c)
	actx, acancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = again.Run(actx); close(done) }()
	testkit.Eventually(t, "the new session's reconciliation", func() bool {
		rounds, _ := again.Reconciled()
		return rounds > 0
	})
	acancel()
	<-done
	if _, creates := again.Reconciled(); creates != 0 {
		t.Errorf("the reconnect asked the bucket to create %d entries it has", creates)
	}
}
