package logsync_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/logsync"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// cpuTime is this process's user+system CPU time (every box of the
// benchmark runs in it).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// record writes what the SMS pool writes for one sent message: the entry
// when it is queued and its "sent" status.
func record(b *testing.B, ml *msglog.Log, i int) {
	ctx := context.Background()
	o := message.Outbound{ID: "bench-" + strconv.Itoa(i), Channel: "sms", To: fmt.Sprintf("+4917%08d", i), Text: "Ihr Termin ist morgen um 9 Uhr"}
	if err := ml.Outbound(ctx, message.SMS, o, ""); err != nil {
		b.Fatal(err)
	}
	if err := ml.Status(ctx, message.StatusEvent{ID: o.ID, Status: message.Sent, Sender: "sim1"}); err != nil {
		b.Fatal(err)
	}
}

// measure records b.N messages on ml, then waits for done; it reports
// CPU time and store commits per message (of every box in the process).
func measure(b *testing.B, ml *msglog.Log, stores []*store.Store, done func() bool) {
	commits := func() uint64 {
		var n uint64
		for _, st := range stores {
			n += st.Commits()
		}
		return n
	}
	c0, cpu0 := commits(), cpuTime()
	b.ResetTimer()
	for i := range b.N {
		record(b, ml, i)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			b.Fatal("the other boxes did not apply every message within 5 minutes")
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/msg")
	b.ReportMetric(float64(commits()-c0)/float64(b.N), "commits/msg")
}

// BenchmarkMessageLogReplication is the cost per message of replicating
// the message log: a message queued and sent (two writes of its entry)
//   - alone: a box without a cluster (no Replicator);
//   - outbox: the writer's own cost with a Replicator (the version kept in
//     the outbox in the same transaction), nothing sent;
//   - 3boxes: three boxes on loopback in this process, measured until
//     both other boxes have the message in its final state (publish,
//     JetStream's three replicas, two consumers, two merges).
func BenchmarkMessageLogReplication(b *testing.B) {
	b.Run("alone", func(b *testing.B) {
		st := testkit.Store(b)
		ml, err := msglog.New(msglog.Config{Store: st})
		if err != nil {
			b.Fatal(err)
		}
		measure(b, ml, []*store.Store{st}, func() bool { return true })
	})
	b.Run("outbox", func(b *testing.B) {
		n, err := cluster.Start(context.Background(), cluster.Options{Name: "bench", Node: "box1", Dir: b.TempDir(), Logger: testkit.Logger()})
		if err != nil {
			b.Fatal(err)
		}
		defer n.Close()
		st := testkit.Store(b)
		sy := logsync.New(n, st, nil)
		ml, err := msglog.New(msglog.Config{Store: st, Replicator: sy})
		if err != nil {
			b.Fatal(err)
		}
		measure(b, ml, []*store.Store{st}, func() bool { return true })
	})
	b.Run("3boxes", func(b *testing.B) {
		boxes := benchCluster(b)
		var stores []*store.Store
		for _, bx := range boxes {
			stores = append(stores, bx.st)
		}
		ctx := context.Background()
		measure(b, boxes[0].ml, stores, func() bool {
			if st, err := boxes[0].sync.Stats(); err != nil || st.Pending != 0 {
				return false
			}
			// Everything box1 published is acknowledged by the other
			// boxes' consumers (acknowledged only once merged).
			for _, bx := range boxes[1:] {
				c, err := boxes[0].node.JetStream().Consumer(ctx, logsync.StreamName, "logsync_"+bx.name)
				if err != nil {
					return false
				}
				info, err := c.Info(ctx)
				if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
					return false
				}
			}
			return true
		})
		for _, bx := range boxes[1:] {
			d, err := logsync.DigestOf(bx.st)
			if err != nil || d.MessagesByBox["box1"] != b.N+1 {
				b.Fatalf("%s has %d of box1's %d messages (%v)", bx.name, d.MessagesByBox["box1"], b.N+1, err)
			}
		}
	})
}

// benchCluster starts three boxes with direct loopback routes and waits
// until each has its consumer.
func benchCluster(b *testing.B) []*box {
	b.Helper()
	listen := make([]string, 3)
	for i := range listen {
		listen[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(b, "127.0.0.1")))
	}
	dir := b.TempDir()
	boxes := make([]*box, 3)
	for i := range boxes {
		var peers []string
		for j := range listen {
			if j != i {
				peers = append(peers, listen[j])
			}
		}
		bx := &box{name: fmt.Sprintf("box%d", i+1)}
		bx.opts = cluster.Options{Name: "bench", Node: bx.name, Listen: listen[i], Peers: peers,
			Dir: filepath.Join(dir, bx.name), Logger: testkit.Logger()}
		bx.st = testkit.Store(b)
		n, err := cluster.Start(context.Background(), bx.opts)
		if err != nil {
			b.Fatal(err)
		}
		bx.node = n
		bx.sync = logsync.New(n, bx.st, nil)
		if bx.ml, err = msglog.New(msglog.Config{Store: bx.st, Replicator: bx.sync}); err != nil {
			b.Fatal(err)
		}
		bx.sync.Attach(bx.ml)
		ctx, cancel := context.WithCancel(context.Background())
		bx.cancel, bx.done = cancel, make(chan struct{})
		go func() { _ = bx.sync.Run(ctx); close(bx.done) }()
		b.Cleanup(bx.stop)
		boxes[i] = bx
	}
	// Warm up: one message from each box reaches the others.
	for i, bx := range boxes {
		if err := bx.ml.Inbound(context.Background(), message.Inbound{ID: "warm-" + strconv.Itoa(i), Kind: message.SMS, Channel: "sms",
			From: "+4917000000" + strconv.Itoa(i), Text: "warm", At: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok := true
		for _, bx := range boxes {
			if d, err := logsync.DigestOf(bx.st); err != nil || d.Messages != 3 {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the boxes did not exchange a first message within 2 minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return boxes
}
