package pbx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/warthog618/sms/encoding/gsm7/charset"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/store"
)

func init() {
	// warthog618/sms builds its GSM-7 tables lazily without a lock; the
	// simulator decodes concurrently (go test -race reports it otherwise).
	charset.DefaultDecoder()
	charset.DefaultEncoder()
	charset.DefaultExtEncoder()
}

const customer = "+491701234567"

// rig is the whole chain: a simulated carrier and modem, the SMS pool, the
// session manager, the SIP gateway registered at Kamailio.
type rig struct {
	t    testing.TB
	k    *kamailio
	g    *Gateway
	mgr  *session.Manager
	pool *smspool.Pool
	net  *modemsim.Network
	sim  *modemsim.Modem
	sims []*modemsim.Modem // sim1, sim2, … (sim is sims[0])
}

type rigOpts struct {
	route  session.Target
	queues []session.Queue
	// defaultChannel lets extensions start conversations.
	defaultChannel bool
	// sims is the number of SIMs of channel sms (default 1).
	sims int
	// service adds a second SMS channel "service" on its own SIM (the
	// last one), routed like sms.
	service bool
	// sip adjusts the gateway's SIP configuration.
	sip func(*config.SIP)
	// blocks are the sessions' text blocks.
	blocks []session.TextBlock
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	// The store closes last: cleanups run in reverse, and the components
	// (the pool's timers among them) must have stopped before it closes.
	st, err := store.Open(store.Options{Dir: t.TempDir(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	var stops []chan error
	t.Cleanup(func() {
		cancel()
		for _, c := range stops {
			if err := <-c; err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	})
	run := func(f func(context.Context) error) {
		c := make(chan error, 1)
		stops = append(stops, c)
		go func() { c <- f(ctx) }()
	}
	r := &rig{t: t, k: startKamailio(t, false), net: modemsim.NewNetwork(modemsim.WithSeed(1))}
	t.Cleanup(func() { r.net.Close() })
	sipCfg := gatewayCfg(r.k, "udp")
	if o.sip != nil {
		o.sip(&sipCfg)
	}
	r.g, err = New(Config{SIP: sipCfg, Logger: testLogger(), RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		Region: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	sink := &lateSink{ready: make(chan struct{})}
	var simNames []string
	for i := range max(o.sims, 1) {
		simNames = append(simNames, fmt.Sprintf("sim%d", i+1))
	}
	smsChannels := []config.SMSChannel{{Name: "sms", Modems: simNames}}
	if o.service {
		simNames = append(simNames, fmt.Sprintf("sim%d", len(simNames)+1))
		smsChannels = append(smsChannels, config.SMSChannel{Name: "service", Modems: simNames[len(simNames)-1:]})
	}
	ib, err := inbox.New(inbox.Config{Store: st, Logger: testLogger(), RetryBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.pool, err = smspool.New(smspool.Config{Store: st, Logger: testLogger(),
		Channels: smsChannels,
		Inbox:    ib, Sink: smspool.SinkFunc(sink.Status),
		RetryBackoff: 50 * time.Millisecond, Recheck: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if o.route.IsZero() {
		o.route = session.Target{Kind: session.ToExtension, ID: "201"}
	}
	scfg := session.Config{Store: st, Deliverer: r.g, Logger: testLogger(),
		Channels: []session.Channel{{Name: "sms", Kind: message.SMS, Sender: session.SenderFunc(r.pool.Enqueue), Route: o.route}},
		Queues:   o.queues, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 3,
		DeliveryTimeout: 5 * time.Second, TextBlocks: o.blocks}
	if o.defaultChannel {
		scfg.DefaultChannel = "sms"
	}
	if o.service {
		scfg.Channels = append(scfg.Channels, session.Channel{Name: "service", Kind: message.SMS, Sender: session.SenderFunc(r.pool.Enqueue), Route: o.route})
	}
	r.mgr, err = session.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	sink.mgr = r.mgr
	close(sink.ready)
	if err := ib.Register(r.mgr); err != nil {
		t.Fatal(err)
	}
	r.g.SetSessions(r.mgr)

	for _, name := range simNames {
		r.attachSIM(ctx, name, run)
	}
	r.sim = r.sims[0]
	run(r.pool.Run)
	run(ib.Run)
	run(r.mgr.Run)
	run(r.g.Run)
	waitState(t, r.g, "registered")
	return r
}

// attachSIM adds a simulated modem to the network and the pool as name.
func (r *rig) attachSIM(ctx context.Context, name string, run func(func(context.Context) error)) {
	t := r.t
	sim, err := r.net.AddModem(ctx, modemsim.Config{Model: "EC25", StorageCapacity: 30})
	if err != nil {
		t.Fatal(err)
	}
	r.sims = append(r.sims, sim)
	m, err := modem.Open(ctx, modem.Config{Name: name,
		Locate: func(ctx context.Context) (string, error) {
			if p := sim.Path(); p != "" {
				return p, nil
			}
			return sim.WaitPath(ctx, "")
		},
		CommandTimeout: 2 * time.Second, InitTimeout: 10 * time.Second, SendTimeout: 5 * time.Second, DeliveryReports: true,
		PollInterval: time.Hour, DrainInterval: time.Hour, ReopenBackoff: 20 * time.Millisecond,
		MaxReopenBackoff: 200 * time.Millisecond, Logger: testLogger()},
		modem.Handlers{PDU: r.pool.HandlePDU, StatusReport: r.pool.HandleStatusReport, State: r.pool.HandleState})
	if err != nil {
		t.Fatalf("open simulated modem: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	run(m.Run)
	if err := r.pool.Attach(m); err != nil {
		t.Fatal(err)
	}
}

// lateSink hands the pool's status events to the session manager once it
// exists (it is built after the pool).
type lateSink struct {
	ready chan struct{}
	mgr   *session.Manager
}

func (s *lateSink) Status(ctx context.Context, ev message.StatusEvent) error {
	<-s.ready
	if err := s.mgr.HandleStatus(ctx, ev); err != nil && !errors.Is(err, session.ErrUnknownStatus) {
		return err
	}
	return nil
}

// sms sends an SMS from a customer to the gateway's (first) SIM.
func (r *rig) sms(from, text string, ucs2 bool) {
	r.t.Helper()
	r.smsTo(r.sim, from, text, ucs2)
}

// smsTo sends an SMS from a customer to one of the gateway's SIMs.
func (r *rig) smsTo(sim *modemsim.Modem, from, text string, ucs2 bool) {
	r.t.Helper()
	if err := r.net.Inject(context.Background(), sim.Number(), modemsim.InboundSMS{From: from, Text: text, UCS2: ucs2}); err != nil {
		r.t.Fatalf("inject SMS: %v", err)
	}
}

// waitSent waits until the (first) SIM sent an SMS to `to` with text.
func (r *rig) waitSent(to, text string) {
	r.t.Helper()
	r.waitSentBy(r.sim, to, text)
}

// waitSentBy waits until sim sent an SMS to `to` with text.
func (r *rig) waitSentBy(sim *modemsim.Modem, to, text string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range sim.Sent() {
			if s.To == to && s.Text == text && s.Complete {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("SIM %s did not send %q to %s within 10s (sent: %+v)", sim.Number(), text, to, sim.Sent())
		}
		time.Sleep(10 * time.Millisecond) // polling the simulator; the deadline guards
	}
}

// sentText reports whether sim sent text to `to` (complete or not).
func sentText(sim *modemsim.Modem, to, text string) bool {
	for _, s := range sim.Sent() {
		if s.To == to && s.Text == text {
			return true
		}
	}
	return false
}

// A customer's SMS reaches the registered extension as a MESSAGE from the
// customer's number; the extension's reply leaves through the same SIM.
func TestE2ESMSToExtensionAndReply(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{})
	p := newPhone(t, "201", "127.0.0.1", r.k.addr)
	p.register(60)
	r.sms(customer, "Wann kommt mein Paket?", false)
	got := p.next("customer SMS")
	if got.From != customer || got.Body != "Wann kommt mein Paket?" || !strings.HasPrefix(strings.ToLower(got.ContentType), "text/plain") ||
		!strings.Contains(strings.ToLower(got.ContentType), "utf-8") {
		t.Fatalf("extension got %+v", got)
	}
	res, err := p.send(r.k.addr, customer, "Morgen früh.")
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("reply: %s", codeOf(res, err))
	}
	r.waitSent(customer, "Morgen früh.")
	ss, err := r.mgr.List(true, 0)
	if err != nil || len(ss) != 1 {
		t.Fatalf("sessions %v %v", ss, err)
	}
	if ss[0].Sender != r.sim.Number() && ss[0].Sender != "sim1" {
		t.Fatalf("session sender %q, want the SIM that received the SMS", ss[0].Sender)
	}
	log, err := r.mgr.Log(ss[0].ID)
	if err != nil || len(log) != 2 || log[0].Dir != session.In || log[1].Dir != session.Out || log[1].By != "201" {
		t.Fatalf("chat log %+v %v", log, err)
	}
}

// A 1,500-byte UCS-2 SMS (a long SMS in many parts) reaches the extension
// whole, in ordered MESSAGE parts that each fit Asterisk's limit.
func TestE2ELongUCS2InOrderedParts(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{})
	p := newPhone(t, "201", "127.0.0.1", r.k.addr)
	p.register(60)
	var b strings.Builder
	for i := 0; b.Len() < 1500; i++ {
		b.WriteString([]string{"Привет ", "Grüße ", "€uro ", "日本 "}[i%4])
	}
	text := strings.TrimSpace(b.String())
	r.sms(customer, text, true)
	first := p.next("part 1")
	if !strings.HasPrefix(first.Body, "(1/") {
		t.Fatalf("first part %q has no (1/n) prefix", first.Body)
	}
	var n int
	if _, err := fmt.Sscanf(first.Body, "(1/%d) ", &n); err != nil || n < 2 {
		t.Fatalf("first part prefix: %q", first.Body[:10])
	}
	parts := []string{first.Body}
	for i := 2; i <= n; i++ {
		parts = append(parts, p.next("next part").Body)
	}
	var whole strings.Builder
	for i, part := range parts {
		prefix := fmt.Sprintf("(%d/%d) ", i+1, n)
		if !strings.HasPrefix(part, prefix) || len(part) > 1000 || !utf8.ValidString(part) {
			t.Fatalf("part %d: %d bytes, prefix %q, valid UTF-8 %v", i+1, len(part), part[:min(len(part), 10)], utf8.ValidString(part))
		}
		whole.WriteString(strings.TrimPrefix(part, prefix))
	}
	if whole.String() != text {
		t.Fatalf("reassembled text differs:\n got %q\nwant %q", whole.String(), text)
	}
}

// An extension that is offline gets the customer's message once it
// registers again.
func TestE2EOfflineExtensionGetsItOnRegister(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{})
	r.sms(customer, "Hallo?", false)
	// Wait until a delivery attempt failed (Kamailio: 404, not registered).
	waitFor(t, "a failed delivery attempt", func() bool {
		ss, _ := r.mgr.List(true, 0)
		if len(ss) != 1 {
			return false
		}
		log, _ := r.mgr.Log(ss[0].ID)
		return len(log) == 1 && log[0].Status == "pending" && counter(r.g.m.out.WithLabelValues("unreachable")) > 0
	})
	p := newPhone(t, "201", "127.0.0.1", r.k.addr)
	p.register(60)
	if got := p.next("message stored while offline"); got.Body != "Hallo?" || got.From != customer {
		t.Fatalf("extension got %+v", got)
	}
}

// A queue member that is offline: the next member gets the message.
func TestE2EQueueNextMemberWhenOffline(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{route: session.Target{Kind: session.ToQueue, ID: "support"},
		queues: []session.Queue{{Name: "support", Members: []string{"201", "202"}, Assignment: session.Auto, Distribution: session.RoundRobin}}})
	p202 := newPhone(t, "202", "127.0.0.1", r.k.addr)
	p202.register(60)
	r.sms(customer, "Jemand da?", false) // round robin offers 201 first: offline
	if got := p202.nextFrom(customer, "next member"); got.Body != "Jemand da?" {
		t.Fatalf("202 got %+v", got)
	}
	s, _ := r.mgr.List(true, 0)
	if len(s) != 1 || s[0].Owner != "202" || !containsOp(s[0].Timeline, "unreachable") {
		t.Fatalf("session %+v", s)
	}
}

func containsOp(tl []session.Event, op string) bool {
	for _, e := range tl {
		if e.Op == op {
			return true
		}
	}
	return false
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling state; the deadline guards
	}
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// Queue modes through Kamailio: manual (both members see it, the first to
// reply picks it up, the other is refused), none (both may reply).
func TestE2EQueueModes(t *testing.T) {
	for _, mode := range []string{session.Manual, session.None} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOpts{route: session.Target{Kind: session.ToQueue, ID: "team"},
				queues: []session.Queue{{Name: "team", Members: []string{"201", "202"}, Assignment: mode}}})
			p1 := newPhone(t, "201", "127.0.0.1", r.k.addr)
			p2 := newPhone(t, "202", "127.0.0.1", r.k.addr)
			p1.register(60)
			p2.register(60)
			r.sms(customer, "Wer hilft mir?", false)
			for _, p := range []*phone{p1, p2} {
				if got := p.nextFrom(customer, "offered to every member"); got.Body != "Wer hilft mir?" {
					t.Fatalf("%s got %+v", p.user, got)
				}
			}
			if res, err := p2.send(r.k.addr, customer, "Ich, 202."); err != nil || res.StatusCode != 202 {
				t.Fatalf("202's reply: %s", codeOf(res, err))
			}
			r.waitSent(customer, "Ich, 202.")
			res, err := p1.send(r.k.addr, customer, "Ich, 201.")
			if mode == session.None {
				if err != nil || res.StatusCode != 202 {
					t.Fatalf("201's reply in mode none: %s", codeOf(res, err))
				}
				r.waitSent(customer, "Ich, 201.")
				return
			}
			if err != nil || res.StatusCode != 403 {
				t.Fatalf("201's reply after 202 picked up: %s, want 403", codeOf(res, err))
			}
			if w := res.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), "202 picked it up") {
				t.Fatalf("403 without the reason: %v", res)
			}
		})
	}
}
