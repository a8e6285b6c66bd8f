package retention

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Daily prunes at once with the cut-off keep before now, logs the count
// and returns when ctx ends; keep 0 never prunes (and returns at once).
func TestDaily(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var got []time.Time
	done := make(chan struct{})
	go func() {
		Daily(ctx, 48*time.Hour, func() time.Time { return now }, func(_ context.Context, before time.Time) (int, error) {
			got = append(got, before)
			cancel()
			return 3, nil
		}, log, "test")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Daily did not return after ctx ended")
	}
	if len(got) != 1 || !got[0].Equal(now.Add(-48*time.Hour)) {
		t.Errorf("pruned with %v, want once before %v", got, now.Add(-48*time.Hour))
	}
	if !strings.Contains(buf.String(), "test: pruned old entries") || !strings.Contains(buf.String(), "deleted=3") {
		t.Errorf("log %q", buf.String())
	}

	called := false
	Daily(context.Background(), 0, time.Now, func(context.Context, time.Time) (int, error) {
		called = true
		return 0, errors.New("must not run")
	}, log, "test")
	if called {
		t.Error("retention 0 pruned")
	}
}
