package smspool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warthog618/sms/encoding/gsm7/charset"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// The tests in this file run the pool with drivers/modem against simulated
// modems on real ptys.

var errRestarting = errors.New("pbxgate is restarting")

func init() {
	// warthog618/sms builds its GSM-7 tables lazily without a lock, and the
	// simulator's modems decode concurrently: build them before any test
	// starts one (go test -race reports the library's race otherwise).
	charset.DefaultDecoder()
	charset.DefaultEncoder()
	charset.DefaultExtEncoder()
}

// simRig is a simulated network with one simulated modem and one driver
// per SIM name, wired to whichever pool the harness has open.
type simRig struct {
	t      testing.TB
	h      *harness
	net    *modemsim.Network
	sims   map[string]*modemsim.Modem
	modems map[string]*modem.Modem

	mu     sync.Mutex
	target *Pool // nil while the pool restarts: handlers fail, the driver keeps the SMS
	// acceptPDUs, when >= 0, is how many more PDUs the handler stores
	// before it fails like a daemon going down.
	acceptPDUs int
	stored     chan struct{}
}

type simOpts struct {
	models        []string
	latency       time.Duration
	reportDelay   time.Duration
	drainInterval time.Duration
	timeout       time.Duration // command and send timeout (default 2 s / 5 s)
	storage       int           // slots per SIM memory (default 30)
	// paths, when set, are the ptys of modems simulated elsewhere (another
	// process, see extsim_test.go), per SIM name: no modem is simulated
	// here, and r.sims stays empty.
	paths map[string]string
}

func newSimRig(t testing.TB, h *harness, names []string, o simOpts) *simRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &simRig{t: t, h: h, net: modemsim.NewNetwork(modemsim.WithSeed(1)), sims: map[string]*modemsim.Modem{},
		modems: map[string]*modem.Modem{}, target: h.pool, acceptPDUs: -1, stored: make(chan struct{}, 100)}
	type running struct {
		m    *modem.Modem
		done chan error
	}
	var all []running
	t.Cleanup(func() {
		cancel()
		for _, rn := range all {
			if err := <-rn.done; err != nil {
				t.Errorf("modem Run: %v", err)
			}
			rn.m.Close()
		}
		r.net.Close()
	})
	if o.drainInterval == 0 {
		o.drainInterval = time.Hour
	}
	cmdTimeout, sendTimeout := 2*time.Second, 5*time.Second
	if o.timeout > 0 {
		cmdTimeout, sendTimeout = o.timeout, o.timeout
	}
	for i, n := range names {
		model := "EC25"
		if len(o.models) > 0 {
			model = o.models[i%len(o.models)]
		}
		storage := 30
		if o.storage > 0 {
			storage = o.storage
		}
		var locate func(ctx context.Context) (string, error)
		if p, ok := o.paths[n]; ok {
			locate = func(context.Context) (string, error) { return p, nil }
		} else {
			sim, err := r.net.AddModem(ctx, modemsim.Config{Model: model, SendLatency: o.latency,
				DeliveryReportDelay: o.reportDelay, StorageCapacity: storage})
			if err != nil {
				t.Fatal(err)
			}
			r.sims[n] = sim
			locate = func(ctx context.Context) (string, error) {
				if p := sim.Path(); p != "" {
					return p, nil
				}
				return sim.WaitPath(ctx, "")
			}
		}
		cfg := modem.Config{
			Name:           n,
			Locate:         locate,
			CommandTimeout: cmdTimeout, InitTimeout: 10 * time.Second, SendTimeout: sendTimeout,
			PollInterval: time.Hour, DrainInterval: o.drainInterval,
			ReopenBackoff: 20 * time.Millisecond, MaxReopenBackoff: 200 * time.Millisecond,
			DeliveryReports: true, Logger: testkit.Logger(),
		}
		m, err := modem.Open(ctx, cfg, r.handlers())
		if err != nil {
			t.Fatalf("open modem %s: %v", n, err)
		}
		rn := running{m: m, done: make(chan error, 1)}
		go func() { rn.done <- m.Run(ctx) }()
		all = append(all, rn)
		r.modems[n] = m
	}
	return r
}

func (r *simRig) pool() *Pool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.target
}

func (r *simRig) handlers() modem.Handlers {
	return modem.Handlers{
		PDU: func(ctx context.Context, name string, pdu []byte) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.target == nil || r.acceptPDUs == 0 {
				return errRestarting
			}
			if err := r.target.HandlePDU(ctx, name, pdu); err != nil {
				return err
			}
			if r.acceptPDUs > 0 {
				r.acceptPDUs--
			}
			r.stored <- struct{}{}
			return nil
		},
		StatusReport: func(ctx context.Context, name string, sr gsms.StatusReport) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.target == nil {
				return errRestarting
			}
			return r.target.HandleStatusReport(ctx, name, sr)
		},
		State: func(name string, s modem.State) {
			if p := r.pool(); p != nil {
				p.HandleState(name, s)
			}
		},
	}
}

