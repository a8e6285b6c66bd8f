package telegram

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The pacer keeps Telegram's limits (Bots FAQ: about 30 messages per
// second overall, one per second per chat) and lets an interactive
// message overtake a campaign's waiting messages.
func TestPacerLimitsAndInteractiveFirst(t *testing.T) {
	t.Parallel()
	p := newPacer(10, 200*time.Millisecond)
	now := time.Now()
	// Overall: 10/s is a 100 ms gap between any two messages.
	a, b := p.reserve(1, now), p.reserve(2, now)
	if b.Sub(a) != 100*time.Millisecond {
		t.Fatalf("overall gap %s", b.Sub(a))
	}
	// Per chat: the third message to chat 1 waits for its 200 ms gap.
	if c := p.reserve(1, now); c.Sub(a) != 200*time.Millisecond {
		t.Fatalf("per-chat gap %s", c.Sub(a))
	}

	// Bulk for chat 10..14 queued first, then one interactive message:
	// the interactive one goes before all but at most one bulk message.
	p = newPacer(10, 0+time.Nanosecond)
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.wait(ctx, int64(10+i), true)
			mu.Lock()
			order = append(order, "bulk")
			mu.Unlock()
		}()
	}
	time.Sleep(20 * time.Millisecond) // the campaign's messages wait
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = p.wait(ctx, 99, false)
		mu.Lock()
		order = append(order, "interactive")
		mu.Unlock()
	}()
	wg.Wait()
	pos := -1
	for i, o := range order {
		if o == "interactive" {
			pos = i
		}
	}
	if pos < 0 || pos > 2 {
		t.Fatalf("order %v: the interactive message waited behind the campaign", order)
	}
}

// A 429's retry_after holds every send back.
func TestPacerHoldAfter429(t *testing.T) {
	t.Parallel()
	p := newPacer(30, time.Second)
	p.hold(2 * time.Second)
	at := p.reserve(5, time.Now())
	if d := time.Until(at); d < 1900*time.Millisecond {
		t.Fatalf("next send in %s after a 2 s retry_after", d)
	}
}
