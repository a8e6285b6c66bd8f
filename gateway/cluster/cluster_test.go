package cluster_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// startThree starts three members on loopback route ports, each with its
// own directory, as three boxes would.
func startThree(t *testing.T) []*cluster.Node {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = testkit.FreePort(t, "127.0.0.1")
	}
	addr := func(i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])) }
	dir := t.TempDir()
	nodes := make([]*cluster.Node, 3)
	for i := range nodes {
		var peers []string
		for j := range ports {
			if j != i {
				peers = append(peers, addr(j))
			}
		}
		n, err := cluster.Start(context.Background(), cluster.Options{
			Name: "site", Node: fmt.Sprintf("box%d", i+1), Listen: addr(i), Peers: peers,
			User: "pbxgate", Password: "route-secret",
			Dir: filepath.Join(dir, fmt.Sprintf("box%d", i+1)), Logger: testkit.Logger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
		closed := false
		t.Cleanup(func() {
			if !closed {
				closed = true
				_ = n.Close()
			}
		})
	}
	return nodes
}

// TestThreeBoxesFormOneCluster: three members find each other over routes,
// agree on one JetStream leader, and a replicated bucket written on one
// box is read on another.
func TestThreeBoxesFormOneCluster(t *testing.T) {
	nodes := startThree(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var leader string
	for _, n := range nodes {
		st, err := n.WaitComplete(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if leader == "" {
			leader = st.Leader
		}
		if st.Leader != leader {
			t.Errorf("%s sees leader %s, another box %s", n.Name(), st.Leader, leader)
		}
		if st.Size != 3 || len(st.Members) != 3 {
			t.Errorf("%s: size %d, members %+v", n.Name(), st.Size, st.Members)
		}
	}
	kv := createKV(t, ctx, nodes[0], "consent")
	if _, err := kv.Put(ctx, "4915112345678", []byte("opted-out")); err != nil {
		t.Fatal(err)
	}
	// Right after the bucket is made its stream may still be electing a
	// leader ("no responders"): the read is retried, bounded.
	var got string
	testkit.Eventually(t, "the value read on box3", func() bool {
		kv3, err := nodes[2].JetStream().KeyValue(ctx, "consent")
		if err != nil {
			return false
		}
		e, err := kv3.Get(ctx, "4915112345678")
		if err != nil {
			return false
		}
		got = string(e.Value())
		return true
	})
	if got != "opted-out" {
		t.Fatalf("read on box3: %q", got)
	}
}

// TestLeaderLossElectsAnother: when the leader's box goes away the two
// others elect a new leader and keep the replicated data writable. The
// wait is bounded by the cluster issue's 30 s takeover.
func TestLeaderLossElectsAnother(t *testing.T) {
	nodes := startThree(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := nodes[0].WaitComplete(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kv := createKV(t, ctx, nodes[0], "sessions")
	if _, err := kv.Put(ctx, "s1", []byte("ext 201")); err != nil {
		t.Fatal(err)
	}
	var gone int
	var rest []*cluster.Node
	for i, n := range nodes {
		if n.Name() == st.Leader {
			gone = i
		} else {
			rest = append(rest, n)
		}
	}
	lost := time.Now()
	if err := nodes[gone].Close(); err != nil {
		t.Log(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	for {
		s, err := rest[0].Status()
		if err == nil && s.Leader != "" && s.Leader != st.Leader {
			t.Logf("new leader %s after %v", s.Leader, time.Since(lost).Round(time.Millisecond))
			break
		}
		select {
		case <-wctx.Done():
			t.Fatalf("no new leader 30 s after %s went away: %+v", st.Leader, s)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Each attempt has its own deadline: the start-up above may have used
	// most of ctx's minute on a loaded machine.
	var kv2 jetstream.KeyValue
	testkit.Eventually(t, "a write with two of three boxes", func() bool {
		actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer acancel()
		var err error
		if kv2, err = rest[1].JetStream().KeyValue(actx, "sessions"); err != nil {
			return false
		}
		_, err = kv2.Put(actx, "s2", []byte("queue sales"))
		return err == nil
	})
	gctx, gcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer gcancel()
	e, err := kv2.Get(gctx, "s1")
	if err != nil || string(e.Value()) != "ext 201" {
		t.Fatalf("s1 after the loss: %v %v", e, err)
	}
}

// createKV creates a bucket with a replica on each box. Right after the
// boxes connect the leader may not yet count the last one as current
// ("no suitable peers for placement"): that is retried.
func createKV(t *testing.T, ctx context.Context, n *cluster.Node, bucket string) jetstream.KeyValue {
	t.Helper()
	var kv jetstream.KeyValue
	var err error
	testkit.Eventually(t, "a bucket with three replicas", func() bool {
		kv, err = n.JetStream().CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: 3})
		return err == nil
	})
	return kv
}