// attachAll attaches every driver to the current pool.
func (r *simRig) attachAll() {
	for _, m := range r.modems {
		if err := r.h.pool.Attach(m); err != nil {
			r.t.Fatal(err)
		}
	}
}

// restart stops the pool and closes the store (a daemon going down), then
// opens both again; the modems keep running, as the hardware would.
func (r *simRig) restart() {
	r.mu.Lock()
	r.target = nil
	r.mu.Unlock()
	r.h.stop()
	r.h.open()
	r.mu.Lock()
	r.target = r.h.pool
	r.acceptPDUs = -1
	r.mu.Unlock()
	r.attachAll()
	r.h.run()
}

// sentBy counts, per text, how often each simulated SIM sent it.
func (r *simRig) sentBy() map[string]map[string]int {
	out := map[string]map[string]int{}
	for n, s := range r.sims {
		for _, m := range s.Sent() {
			if out[m.Text] == nil {
				out[m.Text] = map[string]int{}
			}
			out[m.Text][n]++
		}
	}
	return out
}

// Messages spread over the SIMs of a channel; a modem unplugged mid-run
// hands its work to the others and nothing is sent twice; a message pinned
// to it waits for it to come back.
func TestE2EUnplugMidRun(t *testing.T) {
	t.Parallel()
	names := []string{"gsm1", "gsm2", "gsm3"}
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: names}}})
	r := newSimRig(t, h, names, simOpts{models: []string{"EC25", "SIM7600", "SIM800"},
		latency: 20 * time.Millisecond, reportDelay: 5 * time.Millisecond})
	r.attachAll()
	var batch []message.Outbound
	for i := range 36 {
		batch = append(batch, message.Outbound{ID: fmt.Sprintf("u-%02d", i), Channel: "main", To: "+4917612345678",
			Text: fmt.Sprintf("Nachricht %02d für Sie", i), DeliveryReport: i%3 == 0})
	}
	h.enqueue(batch...)
	h.run()
	h.ev.waitFor(t, "gsm1 busy", func(st []message.StatusEvent, _ []message.Inbound) bool {
		n := 0
		for _, ev := range st {
			if ev.Status == message.Sent && ev.Sender == "gsm1" {
				n++
			}
		}
		return n >= 2
	})
	r.sims["gsm1"].Reboot(3 * time.Second) // pulled out mid-run
	h.enqueue(message.Outbound{ID: "pinned", Channel: "main", Sender: "gsm1", To: "+4917612345678", Text: "only from gsm1"})

	h.ev.final(t, ids(batch)...)
	// Delivery reports come back through the modems for the ones that asked.
	t.Cleanup(func() {
		if t.Failed() {
			for n, s := range r.sims {
				t.Logf("%s: %+v", n, s.Status())
			}
		}
	})
	h.ev.waitFor(t, "delivery reports", func(st []message.StatusEvent, _ []message.Inbound) bool {
		l := lastStatus(st)
		for _, m := range batch {
			// A report that reaches gsm1 while it is unplugged is lost, as
			// with real modems (it is not set up to take reports yet).
			if m.DeliveryReport && l[m.ID].Status == message.Sent && l[m.ID].Sender != "gsm1" {
				return false
			}
		}
		return true
	})
	final := lastStatus(func() []message.StatusEvent { s, _ := h.ev.snapshot(); return s }())
	sent := r.sentBy()
	perSIM := map[string]int{}
	for _, m := range batch {
		f := final[m.ID]
		total := 0
		for n, c := range sent[m.Text] {
			total += c
			perSIM[n] += c
		}
		switch f.Status {
		case message.Sent, message.Delivered:
			if total != 1 || sent[m.Text][f.Sender] != 1 {
				t.Errorf("%s (%s by %s) went out %v", m.ID, f.Status, f.Sender, sent[m.Text])
			}
			if m.DeliveryReport != (f.Status == message.Delivered) && f.Sender != "gsm1" {
				t.Errorf("%s: status %s, delivery report requested %v", m.ID, f.Status, m.DeliveryReport)
			}
		case message.Unknown:
			// Unplugged after the modem took it: it may have gone out once.
			if total > 1 {
				t.Errorf("%s unknown but sent %d times", m.ID, total)
			}
		default:
			t.Errorf("%s ended %+v", m.ID, f)
		}
	}
	for _, n := range []string{"gsm2", "gsm3"} {
		if perSIM[n] == 0 {
			t.Errorf("%s sent nothing: the load was not spread (%v)", n, perSIM)
		}
	}
	// The pinned message waited for gsm1 to come back.
	if p := h.ev.final(t, "pinned")["pinned"]; p.Sender != "gsm1" || p.Status != message.Sent {
		t.Fatalf("pinned = %+v", p)
	}
	if s := r.sentBy()["only from gsm1"]; len(s) != 1 || s["gsm1"] != 1 {
		t.Fatalf("pinned went out %v", s)
	}
}

