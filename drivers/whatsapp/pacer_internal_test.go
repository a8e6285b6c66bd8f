package whatsapp

import (
	"context"
	"sync"
	"testing"
	"time"
)

// stepClock is a Clock the test moves by hand: Sleep blocks until the
// test has advanced past its deadline.
type stepClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []stepWaiter
}

type stepWaiter struct {
	at   time.Time
	wake chan struct{}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	w := stepWaiter{at: c.now.Add(d), wake: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	select {
	case <-w.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *stepClock) sleeping() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// advance moves the clock and wakes the sleepers that are due.
func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		close(w.wake)
	}
	c.waiters = kept
	c.mu.Unlock()
}

// TestWirePacerWindowOnWriteTimes: at 10/s the pacer spaces releases
// 1/9.9 s apart; when the first request was written to the connection
// 200 ms late, the eleventh waits until a second (plus the margin) after
// that write instead of taking its slot 1.01 s after the first release —
// so no second on the wire holds eleven requests.
func TestWirePacerWindowOnWriteTimes(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	clk := &stepClock{now: t0}
	p := newWirePacer(clk, 10)
	const n = 11
	tickets := make([]*ticket, n)
	released := make([]chan struct{}, n)
	for i := range n {
		tk, err := p.claim(string(rune('a'+i)), bulk)
		if err != nil {
			t.Fatal(err)
		}
		tickets[i], released[i] = tk, make(chan struct{})
		go func() {
			if err := p.await(context.Background(), tk); err != nil {
				t.Error(err)
			}
			close(released[i])
		}()
		for {
			p.mu.Lock()
			queued := tk.state != claimed
			p.mu.Unlock()
			if queued {
				break
			}
			time.Sleep(time.Millisecond) // until it is queued, to fix the order
		}
	}
	<-released[0]
	p.wrote(tickets[0], t0.Add(200*time.Millisecond))
	settle := func() {
		deadline := time.Now().Add(10 * time.Second) // failure guard only
		for clk.sleeping() == 0 {
			p.mu.Lock()
			running := p.running
			p.mu.Unlock()
			if !running || time.Now().After(deadline) {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	settle()
	for clk.Now().Before(t0.Add(1300 * time.Millisecond)) {
		clk.advance(time.Millisecond)
		settle()
	}
	for i := range n {
		if !isClosed(released[i]) {
			t.Fatalf("request %d not released by t0+1.3s", i+1)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	iv := p.interval
	for i := 1; i < n-1; i++ {
		want := t0.Add(time.Duration(i) * iv)
		if d := tickets[i].wire.Sub(want); d < 0 || d > time.Millisecond {
			t.Errorf("request %d released at t0+%v, want its slot t0+%v", i+1, tickets[i].wire.Sub(t0), want.Sub(t0))
		}
	}
	guard := t0.Add(200*time.Millisecond + time.Second + wireMargin)
	if got := tickets[n-1].wire; got.Before(guard) || got.After(guard.Add(time.Millisecond)) {
		t.Errorf("request 11 released at t0+%v, want t0+%v (a second after request 1 was written)", got.Sub(t0), guard.Sub(t0))
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestWirePacerCatchUpBurstBounded: at 1,000/s a release loop that wakes
// 100 ms late may catch up at most maxCatchUp slots at once (it used to
// release 50 requests in one burst, which reached the HTTP server's
// handlers bunched up); the rest follow at their slots.
func TestWirePacerCatchUpBurstBounded(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	clk := &stepClock{now: t0}
	p := newWirePacer(clk, 1000)
	const n = 60
	released := make([]chan struct{}, n)
	for i := range n {
		tk, err := p.claim(string(rune(0x100+i)), bulk)
		if err != nil {
			t.Fatal(err)
		}
		released[i] = make(chan struct{})
		go func() {
			if err := p.await(context.Background(), tk); err != nil {
				t.Error(err)
			}
			close(released[i])
		}()
		for {
			p.mu.Lock()
			queued := tk.state != claimed
			p.mu.Unlock()
			if queued {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	settle := func() {
		deadline := time.Now().Add(10 * time.Second) // failure guard only
		for clk.sleeping() == 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	settle()
	count := func() int {
		k := 0
		for _, r := range released {
			if isClosed(r) {
				k++
			}
		}
		return k
	}
	// Let the channels of released requests close.
	time.Sleep(10 * time.Millisecond)
	before := count()
	if before != 1 {
		t.Fatalf("%d released at t0, want 1", before)
	}
	clk.advance(100 * time.Millisecond) // the loop wakes 100 ms late
	settle()
	time.Sleep(10 * time.Millisecond)
	burst := count() - before
	if burst > maxCatchUp+1 {
		t.Fatalf("%d requests released at once after a 100 ms late wake-up, want at most %d", burst, maxCatchUp+1)
	}
	if burst < maxCatchUp {
		t.Fatalf("only %d requests released after a 100 ms late wake-up, want the %d slots of catch-up", burst, maxCatchUp)
	}
}

// TestWirePacerWindowOnResponseTimes: when the channel reports when a
// response began to arrive (the server had the request by then), the
// eleventh request at 10/s waits until a second after the first one's
// response — the server may have read the first request that late — and
// not only a second after its write.
func TestWirePacerWindowOnResponseTimes(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	clk := &stepClock{now: t0}
	p := newWirePacer(clk, 10)
	const n = 11
	tickets := make([]*ticket, n)
	released := make([]chan struct{}, n)
	for i := range n {
		tk, err := p.claim(string(rune('a'+i)), bulk)
		if err != nil {
			t.Fatal(err)
		}
		tickets[i], released[i] = tk, make(chan struct{})
		go func() {
			if err := p.await(context.Background(), tk); err != nil {
				t.Error(err)
			}
			close(released[i])
		}()
		for {
			p.mu.Lock()
			queued := tk.state != claimed
			p.mu.Unlock()
			if queued {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	<-released[0]
	p.wrote(tickets[0], t0)                               // written at once
	p.responded(tickets[0], t0.Add(300*time.Millisecond)) // answered 300 ms later
	settle := func() {
		deadline := time.Now().Add(10 * time.Second) // failure guard only
		for clk.sleeping() == 0 {
			p.mu.Lock()
			running := p.running
			p.mu.Unlock()
			if !running || time.Now().After(deadline) {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	settle()
	for clk.Now().Before(t0.Add(1400 * time.Millisecond)) {
		clk.advance(time.Millisecond)
		settle()
	}
	if !isClosed(released[n-1]) {
		t.Fatal("request 11 not released by t0+1.4s")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	guard := t0.Add(300*time.Millisecond + time.Second + seenMargin)
	if got := tickets[n-1].wire; got.Before(guard) || got.After(guard.Add(time.Millisecond)) {
		t.Errorf("request 11 released at t0+%v, want t0+%v (a second after request 1's response)", got.Sub(t0), guard.Sub(t0))
	}
}
