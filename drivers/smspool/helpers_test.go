package smspool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// waitLimit guards waits on events; tests never sleep to pass.
const waitLimit = 10 * time.Second

// openStoreSync opens the store in dir with synchronous writes when sync
// (the benchmarks measure both); tests use testkit.StoreAt.
func openStoreSync(t testing.TB, dir string, sync bool) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir, Logger: testkit.Logger(), SyncWrites: sync})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// events collects what a Pool reports and lets tests wait for it.
type events struct {
	mu      sync.Mutex
	changed chan struct{}
	status  []message.StatusEvent
	inbound []message.Inbound
	// failNext makes the next n Status calls fail (sink unavailable).
	failNext int
	// refuseText makes Inbound refuse messages with this text, counting.
	refuseText string
	refused    int
}

func newEvents() *events { return &events{changed: make(chan struct{})} }

func (e *events) Status(_ context.Context, ev message.StatusEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failNext > 0 {
		e.failNext--
		return fmt.Errorf("sink unavailable")
	}
	e.status = append(e.status, ev)
	close(e.changed)
	e.changed = make(chan struct{})
	return nil
}

func (e *events) Inbound(_ context.Context, in message.Inbound) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refuseText != "" && in.Text == e.refuseText {
		e.refused++
		close(e.changed)
		e.changed = make(chan struct{})
		return fmt.Errorf("consumer cannot take %q", in.Text)
	}
	e.inbound = append(e.inbound, in)
	close(e.changed)
	e.changed = make(chan struct{})
	return nil
}

// waitFor blocks until cond holds for the collected events.
func (e *events) waitFor(t testing.TB, what string, cond func(st []message.StatusEvent, in []message.Inbound) bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		e.mu.Lock()
		ok := cond(e.status, e.inbound)
		ch := e.changed
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			e.mu.Lock()
			defer e.mu.Unlock()
			t.Fatalf("timed out waiting for %s; status events: %+v; inbound: %+v", what, e.status, e.inbound)
		}
	}
}

func (e *events) final(t testing.TB, ids ...string) map[string]message.StatusEvent {
	t.Helper()
	var out map[string]message.StatusEvent
	e.waitFor(t, fmt.Sprintf("final status of %v", ids), func(st []message.StatusEvent, _ []message.Inbound) bool {
		out = lastStatus(st)
		for _, id := range ids {
			s, ok := out[id]
			if !ok || !(s.Status.IsFinal() || s.Status == message.Sent) {
				return false
			}
		}
		return true
	})
	return out
}

func (e *events) snapshot() ([]message.StatusEvent, []message.Inbound) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.status), slices.Clone(e.inbound)
}

func lastStatus(st []message.StatusEvent) map[string]message.StatusEvent {
	out := map[string]message.StatusEvent{}
	for _, ev := range st {
		out[ev.ID] = ev
	}
	return out
}

// trail lists the statuses reported for id, in order.
func trail(st []message.StatusEvent, id string) []string {
	var out []string
	for _, ev := range st {
		if ev.ID == id {
			s := string(ev.Status)
			if ev.Sender != "" && (ev.Status == message.Sending || ev.Status == message.Sent) {
				s += "@" + ev.Sender
			}
			out = append(out, s)
		}
	}
	return out
}

// fakeModem is a modem in memory for the pool's own logic; the end-to-end
// tests use drivers/modem against the simulator instead.
type fakeModem struct {
	name   string
	number string

	mu    sync.Mutex
	ready bool
	mr    int
	sent  []sentSMS
	// gate, when set, holds every Send until a value is received.
	gate chan struct{}
	// fail, when set, decides the outcome of a Send before it happens.
	fail    func(to, text string) error
	started chan string // receives the text of every Send as it starts
}

type sentSMS struct {
	To, Text string
	MRs      []int
}

func newFakeModem(name string) *fakeModem {
	return &fakeModem{name: name, ready: true, started: make(chan string, 1000)}
}

func (f *fakeModem) Name() string { return f.name }

func (f *fakeModem) Number() string { return f.number }

func (f *fakeModem) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeModem) setReady(v bool) {
	f.mu.Lock()
	f.ready = v
	f.mu.Unlock()
}

func (f *fakeModem) Send(ctx context.Context, to, text string, _ bool) (modem.SendResult, error) {
	f.started <- text
	f.mu.Lock()
	gate, fail := f.gate, f.fail
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return modem.SendResult{}, ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(to, text); err != nil {
			return modem.SendResult{}, err
		}
	}
	pl, err := gsms.PlanText(text)
	if err != nil {
		return modem.SendResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := sentSMS{To: to, Text: text}
	for range pl.Parts {
		f.mr = (f.mr + 1) % 256
		s.MRs = append(s.MRs, f.mr)
	}
	f.sent = append(f.sent, s)
	return sendResult(s.MRs...), nil
}

func (f *fakeModem) sentTexts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.sent {
		out = append(out, s.Text)
	}
	return out
}

func sendResult(mrs ...int) modem.SendResult {
	var r modem.SendResult
	for i, mr := range mrs {
		r.Parts = append(r.Parts, modem.PartResult{Seq: i + 1, MR: mr})
	}
	return r
}

