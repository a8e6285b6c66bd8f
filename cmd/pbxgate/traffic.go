package main

import (
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/web"
)

// traffic counts sent, delivered and failed messages of all channels in
// hourly buckets over the last day, for the dashboard's chart. It is fed by
// the status router and lives in memory: after a restart the chart starts
// empty (the per-message history stays in the store).
type traffic struct {
	mu      sync.Mutex
	buckets [24]web.TrafficBucket // ring, indexed by hour since the epoch
}

func (t *traffic) count(ev message.StatusEvent) {
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	start := at.Truncate(time.Hour)
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &t.buckets[start.Unix()/3600%24]
	if !b.Start.Equal(start) {
		if b.Start.After(start) {
			return // older than the window
		}
		*b = web.TrafficBucket{Start: start}
	}
	switch ev.Status {
	case message.Sent:
		b.Sent++
	case message.Delivered, message.Read:
		b.Delivered++
	case message.Failed:
		b.Failed++
	}
}

// history returns the 24 hours up to now, oldest first, with empty hours.
func (t *traffic) history(now time.Time) []web.TrafficBucket {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]web.TrafficBucket, 24)
	cur := now.Truncate(time.Hour)
	for i := range out {
		start := cur.Add(time.Duration(i-23) * time.Hour)
		out[i] = web.TrafficBucket{Start: start}
		if b := t.buckets[start.Unix()/3600%24]; b.Start.Equal(start) {
			out[i] = b
		}
	}
	return out
}
