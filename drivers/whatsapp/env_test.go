package whatsapp_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// virtualClock is a Clock whose Sleep advances time at once, so backoff and
// rate limits run in virtual time: no test waits seconds, none depends on
// the machine's speed. Shared with the emulator (Options.Now), both sides
// agree on what "one second" is.
type virtualClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newVirtualClock() *virtualClock {
	return &virtualClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
		c.sleeps = append(c.sleeps, d)
	}
	return nil
}

func (c *virtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *virtualClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// sinks collects what the channel reports.
type sinks struct {
	mu       sync.Mutex
	statuses map[string][]message.StatusEvent
	inbound  []message.Inbound
	changed  chan struct{}
}

func newSinks() *sinks {
	return &sinks{statuses: map[string][]message.StatusEvent{}, changed: make(chan struct{}, 1)}
}

func (s *sinks) HandleStatus(_ context.Context, ev message.StatusEvent) error {
	s.mu.Lock()
	s.statuses[ev.ID] = append(s.statuses[ev.ID], ev)
	s.mu.Unlock()
	s.poke()
	return nil
}

// Inbound takes messages from the inbox (gateway/inbox.Consumer).
func (s *sinks) Inbound(_ context.Context, in message.Inbound) error {
	s.mu.Lock()
	s.inbound = append(s.inbound, in)
	s.mu.Unlock()
	s.poke()
	return nil
}

func (s *sinks) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// waitFor polls cond on every sink change, failing after a guard timeout.
func (s *sinks) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	guard := time.NewTimer(60 * time.Second) // failure guard only; CI runs many packages at once
	defer guard.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.changed:
		case <-time.After(50 * time.Millisecond):
		case <-guard.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (s *sinks) inboundCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbound)
}

// env is a channel wired to an emulator over loopback HTTP, with the
// channel's webhook as the emulator's callback.
type env struct {
	t       testing.TB
	emu     *waemu.Server
	emuSrv  *httptest.Server
	hookSrv *httptest.Server
	st      *store.Store
	ch      *whatsapp.Channel
	hookCh  atomic.Pointer[whatsapp.Channel] // what the webhook server calls; swapped on restart
	opts    whatsapp.Options
	sinks   *sinks
	inbox   *inbox.Inbox   // the gateway's inbox on the channel's store
	consume inbox.Consumer // takes the inbox's messages; default sinks
	clock   *virtualClock  // nil: wall clock
	ctx     context.Context
	stopCh  func()
}

type envConfig struct {
	virtual bool
	emu     func(*waemu.Options)
	ch      func(*whatsapp.Options)
	consume func(*sinks) inbox.Consumer     // wraps the sinks as the inbox's consumer
	wrap    func(http.Handler) http.Handler // around the emulator
}

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	e := &env{t: t, sinks: newSinks()}
	e.consume = e.sinks
	if cfg.consume != nil {
		e.consume = cfg.consume(e.sinks)
	}
	eo := waemu.Options{PairInterval: 6 * time.Second}
	if cfg.virtual {
		e.clock = newVirtualClock()
		eo.Now = e.clock.Now
	}
	if cfg.emu != nil {
		cfg.emu(&eo)
	}
	e.emu = waemu.New(eo)
	var h http.Handler = e.emu
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	e.emuSrv = httptest.NewServer(h)
	ctx, cancel := context.WithCancel(context.Background())
	e.ctx = ctx
	var wg sync.WaitGroup
	wg.Go(func() { e.emu.Run(ctx) })
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	eff := e.emu.Options()
	e.opts = whatsapp.Options{
		BaseURL: e.emuSrv.URL, APIVersion: "v23.0",
		PhoneNumberID: eff.PhoneNumberID, BusinessAccountID: eff.WABAID,
		Token: eff.Token, AppSecret: eff.AppSecret, VerifyToken: "verify-me",
		MessagesPerSecond: 1000, Tier: 0, RequestTimeout: 10 * time.Second,
		// The number's standing is read from the emulator only by the
		// tests of it (phone_test.go): others keep the tier they set.
		PhoneInfoInterval: -1,
		Store:             st, Statuses: e.sinks, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if e.clock != nil {
		e.opts.Clock = e.clock
	}
	if cfg.ch != nil {
		cfg.ch(&e.opts)
	}
	e.startChannel()
	e.hookSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hookCh.Load().Webhook().ServeHTTP(w, r)
	}))
	e.emu.SetCallbackURL(e.hookSrv.URL + whatsapp.WebhookPath)
	t.Cleanup(func() {
		e.stopCh()
		cancel()
		wg.Wait()
		e.hookSrv.Close()
		e.emuSrv.Close()
		st.Close()
	})
	return e
}

// startChannel (re)creates the channel on the same store, as a restart.
func (e *env) startChannel() {
	e.t.Helper()
	if e.stopCh != nil {
		e.stopCh()
	}
	ib, err := inbox.New(inbox.Config{Store: e.opts.Store, RetryBackoff: e.opts.WebhookRetry})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := ib.Register(e.consume); err != nil {
		e.t.Fatal(err)
	}
	opts := e.opts
	opts.Inbox = ib
	ch, err := whatsapp.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { _ = ib.Run(ctx) })
		ch.Run(ctx)
		wg.Wait()
		close(done)
	}()
	e.inbox = ib
	e.ch = ch
	e.hookCh.Store(ch)
	e.stopCh = func() { cancel(); <-done }
}

// openWindow has user write to the business and waits until the channel
// processed it.
func (e *env) openWindow(user string) {
	e.t.Helper()
	n := e.sinks.inboundCount()
	if _, err := e.emu.Inject(context.Background(), waemu.Inbound{From: user, Name: "Test User", Type: "text", Text: "hallo"}); err != nil {
		e.t.Fatal(err)
	}
	e.sinks.waitFor(e.t, "inbound from "+user, func() bool { return len(e.sinks.inbound) > n })
}
