package clusterwork_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/clusterwork"
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

// runShared creates a b.N-recipient shared campaign on box1 and waits
// until every recipient is final; it reports messages per second and the
// CPU time per message of all boxes together.
func runShared(b *testing.B, boxes []*box, wr *wire) {
	ctx := context.Background()
	nums := numbers(b.N)
	// Start-up (the boxes agreeing on the stream and buckets) is not
	// what is measured.
	for _, bx := range boxes {
		select {
		case <-bx.work.Ready():
		case <-time.After(2 * time.Minute):
			b.Fatal("a box did not open the stream and buckets within 2 minutes")
		}
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	t0 := time.Now()
	c, err := boxes[0].work.Create(ctx, clusterwork.Spec{Name: "bench", Channel: "sms", Text: "Hallo", Numbers: nums})
	if err != nil {
		b.Fatal(err)
	}
	// Watch the wire (cheap) until every message went out, then the
	// claims until every outcome is written: a progress read opens a
	// consumer on the claims bucket, too costly to poll fast.
	for len(wr.snapshot()) < b.N {
		if time.Since(t0) > 10*time.Minute {
			b.Fatalf("not through after 10 minutes: %d of %d transmitted", len(wr.snapshot()), b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		p, err := boxes[0].work.Get(ctx, c.ID, false)
		if err == nil && p.Counts.Final() == b.N {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			b.Fatalf("not final after 10 minutes: %+v %v", p.Counts, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if got := len(wr.snapshot()); got != b.N {
		b.Fatalf("%d of %d transmitted", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}

// BenchmarkSharedCampaignThroughput: one shared campaign through 1, 2
// and 3 boxes of 4 SIMs each at a fixed modem latency of 500 ms (one SIM:
// at most 2 messages/s), everything in one process on loopback routes.
// The ideal is 8 msgs/s per box.
func BenchmarkSharedCampaignThroughput(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("boxes=%d", n), func(b *testing.B) {
			wr := &wire{sends: map[string][]string{}}
			boxes := startBoxes(b, n, 4, 500*time.Millisecond, 10*time.Second, wr)
			runShared(b, boxes, wr)
		})
	}
}

// BenchmarkSharedCampaignCostPerMessage: the same with modems that take
// no time, so the cluster's own work per message is what is measured:
// queueing the recipient, the claim before the hand-over, the outcome
// after it and the acknowledgement, each a replicated JetStream write.
func BenchmarkSharedCampaignCostPerMessage(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("boxes=%d", n), func(b *testing.B) {
			wr := &wire{sends: map[string][]string{}}
			boxes := startBoxes(b, n, 4, 0, 10*time.Second, wr)
			runShared(b, boxes, wr)
		})
	}
}