// Send errors as drivers/modem classifies them.
func modemFault(reason string) error {
	return &modem.SendError{Reason: reason, Retryable: true, ModemFault: true}
}

func cmsError(code int) error {
	reason, retry, fault := modem.CMSReason(code)
	return &modem.SendError{CMS: code, Reason: reason, ReasonCode: modem.CMSReasonCode(code), Retryable: retry, ModemFault: fault}
}

// harness is a pool on a store in a directory, restartable.
type harness struct {
	t      testing.TB
	dir    string
	cfg    Config
	ev     *events
	st     *store.Store
	pool   *Pool
	inbox  *inbox.Inbox // the gateway's inbox; the harness's events consume it
	cancel context.CancelFunc
	done   chan error
	// syncWrites opens the store with sync_writes on.
	syncWrites bool
}

func newHarness(t testing.TB, cfg Config) *harness {
	h := &harness{t: t, dir: t.TempDir(), cfg: cfg, ev: newEvents()}
	if h.cfg.Channels == nil {
		h.cfg.Channels = []config.SMSChannel{{Name: "main", Modems: []string{"a", "b", "c"}}}
	}
	if h.cfg.Sink == nil {
		h.cfg.Sink = h.ev
	}
	if h.cfg.Logger == nil {
		h.cfg.Logger = testkit.Logger()
	}
	if h.cfg.Recheck == 0 {
		h.cfg.Recheck = 10 * time.Millisecond
	}
	if h.cfg.RetryBackoff == 0 {
		h.cfg.RetryBackoff = time.Millisecond
	}
	h.open()
	t.Cleanup(h.close)
	return h
}

// open opens the store and the pool (not running).
func (h *harness) open() {
	h.t.Helper()
	h.st = openStoreSync(h.t, h.dir, h.syncWrites)
	cfg := h.cfg
	cfg.Store = h.st
	ib, err := inbox.New(inbox.Config{Store: h.st, Logger: cfg.Logger, RetryBackoff: cfg.RetryBackoff})
	if err != nil {
		h.t.Fatal(err)
	}
	h.inbox, cfg.Inbox = ib, ib
	p, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.pool = p
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	if err := h.inbox.Register(h.ev); err != nil {
		h.t.Fatal(err)
	}
	go func() {
		ib := make(chan error, 1)
		go func() { ib <- h.inbox.Run(ctx) }()
		err := h.pool.Run(ctx)
		h.done <- errors.Join(err, <-ib)
	}()
}

// stop stops Run (waiting for sends in progress) and closes the store.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel != nil {
		h.cancel()
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			h.t.Fatal("Run did not return after cancel")
		}
		h.cancel = nil
	}
	if h.st != nil {
		if err := h.st.Close(); err != nil {
			h.t.Errorf("close store: %v", err)
		}
		h.st = nil
	}
}

func (h *harness) close() { h.stop() }

func (h *harness) enqueue(msgs ...message.Outbound) {
	h.t.Helper()
	for _, m := range msgs {
		if err := h.pool.Enqueue(context.Background(), m); err != nil {
			h.t.Fatalf("Enqueue %s: %v", m.ID, err)
		}
	}
}

func (h *harness) attach(ms ...*fakeModem) {
	h.t.Helper()
	for _, m := range ms {
		if err := h.pool.Attach(m); err != nil {
			h.t.Fatal(err)
		}
	}
}

func msgs(n int, prefix string) []message.Outbound {
	out := make([]message.Outbound, n)
	for i := range out {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		out[i] = message.Outbound{ID: id, Channel: "main", To: "+4915112345678", Text: "text " + id}
	}
	return out
}

func ids(ms []message.Outbound) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// deliverPDUs builds the SMS-DELIVER TPDUs a phone at from would send for
// text, via the project's own SUBMIT encoder.
func deliverPDUs(t testing.TB, enc *gsms.Encoder, from, text string) [][]byte {
	t.Helper()
	parts, err := enc.Submit(from, text, false)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(parts))
	for i, p := range parts {
		out[i] = deliverFromSubmit(p.TPDU)
	}
	return out
}

// deliverFromSubmit turns an SMS-SUBMIT into the SMS-DELIVER the recipient
// gets; the submit's destination becomes the originator.
func deliverFromSubmit(s []byte) []byte {
	fo := s[0]
	daLen := 2 + (int(s[2])+1)/2
	da := s[2 : 2+daLen]
	rest := s[2+daLen:]         // PID, DCS, UDL, UD (no VP set by the encoder)
	d := []byte{fo&0x40 | 0x04} // DELIVER, UDHI kept, no more messages
	d = append(d, da...)
	d = append(d, rest[0], rest[1])
	d = append(d, 0x62, 0x11, 0x12, 0x32, 0x95, 0x00, 0x00) // 2026-11-21 23:59:00 +00
	return append(d, rest[2:]...)
}

// Txn is the store's transaction type, for tests that look into the store.
type Txn = store.Txn

func storeCount(txn *Txn, prefix string) int { return store.Count(txn, prefix) }
