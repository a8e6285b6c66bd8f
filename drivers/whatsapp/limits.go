package whatsapp

import (
	"context"
	"sync"
	"time"
)

// Clock is the time source of the rate limiters, the service window, the
// messaging tier and the retry backoff; tests inject a virtual one.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pacer spaces events evenly: at most one per interval after an initial
// burst (GCRA). Reserve never lets two callers have the same slot, so
// concurrent senders together stay at or below the rate. It paces the
// messages to one recipient (Meta's pair rate); the channel's throughput
// is paced on the wire by wirePacer.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	burst    time.Duration // how far ahead of the ideal schedule callers may run
	tat      time.Time     // theoretical arrival time of the next event
}

func newIntervalPacer(iv time.Duration, burst int) *pacer {
	if burst < 1 {
		burst = 1
	}
	return &pacer{interval: iv, burst: time.Duration(burst-1) * iv}
}

// reserve books the next slot and returns how long to wait for it.
func (p *pacer) reserve(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tat.Before(now) {
		p.tat = now
	}
	wait := p.tat.Sub(now) - p.burst
	p.tat = p.tat.Add(p.interval)
	if wait < 0 {
		return 0
	}
	return wait
}

// cancel gives a reserved slot back (the caller gave up waiting).
func (p *pacer) cancel() {
	p.mu.Lock()
	p.tat = p.tat.Add(-p.interval)
	p.mu.Unlock()
}

// idle reports whether the pacer has no effect any more at now, so the
// pair limiter can forget it.
func (p *pacer) idle(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.tat.After(now)
}

// wait books a slot and sleeps until it, giving it back when ctx ends.
func (p *pacer) wait(ctx context.Context, clk Clock) error {
	d := p.reserve(clk.Now())
	if d == 0 {
		return ctx.Err()
	}
	if err := clk.Sleep(ctx, d); err != nil {
		p.cancel()
		return err
	}
	return nil
}

// pairLimiter keeps Meta's pair rate: about one message per 6 s to the same
// user, with a small burst borrowed from later.
type pairLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	burst    int
	users    map[string]*pacer
	lastGC   time.Time
}

func newPairLimiter(interval time.Duration, burst int) *pairLimiter {
	return &pairLimiter{interval: interval, burst: burst, users: map[string]*pacer{}}
}

func (l *pairLimiter) pacerFor(to string, now time.Time) *pacer {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget idle users now and then so a campaign to 100,000 numbers
	// does not keep 100,000 pacers.
	if now.Sub(l.lastGC) > time.Minute {
		for k, p := range l.users {
			if p.idle(now) {
				delete(l.users, k)
			}
		}
		l.lastGC = now
	}
	p := l.users[to]
	if p == nil {
		p = newIntervalPacer(l.interval, l.burst)
		l.users[to] = p
	}
	return p
}

func (l *pairLimiter) wait(ctx context.Context, clk Clock, to string) error {
	return l.pacerFor(to, clk.Now()).wait(ctx, clk)
}
