package smspool

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// A send the modem never prompted for is "not sent" (modem.ErrNotSent): the
// pool moves it to another SIM at once instead of parking it as unknown,
// even though the port may have gone away meanwhile.
func TestClassifyNotSent(t *testing.T) {
	t.Parallel()
	for _, cause := range []error{modem.ErrTimeout, modem.ErrOffline} {
		err := &modem.SendError{Reason: "no prompt", Retryable: true, ModemFault: true,
			Err: fmt.Errorf("%w: AT+CMGS=23: %w", modem.ErrNotSent, cause)}
		f := Classify(err)
		if f.MaybeSent || f.Permanent || !f.ModemFault {
			t.Errorf("not sent (%v) classified %+v", cause, f)
		}
	}
	// Without ErrNotSent a port lost during AT+CMGS stays "may have gone out".
	f := Classify(&modem.SendError{Reason: "gone", Retryable: true, ModemFault: true, Err: fmt.Errorf("AT+CMGS=23: %w", modem.ErrOffline)})
	if !f.MaybeSent {
		t.Errorf("port lost mid-send classified %+v", f)
	}
}

// BenchmarkHangFailover measures how fast a hung modem is noticed and its
// work moves to the channel's other SIM, with command_timeout 5 s (and
// poll_interval 5 s), two simulated modems on ptys (300 ms per SMS):
//
//   - sending: gsm1 hangs while both SIMs work through a queue;
//   - idle: gsm1 hangs while idle, then 10 messages are queued;
//   - quiet: gsm1 hangs and nothing is sent: only polling can notice
//     (s-to-hung only).
//
// Metrics: s-to-hung (hang → gsm1 reported hung), s-to-failover (hang →
// the first message gsm1 could not send is sent by gsm2), s-to-drain (hang
// → every message queued at that moment sent). No timed assertions.
//
// One run takes 10-30 s of real time (the timeouts are real), so more than
// 5 runs (e.g. the pool benchmarks' -benchtime=400x) are skipped: use
// -benchtime=3x.
func BenchmarkHangFailover(b *testing.B) {
	for _, mode := range []string{"sending", "idle", "quiet"} {
		b.Run(mode, func(b *testing.B) {
			if b.N > 5 {
				b.Skipf("%d runs of 10-30 s each: use -benchtime=3x", b.N)
			}
			var hung, moved, drained time.Duration
			for range b.N {
				h, f, d := hangFailoverOnce(b, mode)
				hung, moved, drained = hung+h, moved+f, drained+d
			}
			n := float64(b.N)
			b.ReportMetric(hung.Seconds()/n, "s-to-hung")
			if mode != "quiet" {
				b.ReportMetric(moved.Seconds()/n, "s-to-failover")
				b.ReportMetric(drained.Seconds()/n, "s-to-drain")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func hangFailoverOnce(b *testing.B, mode string) (toHung, toFailover, toDrain time.Duration) {
	busy, quiet := mode == "sending", mode == "quiet"
	b.StopTimer()
	names := []string{"gsm1", "gsm2"}
	h := newHarness(b, Config{Channels: []config.SMSChannel{{Name: "main", Modems: names}}, Recheck: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	net := modemsim.NewNetwork(modemsim.WithSeed(1))
	mods := map[string]*modem.Modem{}
	sims := map[string]*modemsim.Modem{}
	var runs []chan error
	defer func() {
		cancel()
		for _, d := range runs {
			<-d
		}
		for _, m := range mods {
			m.Close()
		}
		net.Close()
		h.stop()
	}()
	for _, n := range names {
		sim, err := net.AddModem(ctx, modemsim.Config{Model: "EC25", SendLatency: 300 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		sims[n] = sim
		m, err := modem.Open(ctx, modem.Config{
			Name: n,
			Locate: func(ctx context.Context) (string, error) {
				if p := sim.Path(); p != "" {
					return p, nil
				}
				return sim.WaitPath(ctx, "")
			},
			CommandTimeout: 5 * time.Second, InitTimeout: 30 * time.Second, SendTimeout: 60 * time.Second,
			PollInterval: 5 * time.Second, DrainInterval: time.Hour,
			ReopenBackoff: 100 * time.Millisecond, Logger: testkit.Logger(),
		}, modem.Handlers{State: func(name string, s modem.State) { h.pool.HandleState(name, s) }})
		if err != nil {
			b.Fatal(err)
		}
		mods[n] = m
		d := make(chan error, 1)
		go func() { d <- m.Run(ctx) }()
		runs = append(runs, d)
		if err := h.pool.Attach(m); err != nil {
			b.Fatal(err)
		}
	}
	h.run()
	var queued []message.Outbound
	if busy {
		queued = msgs(60, "busy")
		h.enqueue(queued...)
		waitCond(b, 60*time.Second, "gsm1 sending", func() bool {
			return len(sims["gsm1"].Sent()) >= 2
		})
	}
	b.StartTimer()
	t0 := time.Now()
	sims["gsm1"].SetFault(modemsim.Fault{Hang: true, HangMode: modemsim.HangUntilReopen})
	if !busy && !quiet {
		queued = msgs(10, "idle")
		h.enqueue(queued...)
	}
	// Poll what happened every 5 ms (the resolution of these numbers).
	failedOn1 := map[string]bool{}
	for toHung == 0 || (!quiet && (toFailover == 0 || toDrain == 0)) {
		if time.Since(t0) > 2*time.Minute {
			b.Fatalf("after 2 min: hung %v, failover %v, drained %v", toHung, toFailover, toDrain)
		}
		now := time.Since(t0)
		if toHung == 0 && mods["gsm1"].State() == modem.StateHung {
			toHung = now
		}
		st, _ := h.ev.snapshot()
		done := map[string]bool{}
		for _, ev := range st {
			if ev.At.Before(t0) {
				if ev.Status == message.Sent {
					done[ev.ID] = true
				}
				continue
			}
			switch {
			case ev.Status == message.Queued && ev.Reason != "" && ev.Sender == "gsm1":
				failedOn1[ev.ID] = true
			case ev.Status == message.Sent:
				done[ev.ID] = true
				if toFailover == 0 && failedOn1[ev.ID] && ev.Sender == "gsm2" {
					toFailover = now
				}
			case ev.Status == message.Unknown || ev.Status == message.Failed:
				done[ev.ID] = true
			}
		}
		if toDrain == 0 {
			all := true
			for _, m := range queued {
				all = all && done[m.ID]
			}
			if all {
				toDrain = now
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	if !quiet && len(failedOn1) == 0 {
		b.Fatal(errors.New("no message failed over from gsm1"))
	}
	return toHung, toFailover, toDrain
}

func waitCond(b *testing.B, limit time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
