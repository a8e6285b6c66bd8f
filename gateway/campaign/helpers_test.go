package campaign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// fakeClock fires After channels only when the test advances it.
type fakeClock struct {
	mu         sync.Mutex
	now        time.Time
	waiters    []waiter
	registered int // After calls so far, to know a waiter is parked
	cond       chan struct{}
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t, cond: make(chan struct{})} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.registered++
	close(c.cond)
	c.cond = make(chan struct{})
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
}

// Registered returns how many After calls were made.
func (c *fakeClock) Registered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.registered
}

// waitRegistered blocks until more than n After calls were made.
func (c *fakeClock) waitRegistered(t *testing.T, n int) {
	t.Helper()
	// A failure guard only: under a loaded CI the engine's goroutine may
	// take seconds to reach its next wait.
	deadline := time.After(60 * time.Second)
	for {
		c.mu.Lock()
		got, ch := c.registered, c.cond
		c.mu.Unlock()
		if got > n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("clock: no After call beyond %d", n)
		}
	}
}

// ledger is what a channel has transmitted, surviving "restarts" of the
// channel like the modem pool's own store does.
type ledger struct {
	mu          sync.Mutex
	transmitted map[string]int // message ID -> transmissions
	to          map[string]int // number -> transmissions
	calls       int
}

func newLedger() *ledger { return &ledger{transmitted: map[string]int{}, to: map[string]int{}} }

func (l *ledger) perNumber() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.to {
		out[k] = v
	}
	return out
}

// testChannel is the campaign's own Channel port: it records Sends, is
// idempotent by ID (as the contract requires), and lets the test block,
// reject or fail sends.
type testChannel struct {
	name string
	kind message.Kind
	max  int
	led  *ledger

	mu        sync.Mutex
	sent      []message.Outbound
	templates []TemplateMessage
	reject    map[string]bool // number -> ErrRejected
	fail      error           // every Send fails with it
	blockAt   int             // the blockAt-th call transmits, then blocks until unblock/ctx
	unblock   chan struct{}
	blocked   chan struct{} // closed when a call blocks
	unsafe    bool          // ResendSafe false
	// eng receives the channel's "sent" report for every accepted message,
	// as a real channel reports once it transmitted; nil: no reports.
	eng   atomic.Pointer[Engine]
	quiet bool // accept without reporting (tests that emit statuses themselves)
}

func newTestChannel(name string, led *ledger) *testChannel {
	return &testChannel{name: name, kind: message.SMS, led: led, reject: map[string]bool{}, unblock: make(chan struct{}), blocked: make(chan struct{})}
}

func (c *testChannel) Name() string       { return c.name }
func (c *testChannel) Kind() message.Kind { return c.kind }
func (c *testChannel) MaxPerMinute() int  { return c.max }

func (c *testChannel) Send(ctx context.Context, m message.Outbound) error {
	c.mu.Lock()
	if c.fail != nil {
		err := c.fail
		c.mu.Unlock()
		return err
	}
	if c.reject[m.To] {
		c.mu.Unlock()
		return fmt.Errorf("%w: number %s is barred", ErrRejected, m.To)
	}
	c.sent = append(c.sent, m)
	c.mu.Unlock()

	c.led.mu.Lock()
	c.led.calls++
	call := c.led.calls
	if c.led.transmitted[m.ID] == 0 {
		c.led.to[m.To]++
	}
	c.led.transmitted[m.ID]++
	c.led.mu.Unlock()

	if c.blockAt > 0 && call == c.blockAt {
		close(c.blocked)
		select {
		case <-c.unblock:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e := c.eng.Load(); e != nil && !c.quiet {
		if err := e.HandleStatus(ctx, message.StatusEvent{ID: m.ID, Status: message.Sent, Sender: c.name, At: time.Now()}); err != nil && ctx.Err() == nil {
			return fmt.Errorf("report sent: %w", err)
		}
	}
	return nil
}

func (c *testChannel) SendTemplate(ctx context.Context, m message.Outbound, t TemplateMessage) error {
	c.mu.Lock()
	c.templates = append(c.templates, t)
	c.mu.Unlock()
	return c.Send(ctx, m)
}

func (c *testChannel) ResendSafe() bool { return !c.unsafe }

func (c *testChannel) sends() []message.Outbound {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]message.Outbound(nil), c.sent...)
}