// Caps and quiet hours across midnight hold work back through real modems;
// the channel says why, nothing fails.
func TestE2ECapsAndQuietHours(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("CET", 3600)
	clk := newClock(time.Date(2026, 11, 21, 21, 0, 0, 0, loc))
	names := []string{"gsm1", "gsm2"}
	h := newHarness(t, Config{
		Channels: []config.SMSChannel{{Name: "main", Modems: names}},
		Pacing: map[string]config.Pacing{
			"gsm1": {DailyCap: 2, QuietHours: "22:00-07:00"},
			"gsm2": {DailyCap: 2, QuietHours: "22:00-07:00"},
		},
		Location: loc, Now: clk.Now,
	})
	r := newSimRig(t, h, names, simOpts{})
	r.attachAll()
	batch := msgs(6, "cq")
	h.enqueue(batch...)
	h.run()
	h.ev.final(t, ids(batch[:4])...)
	testkit.Eventually(t, "capped", func() bool { return h.pool.ChannelStates()[0].Blocked == "daily cap reached on all SIMs" })
	clk.Set(time.Date(2026, 11, 21, 23, 0, 0, 0, loc))
	if cs := h.pool.ChannelStates()[0]; cs.Blocked != "quiet hours on all SIMs (until 07:00)" || cs.Queued != 2 {
		t.Fatalf("23:00: %+v", cs)
	}
	clk.Set(time.Date(2026, 11, 22, 2, 0, 0, 0, loc)) // new day, caps reset, still quiet
	if cs := h.pool.ChannelStates()[0]; !strings.HasPrefix(cs.Blocked, "quiet hours") || cs.Queued != 2 {
		t.Fatalf("02:00: %+v", cs)
	}
	clk.Set(time.Date(2026, 11, 22, 7, 0, 0, 0, loc))
	final := h.ev.final(t, ids(batch)...)
	for _, m := range batch {
		if final[m.ID].Status != message.Sent {
			t.Errorf("%s: %+v", m.ID, final[m.ID])
		}
	}
	sent := r.sentBy()
	for _, m := range batch {
		if n := len(sent[m.Text]); n != 1 {
			t.Errorf("%s went out on %d SIMs", m.ID, n)
		}
	}
}

// The daemon dies while a modem is sending: after the restart the message
// is unknown, not sent again; the rest of the queue goes out.
func TestE2ECrashWhileSending(t *testing.T) {
	t.Parallel()
	names := []string{"gsm1"}
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: names}}})
	r := newSimRig(t, h, names, simOpts{latency: 300 * time.Millisecond})
	r.attachAll()
	batch := msgs(3, "cr")
	h.enqueue(batch...)
	h.run()
	h.ev.waitFor(t, "cr-000 sending", func(st []message.StatusEvent, _ []message.Inbound) bool {
		return len(trail(st, "cr-000")) == 1
	})
	// What is on disk now is what the restarted daemon finds.
	var snap bytes.Buffer
	if _, err := h.st.Backup(&snap); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.target = nil
	r.mu.Unlock()
	h.stop() // lets cr-000 finish on the modem, as the crashed daemon's modem would
	h.dir = t.TempDir()
	if err := store.Restore(context.Background(), h.dir, &snap, testkit.Logger()); err != nil {
		t.Fatal(err)
	}
	h.ev = newEvents()
	h.cfg.Sink = h.ev
	h.open()
	r.mu.Lock()
	r.target = h.pool
	r.mu.Unlock()
	r.attachAll()
	h.run()
	final := h.ev.final(t, ids(batch)...)
	if f := final["cr-000"]; f.Status != message.Unknown {
		t.Fatalf("cr-000 = %+v", f)
	}
	sent := r.sentBy()
	for _, m := range batch {
		if n := sent[m.Text]["gsm1"]; n != 1 {
			t.Errorf("%s sent %d times (%s)", m.ID, n, final[m.ID].Status)
		}
	}
}

