package main

import (
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

func TestTrafficHistoryBuckets(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 15, 30, 0, 0, time.UTC)
	var tr traffic
	ev := func(ago time.Duration, s message.Status) {
		tr.count(message.StatusEvent{Status: s, At: now.Add(-ago)})
	}
	ev(0, message.Sent)
	ev(time.Minute, message.Sent)
	ev(2*time.Minute, message.Delivered)
	ev(3*time.Minute, message.Read)
	ev(time.Hour, message.Failed)
	ev(25*time.Hour, message.Sent) // outside the day: its slot is reused
	ev(30*time.Minute, message.Queued)
	h := tr.history(now)
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
