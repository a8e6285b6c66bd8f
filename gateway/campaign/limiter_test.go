package campaign

import (
	"context"
	"testing"
	"time"
)

func TestLimiterPacesWithBurst(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(baseTime())
	l := newLimiter(clk, 600) // 10/s: burst of 10, then one every 100 ms
	n, err := l.take(context.Background(), 64)
	if err != nil || n != 10 {
		t.Fatalf("first take %d %v", n, err)
	}
	clk.Advance(250 * time.Millisecond)
	if n, _ := l.take(context.Background(), 64); n != 2 {
		t.Errorf("after 250ms: %d, want 2", n)
	}
	// Nothing available: take waits on the clock until the next slot.
	got := make(chan int)
	reg := clk.Registered()
	go func() {
		n, _ := l.take(context.Background(), 64)
		got <- n
	}()
	clk.waitRegistered(t, reg)
	clk.Advance(50 * time.Millisecond)
	if n := <-got; n != 1 {
		t.Errorf("after waiting: %d, want 1", n)
	}
	// A long pause refills only up to the burst.
	clk.Advance(time.Hour)
	if n, _ := l.take(context.Background(), 64); n != 10 {
		t.Errorf("after an hour: %d, want 10", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.take(ctx, 1); err == nil {
		t.Error("cancelled take must fail")
	}
	if n, _ := newLimiter(clk, 0).take(context.Background(), 64); n != 64 {
		t.Errorf("unlimited: %d", n)
	}
}