// A long inbound SMS arrives out of order; the daemon goes down after
// storing some parts, the rest stays on the SIM and is drained after the
// restart; the message is delivered exactly once, complete.
func TestE2ELongInboundSplitByRestart(t *testing.T) {
	t.Parallel()
	names := []string{"gsm1"}
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: names}}})
	r := newSimRig(t, h, names, simOpts{drainInterval: 100 * time.Millisecond})
	r.attachAll()
	h.run()
	r.mu.Lock()
	r.acceptPDUs = 2
	r.mu.Unlock()
	text := strings.Repeat("Grüße aus Köln 👋 — ", 12) // UCS-2 with a surrogate pair: 4 parts
	ctx := context.Background()
	to := r.sims["gsm1"].Number()
	if err := r.net.Inject(ctx, to, modemsim.InboundSMS{From: "+4917099887766", Text: text, Parts: 4, Order: []int{2, 0, 3, 1}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-r.stored:
		case <-time.After(waitLimit):
			t.Fatal("parts not stored")
		}
	}
	r.restart()
	h.ev.waitFor(t, "long SMS", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) >= 1 })
	if err := r.net.Inject(ctx, to, modemsim.InboundSMS{From: "+4917099887766", Text: "marker"}); err != nil {
		t.Fatal(err)
	}
	h.ev.waitFor(t, "marker", func(_ []message.StatusEvent, in []message.Inbound) bool {
		return len(in) >= 1 && in[len(in)-1].Text == "marker"
	})
	_, in := h.ev.snapshot()
	if len(in) != 2 || in[0].Text != text || in[0].From != "+4917099887766" || in[0].Receiver != to {
		t.Fatalf("inbound = %+v", in)
	}
}

// A modem that stops answering mid-run: what it was sending becomes unknown
// (it may have gone out), its queue moves to the other SIM, the driver
// recovers it by reset and a message pinned to it goes out after that.
func TestE2EHangMidRun(t *testing.T) {
	t.Parallel()
	names := []string{"gsm1", "gsm2"}
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: names}}})
	r := newSimRig(t, h, names, simOpts{latency: 20 * time.Millisecond, timeout: time.Second})
	r.attachAll()
	batch := msgs(20, "h")
	h.enqueue(batch...)
	h.run()
	h.ev.waitFor(t, "gsm1 busy", func(st []message.StatusEvent, _ []message.Inbound) bool {
		n := 0
		for _, ev := range st {
			if ev.Status == message.Sent && ev.Sender == "gsm1" {
				n++
			}
		}
		return n >= 2
	})
	boots := r.sims["gsm1"].Boots()
	r.sims["gsm1"].SetFault(modemsim.Fault{Hang: true, HangMode: modemsim.HangUntilReset})
	// A message pinned to gsm1 meets the hang itself when gsm1 was idle at
	// that moment (then it is the one recorded unknown), or goes out after
	// the reset a batch message's timeout caused.
	h.enqueue(message.Outbound{ID: "pinned", Channel: "main", Sender: "gsm1", To: "+4917612345678", Text: "during the hang"})
	final := h.ev.final(t, append(ids(batch), "pinned")...)
	sent := r.sentBy()
	for _, m := range batch {
		f := final[m.ID]
		total := 0
		for _, c := range sent[m.Text] {
			total += c
		}
		switch f.Status {
		case message.Sent:
			if total != 1 || sent[m.Text][f.Sender] != 1 {
				t.Errorf("%s (sent by %s) went out %v", m.ID, f.Sender, sent[m.Text])
			}
		case message.Unknown:
			if f.Sender != "gsm1" || total > 1 {
				t.Errorf("%s unknown (%s) but sent %v", m.ID, f.Reason, sent[m.Text])
			}
		default:
			t.Errorf("%s ended %+v", m.ID, f)
		}
	}
	switch p := final["pinned"]; {
	case p.Sender != "gsm1":
		t.Fatalf("pinned message went out on %s", p.Sender)
	case p.Status == message.Sent && sent["during the hang"]["gsm1"] != 1,
		p.Status == message.Unknown && sent["during the hang"]["gsm1"] > 1,
		p.Status != message.Sent && p.Status != message.Unknown:
		t.Fatalf("pinned = %+v, sent %v", p, sent["during the hang"])
	}
	// Either way the driver reset gsm1; a message pinned to it now goes out
	// exactly once.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := r.sims["gsm1"].WaitBoot(ctx, boots); err != nil {
		t.Fatalf("gsm1 was not reset: %v", err)
	}
	h.enqueue(message.Outbound{ID: "pinned-2", Channel: "main", Sender: "gsm1", To: "+4917612345678", Text: "after the hang"})
	if p := h.ev.final(t, "pinned-2")["pinned-2"]; p.Status != message.Sent || p.Sender != "gsm1" || r.sentBy()["after the hang"]["gsm1"] != 1 {
		t.Fatalf("pinned-2 = %+v, sent %v", p, r.sentBy()["after the hang"])
	}
}
