package whatsapp_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// TestCampaignEndToEnd sends a 1,000-recipient template campaign through
// the channel to the emulator at 1,000/s; every message must reach read,
// through sent and delivered, by signed webhooks to the channel's handler.
func TestCampaignEndToEnd(t *testing.T) {
	t.Parallel()
	const n = 1000
	reg := prometheus.NewRegistry()
	e := newEnv(t, envConfig{
		emu: func(o *waemu.Options) { o.Throughput = 1000 },
		ch: func(o *whatsapp.Options) {
			o.MessagesPerSecond, o.Tier, o.Registerer = 1000, 2000, reg
		},
	})
	ctx := context.Background()
	ids := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for i := range ids {
				o := message.Outbound{ID: fmt.Sprintf("cmp-1/%04d", i), Ref: "cmp-1", To: fmt.Sprintf("+49151%07d", i)}
				if _, err := e.ch.SendTemplate(ctx, o, "2023_april_promo", "en_US", whatsapp.BodyText(fmt.Sprint("Kunde ", i), "FALL25")); err != nil {
					errs <- fmt.Errorf("%s: %w", o.ID, err)
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("sent after %v", time.Since(start))
	e.sinks.waitFor(t, "1000 messages read", func() bool {
		read := 0
		for _, evs := range e.sinks.statuses {
			if len(evs) > 0 && evs[len(evs)-1].Status == message.Read {
				read++
			}
		}
		return read == n
	})
	t.Logf("read after %v", time.Since(start))
	// The store follows right after the sink (same batch commit).
	e.sinks.waitFor(t, "records read", func() bool {
		for i := range n {
			if rec, err := e.ch.Record(fmt.Sprintf("cmp-1/%04d", i)); err != nil || rec.Status != message.Read {
				return false
			}
		}
		return true
	})
	e.sinks.mu.Lock()
	defer e.sinks.mu.Unlock()
	if len(e.sinks.statuses) != n {
		t.Fatalf("statuses for %d ids, want %d", len(e.sinks.statuses), n)
	}
	unread := 0
	for id, evs := range e.sinks.statuses {
		var seq []message.Status
		for _, ev := range evs {
			seq = append(seq, ev.Status)
			if ev.Ref != "cmp-1" || ev.ChannelID == "" {
				t.Fatalf("%s: event %+v lacks ref or wamid", id, ev)
			}
		}
		if fmt.Sprint(seq) != "[sent delivered read]" {
			t.Fatalf("%s: statuses %v", id, seq)
		}
		rec, err := e.ch.Record(id)
		if err != nil || rec.WAMID != evs[0].ChannelID {
			t.Fatalf("%s: record %+v %v", id, rec, err)
		}
		if rec.Status != message.Read {
			unread++
		}
	}
	if unread > 0 {
		t.Errorf("%d records not read in the store", unread)
	}
	st := e.emu.Stats()
	if st.Accepted != n || len(st.Rejected) != 0 || st.WebhooksFailed != 0 {
		t.Errorf("emulator stats %+v", st)
	}
	if h := e.ch.Health(); h.State != "ok" || h.TierUsed != n {
		t.Errorf("health %+v, want ok with %d users counted against the tier", h, n)
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() != "channel" {
					key += "/" + l.GetValue()
				}
			}
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for k, v := range map[string]float64{"pbxgate_whatsapp_sent_total": n, "pbxgate_whatsapp_statuses_total/read": n,
		"pbxgate_whatsapp_webhooks_total/stored": 3 * n, "pbxgate_whatsapp_tier_used": n, "pbxgate_whatsapp_stopped": 0} {
		if got[k] != v {
			t.Errorf("metric %s = %v, want %v", k, got[k], v)
		}
	}
}

// benchSend measures the sustained send rate at the given limit with
// parallel senders: rate over the emulator's arrival times and the most
// sends the emulator saw in any one-second window.
func benchSend(b *testing.B, limit, senders int) {
	e := newEnv(b, envConfig{
		emu: func(o *waemu.Options) { o.Throughput = limit },
		ch:  func(o *whatsapp.Options) { o.MessagesPerSecond = limit },
	})
	ctx := context.Background()
	ids := make(chan int)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range senders {
		wg.Go(func() {
			for i := range ids {
				_, err := e.ch.SendMessage(ctx, fmt.Sprint("b", i), fmt.Sprintf("49152%08d", i), promo("Bench"))
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range b.N {
		ids <- i
	}
	close(ids)
	wg.Wait()
	b.StopTimer()
	sent := e.emu.Sent()
	if len(sent) < 2 {
		return
	}
	times := make([]time.Time, len(sent))
	for i, s := range sent {
		times[i] = s.At
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	span := times[len(times)-1].Sub(times[0]).Seconds()
	maxWin := 0
	for i, j := 0, 0; i < len(times); i++ {
		for times[i].Sub(times[j]) >= time.Second {
			j++
		}
		maxWin = max(maxWin, i-j+1)
	}
	b.ReportMetric(float64(len(times)-1)/span, "msgs/s")
	b.ReportMetric(float64(maxWin), "max-in-1s")
	b.ReportMetric(float64(e.emu.Stats().Rejected[130429]), "refused")
}

// BenchmarkSendRate80 runs at Meta's default 80/s (use -benchtime=400x
// for a multi-second run).
func BenchmarkSendRate80(b *testing.B) { benchSend(b, 80, 8) }

// BenchmarkSendRate1000 runs at the highest throughput, 1,000/s.
func BenchmarkSendRate1000(b *testing.B) { benchSend(b, 1000, 64) }

// BenchmarkWebhookNotifications measures signed inbound notifications
// accepted, stored and processed to the sink per second.
func BenchmarkWebhookNotifications(b *testing.B) {
	e := newEnv(b, envConfig{})
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i], _, _ = e.emu.InboundNotification(waemu.Inbound{From: fmt.Sprintf("49153%08d", i), Type: "text", Text: "hi"})
	}
	hook := e.hookSrv.URL + whatsapp.WebhookPath
	next := make(chan []byte)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 8 {
		wg.Go(func() {
			for body := range next {
				if code := postSigned(b, hook, e.opts.AppSecret, body); code != 200 {
					b.Errorf("HTTP %d", code)
				}
			}
		})
	}
	for _, body := range bodies {
		next <- body
	}
	close(next)
	wg.Wait()
	e.sinks.waitFor(b, "all notifications processed", func() bool { return len(e.sinks.inbound) == b.N })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}
