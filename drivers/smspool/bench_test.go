package smspool

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// latencyModem answers every Send after a fixed latency, like a modem
// whose network round trip never varies.
type latencyModem struct {
	name    string
	latency time.Duration
	mr      int
}

func (m *latencyModem) Name() string { return m.name }
func (m *latencyModem) Ready() bool  { return true }
func (m *latencyModem) Send(context.Context, string, string, bool) (modem.SendResult, error) {
	if m.latency > 0 {
		time.Sleep(m.latency)
	}
	m.mr = (m.mr + 1) % 256
	return modem.SendResult{Parts: []modem.PartResult{{Seq: 1, MR: m.mr}}}, nil
}

// benchDrain queues b.N messages, then measures how long 4 modems with the
// given latency take to send them all. One op is one message.
func benchDrain(b *testing.B, latency time.Duration, syncWrites bool) {
	const modems = 4
	names := make([]string, modems)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
	}
	ev := &countingSink{done: make(chan struct{}), want: b.N}
	st := openStoreSync(b, b.TempDir(), syncWrites)
	defer st.Close()
	p, err := New(Config{Store: st, Sink: ev, Channels: []config.SMSChannel{{Name: "main", Modems: names}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range b.N {
		if err := p.Enqueue(ctx, message.Outbound{ID: fmt.Sprintf("b-%07d", i), Channel: "main", To: "+4915112345678", Text: "benchmark message"}); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range names {
		if err := p.Attach(&latencyModem{name: n, latency: latency}); err != nil {
			b.Fatal(err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() { done <- p.Run(runCtx) }()
	<-ev.done
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	if latency > 0 {
		ideal := time.Duration(b.N) * latency / modems
		b.ReportMetric(100*float64(elapsed-ideal)/float64(ideal), "%over-ideal")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// countingSink closes done when want messages have reached "sent".
type countingSink struct {
	n    int
	want int
	done chan struct{}
}

func (c *countingSink) Status(_ context.Context, ev message.StatusEvent) error {
	// The outbox calls the sink from one goroutine: no lock needed.
	if ev.Status == message.Sent {
		c.n++
		if c.n == c.want {
			close(c.done)
		}
	}
	return nil
}

// BenchmarkDrain4Modems20ms: do 4 modems stay busy? Compare the elapsed
// time with messages × 20 ms ÷ 4 (reported as %over-ideal).
func BenchmarkDrain4Modems20ms(b *testing.B) { benchDrain(b, 20*time.Millisecond, false) }

// BenchmarkDrain4Modems20msSync is the same with sync_writes on (the
// default): every state change is fsynced before it takes effect.
func BenchmarkDrain4Modems20msSync(b *testing.B) { benchDrain(b, 20*time.Millisecond, true) }

// BenchmarkPoolOverhead: modems that answer at once, so ns/op and
// allocs/op are the gateway's own cost per message (queue, two stored
// state changes, status events through the outbox).
func BenchmarkPoolOverhead(b *testing.B) { benchDrain(b, 0, false) }
