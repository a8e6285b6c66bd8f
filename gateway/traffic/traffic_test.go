package traffic

import (
	"context"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

func TestTrafficHistoryBuckets(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 15, 30, 0, 0, time.UTC)
	var tr Counter
	ev := func(ago time.Duration, s message.Status) {
		tr.Count(message.StatusEvent{Status: s, At: now.Add(-ago)})
	}
	ev(0, message.Sent)
	ev(time.Minute, message.Sent)
	ev(2*time.Minute, message.Delivered)
	ev(3*time.Minute, message.Read)
	ev(time.Hour, message.Failed)
	ev(25*time.Hour, message.Sent) // outside the day: its slot is reused
	ev(30*time.Minute, message.Queued)
	h := tr.History(now)
	if len(h) != 24 || !h[23].Start.Equal(now.Truncate(time.Hour)) || !h[0].Start.Equal(now.Truncate(time.Hour).Add(-23*time.Hour)) {
		t.Fatalf("window: %d buckets from %v to %v", len(h), h[0].Start, h[len(h)-1].Start)
	}
	if b := h[23]; b.Sent != 2 || b.Delivered != 2 || b.Failed != 0 {
		t.Errorf("this hour: %+v", b)
	}
	if b := h[22]; b.Sent != 0 || b.Failed != 1 {
		t.Errorf("last hour: %+v", b)
	}
	total := 0
	for _, b := range h {
		total += b.Sent + b.Delivered + b.Failed
	}
	if total != 5 {
		t.Errorf("counted %d events in the day, want 5 (the one 25 h ago and the queued one do not count)", total)
	}
}

// The chart survives a restart: saved at shutdown, loaded at start.
func TestTrafficSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := testkit.StoreAt(t, dir)
	now := time.Now()
	var tr Counter
	tr.Count(message.StatusEvent{Status: message.Sent, At: now})
	tr.Count(message.StatusEvent{Status: message.Failed, At: now.Add(-2 * time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, st, time.Hour) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = testkit.StoreAt(t, dir)
	defer st.Close()
	var again Counter
	if err := again.Load(st); err != nil {
		t.Fatal(err)
	}
	h := again.History(now)
	if h[23].Sent != 1 || h[21].Failed != 1 {
		t.Fatalf("after restart: this hour %+v, two hours ago %+v", h[23], h[21])
	}
}