type env struct {
	t      testing.TB
	dir    string
	st     *store.Store
	e      *Engine
	clk    *fakeClock
	chans  map[string]Channel
	cancel context.CancelFunc
	done   chan error
	cfg    Config
}

func baseTime() time.Time { return time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC) }

// newEnv opens a store in dir (t.TempDir() when empty) and starts an engine.
func newEnv(t testing.TB, dir string, cfg Config, chans ...Channel) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	st := testkit.StoreAt(t, dir)
	ev := &env{t: t, dir: dir, st: st, chans: map[string]Channel{}}
	for _, c := range chans {
		ev.chans[c.Name()] = c
	}
	if cfg.Clock == nil {
		ev.clk = newFakeClock(baseTime())
		cfg.Clock = ev.clk
	} else {
		ev.clk, _ = cfg.Clock.(*fakeClock)
	}
	cfg.Store, cfg.Channels = st, ev.chans
	if cfg.DNC == nil {
		cfg.DNC = recipients.NewLists(st)
	}
	if cfg.Location == nil {
		cfg.Location, _ = time.LoadLocation("Europe/Berlin")
	}
	if cfg.Region == "" {
		cfg.Region = "DE"
	}
	ev.cfg = cfg
	e, err := New(cfg)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ev.e = e
	for _, c := range chans {
		if tc, ok := c.(*testChannel); ok {
			tc.eng.Store(ev.e)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ev.cancel, ev.done = cancel, make(chan error, 1)
	go func() { ev.done <- ev.e.Run(ctx) }()
	t.Cleanup(ev.close)
	return ev
}

// close stops the engine and closes the store (idempotent).
func (ev *env) close() {
	if ev.cancel == nil {
		return
	}
	ev.cancel()
	select {
	case <-ev.done:
	case <-time.After(10 * time.Second):
		ev.t.Error("engine did not stop")
	}
	ev.cancel = nil
	ev.st.Close()
}

// crash stops the engine like close but leaves the store as a crash of
// the daemon would: the clean-stop file is gone, so the next start finds
// only the store's half of the record (a crash between the halves) and
// must treat the stop like a crash.
func (ev *env) crash() {
	ev.t.Helper()
	ev.close()
	if err := os.Remove(filepath.Join(ev.dir, cleanStopFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		ev.t.Fatal(err)
	}
}

// waitFor waits until cond holds, re-checking at every engine change.
func (ev *env) waitFor(what string, cond func() bool) {
	ev.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ch := ev.e.Changes()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			ev.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (ev *env) get(id string) Campaign {
	ev.t.Helper()
	c, err := ev.e.Get(context.Background(), id)
	if err != nil {
		ev.t.Fatal(err)
	}
	return c
}

func (ev *env) waitState(id string, s State) Campaign {
	ev.t.Helper()
	ev.waitFor(fmt.Sprintf("campaign %s to be %s", id, s), func() bool { return ev.get(id).State == s })
	return ev.get(id)
}

func (ev *env) recipients(id string) []Recipient {
	ev.t.Helper()
	rs, err := ev.e.allRecipients(id)
	if err != nil {
		ev.t.Fatal(err)
	}
	return rs
}

func numbers(n int) []recipients.Recipient {
	out := make([]recipients.Recipient, n)
	for i := range out {
		out[i] = recipients.Recipient{Number: fmt.Sprintf("+4915112%06d", i), Vars: map[string]string{"first_name": fmt.Sprintf("P%d", i)}}
	}
	return out
}

func smsSpec(name, ch string, when string) Spec {
	return Spec{Name: name, Channel: ch, Content: Content{Text: "Hallo {{first_name}}, Ihr Termin steht."}, When: When{Kind: when}}
}

func states(c Campaign) []State {
	var out []State
	for _, h := range c.History {
		out = append(out, h.To)
	}
	return out
}

func mustErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
