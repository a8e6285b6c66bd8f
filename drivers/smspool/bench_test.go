package smspool

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim/simproc"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// latencyModem answers every Send after a fixed latency, like a modem
// whose network round trip never varies. busy adds up the time spent in
// Send: timers overshoot (by 10% and more for 20 ms on a busy VM), so
// "every modem busy" is judged against what the modems really took.
type latencyModem struct {
	name    string
	latency time.Duration
	mr      int
	busy    *atomic.Int64
}

func (m *latencyModem) Name() string { return m.name }
func (m *latencyModem) Ready() bool  { return true }
func (m *latencyModem) Send(context.Context, string, string, bool) (modem.SendResult, error) {
	start := time.Now()
	if m.latency > 0 {
		time.Sleep(m.latency)
	}
	m.mr = (m.mr + 1) % 256
	m.busy.Add(int64(time.Since(start)))
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
	var busy atomic.Int64
	for _, n := range names {
		if err := p.Attach(&latencyModem{name: n, latency: latency, busy: &busy}); err != nil {
			b.Fatal(err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := simproc.CPU()
	start := time.Now()
	go func() { done <- p.Run(runCtx) }()
	<-ev.done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64((simproc.CPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	cancel()
	<-done
	reportDrain(b, elapsed, latency, modems, time.Duration(busy.Load()))
}

// reportDrain reports the drain time against messages × latency ÷ modems
// (%over-ideal) and against the time the modems really spent sending
// (%over-busy: the share of the drain in which modems waited for the
// pool).
func reportDrain(b *testing.B, elapsed, latency time.Duration, modems int, busy time.Duration) {
	if latency > 0 {
		ideal := time.Duration(b.N) * latency / time.Duration(modems)
		b.ReportMetric(100*float64(elapsed-ideal)/float64(ideal), "%over-ideal")
		perModem := busy / time.Duration(modems)
		b.ReportMetric(100*float64(elapsed-perModem)/float64(perModem), "%over-busy")
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

// timedModem adds up the time a real driver spends in Send.
type timedModem struct {
	Modem
	busy *atomic.Int64
}

func (m timedModem) Send(ctx context.Context, to, text string, sr bool) (modem.SendResult, error) {
	start := time.Now()
	defer func() { m.busy.Add(int64(time.Since(start))) }()
	return m.Modem.Send(ctx, to, text, sr)
}

// BenchmarkDrainSim4Modems20ms is the benchmark end to end: 4
// simulated modems on ptys, each answering AT+CMGS after 20 ms, driven by
// drivers/modem. %over-busy is the time the modems (driver, pty and
// simulator included) waited for the pool.
func BenchmarkDrainSim4Modems20ms(b *testing.B) {
	names := []string{"gsm1", "gsm2", "gsm3", "gsm4"}
	ev := &countingSink{done: make(chan struct{}), want: b.N}
	h := newHarness(b, Config{Sink: ev, Channels: []config.SMSChannel{{Name: "main", Modems: names}}})
	r := newSimRig(b, h, names, simOpts{latency: 20 * time.Millisecond})
	ctx := context.Background()
	for i := range b.N {
		if err := h.pool.Enqueue(ctx, message.Outbound{ID: fmt.Sprintf("b-%07d", i), Channel: "main", To: "+4917612345678", Text: "benchmark message"}); err != nil {
			b.Fatal(err)
		}
	}
	var busy atomic.Int64
	for _, n := range names {
		if err := h.pool.Attach(timedModem{Modem: r.modems[n], busy: &busy}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := simproc.CPU()
	start := time.Now()
	h.run()
	<-ev.done
	elapsed := time.Since(start)
	b.StopTimer()
	// Includes the driver and the simulator, which run in this process.
	b.ReportMetric(float64((simproc.CPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	reportDrain(b, elapsed, 20*time.Millisecond, len(names), time.Duration(busy.Load()))
}
