package pbx

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// BenchmarkMessageThroughKamailio sends MESSAGEs from the gateway through
// Kamailio to a registered extension on loopback, 64 in flight
// (PBX_BENCH_INFLIGHT), and checks
// that every one arrived.
func BenchmarkMessageThroughKamailio(b *testing.B) {
	k := startKamailioShm(b, freePort(b, "127.0.0.1"), false, 512)
	g := runGateway(b, gatewayCfg(k, "udp"))
	waitState(b, g, "registered")
	p := newPhone(b, "201", "127.0.0.1", k.addr)
	p.countOnly.Store(true)
	p.register(300)
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	b.ResetTimer()
	start := time.Now()
	inflight := 64
	if v, err := strconv.Atoi(os.Getenv("PBX_BENCH_INFLIGHT")); err == nil && v > 0 {
		inflight = v
	}
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := g.sendMessage(ctx, "201", "", customer, fmt.Sprintf("message %d", i))
				cancel()
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range b.N {
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(failed) > 0 {
		b.Fatalf("%d of %d MESSAGEs failed, first: %v", len(failed), b.N, failed[0])
	}
	if n := p.count.Load(); n != int64(b.N) {
		b.Fatalf("extension got %d of %d MESSAGEs", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
}

// BenchmarkInboundToExtension measures session routing latency: from
// session.Manager.Inbound (a stored customer message) to the extension
// accepting the MESSAGE through Kamailio, one at a time.
func BenchmarkInboundToExtension(b *testing.B) {
	k := startKamailio(b, false)
	g := runGateway(b, gatewayCfg(k, "udp"))
	waitState(b, g, "registered")
	p := newPhone(b, "201", "127.0.0.1", k.addr)
	p.register(300)
	st, err := store.Open(store.Options{Dir: b.TempDir(), Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	mgr, err := session.New(session.Config{Store: st, Deliverer: g, Logger: testLogger(),
		Channels: []session.Channel{{Name: "sms", Kind: message.SMS, Route: session.Target{Kind: session.ToExtension, ID: "201"},
			Sender: session.SenderFunc(func(context.Context, message.Outbound) error { return nil })}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Run(ctx) }()
	defer func() { cancel(); <-done }()
	b.ResetTimer()
	for i := range b.N {
		text := fmt.Sprintf("SMS %d", i)
		if err := mgr.Inbound(ctx, message.Inbound{ID: fmt.Sprintf("b-%d", i), Kind: message.SMS, Channel: "sms",
			From: fmt.Sprintf("+4917%08d", i%50), Text: text, At: time.Now()}); err != nil {
			b.Fatal(err)
		}
		if got := p.next("routed SMS"); got.Body != text {
			b.Fatalf("extension got %q, want %q", got.Body, text)
		}
	}
}
