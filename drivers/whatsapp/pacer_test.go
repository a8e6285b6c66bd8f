package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// campaignID is the ID the campaign engine gives its sends
// (gateway/campaign.MessageID): they are bulk for the pacer.
func campaignID(i int) string { return fmt.Sprintf("campaign-c1-%d-1", i) }

// waitInPacer polls until n sends are each either out (the emulator
// accepted them) or waiting for their slot.
func waitInPacer(t testing.TB, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // failure guard only
	for whatsapp.Queued(e.ch)+len(e.emu.Sent()) < n {
		if time.Now().After(deadline) {
			t.Fatal("sends never reached the pacer")
		}
		time.Sleep(2 * time.Millisecond) // polling a state; the deadline guards
	}
}

// TestRepliesBeforeCampaignSends: with forty campaign sends at 5/s, three
// replies submitted while campaign sends still wait for their slots go out
// next on the wire (as the emulator received them), before the campaign's
// backlog.
func TestRepliesBeforeCampaignSends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{
		emu: func(o *waemu.Options) { o.Throughput = 5 },
		ch:  func(o *whatsapp.Options) { o.MessagesPerSecond = 5 },
	})
	ctx := context.Background()
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := e.ch.SendClassed(ctx, campaignID(i), fmt.Sprintf("49160%08d", i), message.Bulk, promo("Bulk")); err != nil {
				t.Error(err)
			}
		})
	}
	waitInPacer(t, e, n)
	before := len(e.emu.Sent())
	if n-before < 4 {
		t.Fatalf("only %d campaign sends still waiting; the machine is too slow for this test", n-before)
	}
	for i := range 3 {
		wg.Go(func() {
			if _, err := e.ch.SendMessage(ctx, fmt.Sprintf("ses-s1-%d", i), fmt.Sprintf("49161%08d", i), promo("Reply")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	sent := e.emu.Sent()
	if len(sent) != n+3 {
		t.Fatalf("emulator accepted %d sends, want %d", len(sent), n+3)
	}
	var replyAt []int
	for i, s := range sent {
		if strings.HasPrefix(s.Callback, "ses-") {
			replyAt = append(replyAt, i)
		}
	}
	// A campaign send released while the replies were being stored may
	// still go first; nothing more.
	if len(replyAt) != 3 || replyAt[2] > before+1+2 {
		t.Fatalf("replies at wire positions %v; %d campaign sends were out before they were submitted (a FIFO puts them after the whole backlog)", replyAt, before)
	}
}

// TestWithdrawNeverSends: campaign sends taken back while waiting for a
// slot never reach the emulator, are not reported failed, leave no record
// (so they can be sent again later, once), and the rest go out normally.
func TestWithdrawNeverSends(t *testing.T) {
	t.Parallel()
	j := &journal{statuses: map[string]message.Status{}}
	e := newEnv(t, envConfig{
		emu: func(o *waemu.Options) { o.Throughput = 5 },
		ch:  func(o *whatsapp.Options) { o.MessagesPerSecond = 5; o.Journal = j },
	})
	ctx := context.Background()
	const n = 20
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = campaignID(i)
		wg.Go(func() {
			_, errs[i] = e.ch.SendClassed(ctx, ids[i], fmt.Sprintf("49162%08d", i), message.Bulk, promo("Stop"))
		})
	}
	waitInPacer(t, e, n)
	out := len(e.emu.Sent())
	got, err := e.ch.Withdraw(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// One slot may come between counting and withdrawing.
	if len(got) < n-out-1 || len(got) > n-out {
		t.Fatalf("withdrew %d of %d, though %d were waiting", len(got), n, n-out)
	}
	onWire := map[string]int{}
	for _, s := range e.emu.Sent() {
		onWire[s.Callback]++
	}
	for i, id := range ids {
		w := slices.Contains(got, id)
		switch {
		case w && onWire[id] != 0:
			t.Errorf("%s withdrawn but sent", id)
		case w && !errors.Is(errs[i], whatsapp.ErrWithdrawn):
			t.Errorf("%s withdrawn, Send returned %v", id, errs[i])
		case !w && (errs[i] != nil || onWire[id] != 1):
			t.Errorf("%s not withdrawn: err %v, sent %d times", id, errs[i], onWire[id])
		}
		if w {
			if _, err := e.ch.Record(id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s withdrawn, record remains: %v", id, err)
			}
			j.mu.Lock()
			st, reported := j.statuses[id]
			j.mu.Unlock()
			if reported {
				t.Errorf("%s withdrawn, reported %s", id, st)
			}
		}
	}
	// Withdrawing again finds nothing; resuming sends a withdrawn one once.
	if again, _ := e.ch.Withdraw(ctx, ids); len(again) != 0 {
		t.Errorf("second withdraw took %v", again)
	}
	if _, err := e.ch.SendMessage(ctx, got[0], "4916299999999", promo("Resume")); err != nil {
		t.Fatal(err)
	}
	n0 := 0
	for _, s := range e.emu.Sent() {
		if s.Callback == got[0] {
			n0++
		}
	}
	if n0 != 1 {
		t.Errorf("resumed %s went out %d times", got[0], n0)
	}
}

// TestRecordStoredBeforeWire: when a request reaches the emulator, its
// record is already "sending" in the store (a crash during the request is
// an unknown outcome, never a silent resend).
func TestRecordStoredBeforeWire(t *testing.T) {
	t.Parallel()
	var ep atomic.Pointer[env]
	var mu sync.Mutex
	var bad []string
	seen := 0
	e := newEnv(t, envConfig{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/messages") {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				var req struct {
					ID string `json:"biz_opaque_callback_data"`
				}
				_ = json.Unmarshal(body, &req)
				rec, err := ep.Load().hookCh.Load().Record(req.ID)
				mu.Lock()
				seen++
				if err != nil || rec.Status != message.Sending {
					bad = append(bad, fmt.Sprintf("%s: %+v %v", req.ID, rec, err))
				}
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}})
	ep.Store(e)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := e.ch.SendClassed(context.Background(), campaignID(i), fmt.Sprintf("49163%08d", i), message.Bulk, promo("Rec")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if seen != 20 || len(bad) > 0 {
		t.Fatalf("%d requests; not stored as sending on arrival: %v", seen, bad)
	}
}

var (
	pacerDuration = flag.Duration("wapacer.duration", 30*time.Second, "how long BenchmarkWhatsAppPacer* keep the pacer saturated")
	pacerStatuses = flag.Bool("wapacer.statuses", true, "BenchmarkWhatsAppPacer*: the emulator's status webhooks (3 per message) go to the channel; false: to a server that drops them")
)

// benchPacer keeps the channel's pacer saturated with campaign template
// sends for -wapacer.duration (30 s) at the given limit, against the
// emulator on loopback with its status webhooks flowing back (unless
// -wapacer.statuses=false). It records
// when the emulator's HTTP server received each request (before it reads
// the body) and reports the average rate over the run, the busiest
// one-second window and how many one-second windows held more than the
// limit.
func benchPacer(b *testing.B, limit int) {
	var mu sync.Mutex
	var arrivals []time.Time
	e := newEnv(b, envConfig{
		emu: func(o *waemu.Options) { o.Throughput = limit },
		ch:  func(o *whatsapp.Options) { o.MessagesPerSecond = limit },
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages") {
					at := time.Now()
					mu.Lock()
					arrivals = append(arrivals, at)
					mu.Unlock()
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	if !*pacerStatuses {
		drop := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		b.Cleanup(drop.Close)
		e.emu.SetCallbackURL(drop.URL)
	}
	ctx := context.Background()
	total := int(float64(limit) * pacerDuration.Seconds())
	senders := max(16, limit/4)
	b.ResetTimer()
	for run := range b.N {
		ids := make(chan int)
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for i := range ids {
					id := fmt.Sprintf("campaign-b%d-%d-1", run, i)
					if _, err := e.ch.SendClassed(ctx, id, fmt.Sprintf("4915%d%08d", run%10, i), message.Bulk, promo("Bench")); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for i := range total {
			ids <- i
		}
		close(ids)
		wg.Wait()
	}
	b.StopTimer()
	mu.Lock()
	times := slices.Clone(arrivals)
	mu.Unlock()
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	if len(times) < 2 {
		b.Fatal("no requests")
	}
	maxWin, over := 0, 0
	for i, j := 0, 0; i < len(times); i++ {
		for times[i].Sub(times[j]) >= time.Second {
			j++
		}
		n := i - j + 1
		maxWin = max(maxWin, n)
		if n > limit {
			over++
		}
	}
	// The average over each run's own span (the runs follow each other).
	perRun := len(times) / b.N
	var rate float64
	for r := range b.N {
		ts := times[r*perRun : (r+1)*perRun]
		rate += float64(len(ts)-1) / ts[len(ts)-1].Sub(ts[0]).Seconds() / float64(b.N)
	}
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(100*rate/float64(limit), "%-of-limit")
	b.ReportMetric(float64(maxWin), "max-in-1s")
	b.ReportMetric(float64(over), "requests-over-limit")
	b.ReportMetric(float64(e.emu.Stats().Rejected[130429]), "refused")
}

// BenchmarkWhatsAppPacer80 runs at Meta's default 80 messages per second.
func BenchmarkWhatsAppPacer80(b *testing.B) { benchPacer(b, 80) }

// BenchmarkWhatsAppPacer1000 runs at Meta's highest throughput, 1,000/s.
func BenchmarkWhatsAppPacer1000(b *testing.B) { benchPacer(b, 1000) }
