// Package traffic counts sent, delivered and failed messages of all
// channels in hourly buckets over the last day, for the dashboard's chart.
// The status-event router feeds it (Count); it is kept in memory and saved
// to the store every interval and at shutdown (Run), so a restart (the
// portal restarts the daemon to apply settings) keeps the chart; a crash
// loses at most the last interval.
package traffic

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Bucket counts the messages of one hour.
type Bucket struct {
	Start     time.Time `json:"start"`
	Sent      int       `json:"sent"`
	Delivered int       `json:"delivered"` // delivered or read
	Failed    int       `json:"failed"`
}

// Key is where the buckets are saved.
const Key = "dashboard/traffic"

// Counter is the chart's data. The zero value is empty and ready.
type Counter struct {
	mu      sync.Mutex
	buckets [24]Bucket // ring, indexed by hour since the epoch
	dirty   bool
}

// Load restores the buckets saved by a previous run.
func (t *Counter) Load(st *store.Store) error {
	var saved []Bucket
	err := st.View(func(txn *store.Txn) error { return store.GetJSON(txn, Key, &saved) })
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

// Save writes the buckets if they changed since the last save.
func (t *Counter) Save(st *store.Store) error {
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return nil
	}
	var out []Bucket
	for _, b := range t.buckets {
		if !b.Start.IsZero() {
			out = append(out, b)
		}
	}
	t.dirty = false
	t.mu.Unlock()
	return st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, Key, out) })
}

// Run saves the buckets every interval and once more when ctx ends.
func (t *Counter) Run(ctx context.Context, st *store.Store, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return t.Save(st)
		case <-tick.C:
			if err := t.Save(st); err != nil {
				return err
			}
		}
	}
}

// Count adds a status event to its hour: sent, delivered (or read) and
// failed count; other statuses and events older than the day do not.
func (t *Counter) Count(ev message.StatusEvent) {
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
		*b = Bucket{Start: start}
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

// History returns the 24 hours up to now, oldest first, with empty hours.
func (t *Counter) History(now time.Time) []Bucket {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Bucket, 24)
	cur := now.Truncate(time.Hour)
	for i := range out {
		start := cur.Add(time.Duration(i-23) * time.Hour)
		out[i] = Bucket{Start: start}
		if b := t.buckets[start.Unix()/3600%24]; b.Start.Equal(start) {
			out[i] = b
		}
	}
	return out
}
