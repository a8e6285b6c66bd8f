package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/web"
)

// traffic counts sent, delivered and failed messages of all channels in
// hourly buckets over the last day, for the dashboard's chart. It is fed by
// the status router, kept in memory and saved to the store every minute
// and at shutdown, so a restart (the portal restarts the daemon to apply
// settings) keeps the chart; a crash loses at most the last minute.
type traffic struct {
	mu      sync.Mutex
	buckets [24]web.TrafficBucket // ring, indexed by hour since the epoch
	dirty   bool
}

const trafficKey = "dashboard/traffic"

// load restores the buckets saved by a previous run.
func (t *traffic) load(st *store.Store) error {
	var saved []web.TrafficBucket
	err := st.View(func(txn *store.Txn) error { return store.GetJSON(txn, trafficKey, &saved) })
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range saved {
		if slot := &t.buckets[b.Start.Unix()/3600%24]; b.Start.After(slot.Start) {
			*slot = b
		}
	}
	return nil
}

// save writes the buckets if they changed since the last save.
func (t *traffic) save(st *store.Store) error {
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return nil
	}
	var out []web.TrafficBucket
	for _, b := range t.buckets {
		if !b.Start.IsZero() {
			out = append(out, b)
		}
	}
	t.dirty = false
	t.mu.Unlock()
	return st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, trafficKey, out) })
}

// run saves the buckets every interval and once more when ctx ends.
func (t *traffic) run(ctx context.Context, st *store.Store, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return t.save(st)
		case <-tick.C:
			if err := t.save(st); err != nil {
				return err
			}
		}
	}
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
	t.dirty = true
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
