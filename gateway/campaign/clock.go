package campaign

import (
	"context"
	"time"
)

// Clock is the engine's time source; tests inject a fake one to fire
// schedules (across daylight-saving changes) and throttles deterministically.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// limiter paces one campaign at perMin messages per minute with a burst of
// one second's worth (at least one). It works on whole intervals of the
// clock so a fake clock gives exact results.
type limiter struct {
	clock    Clock
	interval time.Duration
	burst    int
	next     time.Time // when the next message may go
}

func newLimiter(c Clock, perMin int) *limiter {
	if perMin <= 0 {
		return &limiter{clock: c}
	}
	return &limiter{clock: c, interval: time.Minute / time.Duration(perMin), burst: max(1, perMin/60)}
}

// take waits until at least one message may go and returns how many (at
// most maxN) may go now.
func (l *limiter) take(ctx context.Context, maxN int) (int, error) {
	if l.interval == 0 {
		return maxN, ctx.Err()
	}
	for {
		now := l.clock.Now()
		if floor := now.Add(-time.Duration(l.burst-1) * l.interval); l.next.Before(floor) {
			l.next = floor
		}
		if !l.next.After(now) {
			n := min(maxN, int(now.Sub(l.next)/l.interval)+1)
			l.next = l.next.Add(time.Duration(n) * l.interval)
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-l.clock.After(l.next.Sub(now)):
		}
	}
}
