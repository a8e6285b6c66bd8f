package store

import (
	"bytes"
	"fmt"
	"sync"
)

// DecodeCache keeps the decoded form of JSON values recently written or
// read under their keys, so a read-modify-write of a hot record (a
// campaign recipient: handed over, sent, delivered) does not decode the
// bytes its previous write encoded. It is checked by content, not kept in
// step with the store: Get reads the stored bytes as GetJSONFast does and
// uses the cached value only when they are byte for byte the bytes the
// value was cached with. A write the cache did not see, a transaction
// that did not commit, a delete or an expiry can therefore only make it
// miss, never return something that is not stored.
//
// Set caches v itself as what decoding its encoding gives: only for types
// whose values survive the JSON round trip unchanged (no fields JSON
// skips, times without location or monotonic reading, i.e. in UTC) —
// each user has a test that checks it for its type. clone copies what
// callers may change in place (maps, pointers, slices); the cache never
// hands out its own copy.
//
// At most size keys are held; the oldest cached goes first.
type DecodeCache[T any] struct {
	clone func(T) T
	mu    sync.Mutex
	m     map[string]decoded[T]
	ring  []string // keys in the order cached; "" free
	next  int
}

type decoded[T any] struct {
	raw []byte // never changed: the store may hold the same slice
	v   T
}

// NewDecodeCache returns a cache of at most size keys; clone (nil: plain
// assignment) deep-copies a value.
func NewDecodeCache[T any](size int, clone func(T) T) *DecodeCache[T] {
	if clone == nil {
		clone = func(v T) T { return v }
	}
	return &DecodeCache[T]{clone: clone, m: make(map[string]decoded[T], size), ring: make([]string, size)}
}

// Get is GetJSONFast through the cache.
func (c *DecodeCache[T]) Get(txn *Txn, key string, v *T) error {
	item, err := txn.Get([]byte(key))
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error {
		c.mu.Lock()
		d, ok := c.m[key]
		if ok && bytes.Equal(d.raw, b) {
			*v = c.clone(d.v)
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		var x T
		if err := UnmarshalFast(b, &x); err != nil {
			return err
		}
		*v = c.clone(x)
		c.put(key, bytes.Clone(b), x)
		return nil
	})
}

// Set is SetJSONFast remembering v (see DecodeCache).
func (c *DecodeCache[T]) Set(txn *Txn, key string, v *T) error {
	b, err := MarshalFast(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := txn.Set([]byte(key), b); err != nil {
		return err
	}
	c.put(key, b, c.clone(*v))
	return nil
}

func (c *DecodeCache[T]) put(key string, raw []byte, v T) {
	if len(c.ring) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok {
		if old := c.ring[c.next]; old != "" {
			delete(c.m, old)
		}
		c.ring[c.next] = key
		c.next = (c.next + 1) % len(c.ring)
	}
	c.m[key] = decoded[T]{raw: raw, v: v}
}

// Len is how many keys the cache holds.
func (c *DecodeCache[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
