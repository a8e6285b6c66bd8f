package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is a key-value bucket replicated to the boxes of the cluster
// (JetStream KV, file storage, one replica per box up to three). What one
// box puts, every box's Watch sees.
type Bucket struct {
	kv jetstream.KeyValue
}

// Replicas is how many copies a bucket keeps: one per configured box, at
// most three (JetStream's usual cap; more slows every write).
func (n *Node) Replicas() int {
	r := 1 + len(n.opts.Peers)
	if r > 3 {
		r = 3
	}
	return r
}

// Bucket opens the bucket name, creating it when it does not exist. It
// needs a leader: while the cluster has none, it fails and the caller
// tries again.
func (n *Node) Bucket(ctx context.Context, name, description string) (*Bucket, error) {
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, Description: description, History: 1,
		Replicas: n.Replicas(), Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: bucket %s: %w", name, err)
	}
	return &Bucket{kv: kv}, nil
}

// Put stores value under key.
func (b *Bucket) Put(ctx context.Context, key string, value []byte) error {
	_, err := b.kv.Put(ctx, key, value)
	return err
}

// Create stores value only if key has no value yet; it reports whether
// it did. Reconciling after a partition uses it so that it never
// overwrites what another box wrote meanwhile.
func (b *Bucket) Create(ctx context.Context, key string, value []byte) (bool, error) {
	_, err := b.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, err
}

// Keys lists the keys the bucket has a value for (deleted ones are not
// listed). A listing cut short lists fewer keys.
func (b *Bucket) Keys(ctx context.Context) (map[string]bool, error) {
	l, err := b.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = l.Stop() }()
	keys := map[string]bool{}
	for k := range l.Keys() {
		keys[k] = true
	}
	return keys, nil
}

// Delete removes key.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	return b.kv.Delete(ctx, key)
}

// Update is one key's new value, or its deletion, as Watch delivers it.
type Update struct {
	Key     string
	Value   []byte
	Deleted bool
	// Initial is set for the values that existed when Watch started.
	Initial bool
}

// Watch calls fn with every key's current value, then with each change,
// until ctx ends or the watch fails (the caller watches again).
func (b *Bucket) Watch(ctx context.Context, fn func(Update) error) error {
	w, err := b.kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	initial := true
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("cluster: watch ended")
			}
			if e == nil { // the current values are through
				initial = false
				continue
			}
			u := Update{Key: e.Key(), Value: e.Value(), Initial: initial,
				Deleted: e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge}
			if err := fn(u); err != nil {
				return err
			}
		}
	}
}
