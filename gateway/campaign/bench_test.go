package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// fill writes campaigns × recipients straight into the store with write
// batches, in the engine's own key layout (completed campaigns).
func fill(b *testing.B, dir string, campaigns, perCampaign int) {
	b.Helper()
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	wb := st.DB().NewWriteBatch()
	defer wb.Cancel()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= campaigns; i++ {
		id := strconv.Itoa(i)
		c := Campaign{ID: id, Spec: smsSpec(fmt.Sprintf("Kampagne %04d", i), "sms-1", "now"), State: Completed, Attempt: 1,
			Recipients: perCampaign, Counts: Counts{Sent: perCampaign}, CreatedAt: now, UpdatedAt: now,
			History: []Transition{{To: Draft, At: now}, {From: Draft, To: Running, At: now}, {From: Running, To: Completed, At: now}}}
		if err := wb.Set(campKey(id), mustJSON(b, c)); err != nil {
			b.Fatal(err)
		}
		for s := 1; s <= perCampaign; s++ {
			r := Recipient{Seq: s, Number: fmt.Sprintf("+4915112%06d", s), Vars: map[string]string{"first_name": "Max"}, Status: RSent,
				Attempt: 1, MsgID: msgID(id, s, 1), SendingAt: now, SentAt: now}
			if err := wb.Set(recipKey(id, s), mustJSON(b, r)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
}

func mustJSON(b *testing.B, v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func filledEnv(b *testing.B) *env {
	dir := b.TempDir()
	fill(b, dir, 1000, 1000)
	return newEnv(b, dir, Config{}, newTestChannel("sms-1", newLedger()))
}

// BenchmarkList: one page of the campaign list (and a filtered search)
// with 1,000 campaigns × 1,000 recipients stored.
func BenchmarkList(b *testing.B) {
	ev := filledEnv(b)
	b.ResetTimer()
	for b.Loop() {
		p := ev.e.List(context.Background(), ListQuery{Limit: 50})
		if len(p.Items) != 50 || p.Total != 1000 {
			b.Fatalf("page %d/%d", len(p.Items), p.Total)
		}
		if p := ev.e.List(context.Background(), ListQuery{Search: "kampagne 09", State: Completed}); p.Total != 100 {
			b.Fatalf("search %d", p.Total)
		}
	}
}

// BenchmarkDetail: a campaign with its history and the first page of 100
// recipients, same store.
func BenchmarkDetail(b *testing.B) {
	ev := filledEnv(b)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		id := strconv.Itoa(i%1000 + 1)
		i += 337
		c, err := ev.e.Get(context.Background(), id)
		if err != nil || c.Recipients != 1000 {
			b.Fatal(err)
		}
		p, err := ev.e.Recipients(context.Background(), id, RecipientQuery{Offset: 500, Limit: 100})
		if err != nil || len(p.Items) != 100 {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen: engine start-up (store open + loading 1,000 campaigns).
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	fill(b, dir, 1000, 1000)
	b.ResetTimer()
	for b.Loop() {
		st, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		e, err := New(Config{Store: st, Channels: map[string]Channel{}})
		if err != nil || len(e.camps) != 1000 {
			b.Fatal(err)
		}
		st.Close()
	}
}

// zeroChannel accepts everything at once and, when it knows the engine,
// reports each message sent from another goroutine (as a channel's
// outbox does), so campaigns complete.
type zeroChannel struct {
	eng *atomic.Pointer[Engine]
}

func (zeroChannel) Name() string       { return "zero" }
func (zeroChannel) Kind() message.Kind { return message.SMS }
func (zeroChannel) MaxPerMinute() int  { return 0 }
func (z zeroChannel) Send(ctx context.Context, m message.Outbound) error {
	if z.eng != nil {
		if e := z.eng.Load(); e != nil {
			go e.HandleStatus(context.WithoutCancel(ctx), message.StatusEvent{ID: m.ID, Status: message.Sent, At: time.Now()})
		}
	}
	return nil
}

// BenchmarkDispatch: 1,000-recipient campaigns through a zero-latency
// channel that reports each message sent, every state change (sending,
// accepted, sent) stored; the dispatcher pulls DefaultWindow at a time.
// Reports messages/s.
func BenchmarkDispatch(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync_writes=%v", sync), func(b *testing.B) {
			dir := b.TempDir()
			st, err := store.Open(store.Options{Dir: dir, SyncWrites: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var eng atomic.Pointer[Engine]
			e, err := New(Config{Store: st, Channels: map[string]Channel{"zero": zeroChannel{eng: &eng}}, Region: "DE", Limits: Limits{MaxCampaigns: 1 << 20}})
			if err != nil {
				b.Fatal(err)
			}
			eng.Store(e)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.Run(ctx) }()
			defer func() { cancel(); <-done }()
			rs := numbers(1000)
			spec := smsSpec("", "zero", "now")
			n, sent := 0, 0
			var busy time.Duration
			for b.Loop() {
				n++
				spec.Name = fmt.Sprint("bench ", n)
				start := time.Now()
				c, err := e.Create(ctx, spec, rs)
				if err != nil {
					b.Fatal(err)
				}
				for {
					ch := e.Changes()
					got, _ := e.Get(ctx, c.ID)
					if got.State == Completed {
						sent += got.Counts.Sent
						break
					}
					<-ch
				}
				busy += time.Since(start)
			}
			b.ReportMetric(float64(sent)/busy.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkHandleStatus: delivery reports applied to a 1,000-recipient
// campaign, each stored with the recipient and the counters; "serial" is
// one caller, "parallel" 32 concurrent callers (webhook handlers), which
// the group commit batches. Run with -benchtime 1000x: each of the 1,000
// recipients changes once (later events are no-ops that write nothing).
func BenchmarkHandleStatus(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, par := range []bool{false, true} {
			name := fmt.Sprintf("sync_writes=%v/serial", sync)
			if par {
				name = fmt.Sprintf("sync_writes=%v/parallel", sync)
			}
			b.Run(name, func(b *testing.B) { benchStatus(b, sync, par) })
		}
	}
}

func benchStatus(b *testing.B, sync, par bool) {
	st, err := store.Open(store.Options{Dir: b.TempDir(), SyncWrites: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// The channel reports each message sent (campaigns complete only on
	// the channel's reports); the benchmark then applies "delivered".
	var eng atomic.Pointer[Engine]
	e, err := New(Config{Store: st, Channels: map[string]Channel{"zero": zeroChannel{eng: &eng}}, Region: "DE"})
	if err != nil {
		b.Fatal(err)
	}
	eng.Store(e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := e.Create(ctx, smsSpec("status", "zero", "now"), numbers(1000))
	if err != nil {
		b.Fatal(err)
	}
	for {
		ch := e.Changes()
		if got, _ := e.Get(ctx, c.ID); got.State == Completed {
			break
		}
		<-ch
	}
	var n atomic.Int64
	event := func() {
		i := int(n.Add(1))
		ev := message.StatusEvent{ID: msgID(c.ID, i%1000+1, 1), Status: message.Delivered}
		if err := e.HandleStatus(ctx, ev); err != nil {
			b.Error(err)
		}
	}
	b.ResetTimer()
	if par {
		b.SetParallelism(16) // × GOMAXPROCS goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				event()
			}
		})
		return
	}
	for range b.N {
		event()
	}
}
