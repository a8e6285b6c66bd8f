package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Change is one opt-out or blacklist entry as the boxes of a cluster
// exchange it (docs/cluster.md): written on one box, applied on the others.
type Change struct {
	Kind ChangeKind `json:"kind"`
	// Key is the canonical number of an opt-out or the ID of a blacklist
	// entry.
	Key string `json:"key"`
	// Value is the OptOut or Entry; empty when Deleted.
	Value   json.RawMessage `json:"value,omitempty"`
	Deleted bool            `json:"deleted,omitempty"`
}

// ChangeKind says what a Change is about.
type ChangeKind string

// The kinds of Change.
const (
	KindOptOut ChangeKind = "optout"
	KindBlock  ChangeKind = "block"
)

// Replicator passes this box's changes on to the other boxes. Replicate
// must not block on the network: a box keeps working while the cluster
// is partitioned, and the replicator catches up later (Changes).
type Replicator interface {
	Replicate(ctx context.Context, ch Change)
}

func (c *Consent) replicate(ctx context.Context, kind ChangeKind, key string, v any) {
	if c.repl == nil {
		return
	}
	ch := Change{Kind: kind, Key: key, Deleted: v == nil}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			c.log.Error("consent: change not replicated", "kind", kind, "err", err)
			return
		}
		ch.Value = b
	}
	c.repl.Replicate(ctx, ch)
}

// Changes returns every opt-out and blacklist entry of this box as
// changes, for the replicator to reconcile after a partition or restart.
func (c *Consent) Changes() []Change {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Change, 0, len(c.opted)+len(c.blocks))
	for k, o := range c.opted {
		b, _ := json.Marshal(o)
		out = append(out, Change{Kind: KindOptOut, Key: k, Value: b})
	}
	for id, e := range c.blocks {
		b, _ := json.Marshal(e)
		out = append(out, Change{Kind: KindBlock, Key: id, Value: b})
	}
	return out
}

// Apply stores a change another box made, without passing it on again.
// Applying the same change twice changes nothing.
func (c *Consent) Apply(_ context.Context, ch Change) error {
	switch ch.Kind {
	case KindOptOut:
		return c.applyOptOut(ch)
	case KindBlock:
		return c.applyBlock(ch)
	default:
		return fmt.Errorf("consent: replicated change of unknown kind %q", ch.Kind)
	}
}

func (c *Consent) applyOptOut(ch Change) error {
	key := Canonical(ch.Key)
	if key == "" {
		return fmt.Errorf("consent: replicated opt-out: %w: %q", ErrInvalidNumber, ch.Key)
	}
	if ch.Deleted {
		c.mu.RLock()
		_, was := c.opted[key]
		c.mu.RUnlock()
		if !was {
			return nil
		}
		if err := c.st.Update(func(txn *store.Txn) error { return deleteKey(txn, prefixOptOut+key) }); err != nil {
			return fmt.Errorf("consent: replicated opt-in: %w", err)
		}
		c.mu.Lock()
		delete(c.opted, key)
		c.mu.Unlock()
		return nil
	}
	var o OptOut
	if err := json.Unmarshal(ch.Value, &o); err != nil {
		return fmt.Errorf("consent: replicated opt-out %s: %w", key, err)
	}
	o.Number = key
	c.mu.RLock()
	_, already := c.opted[key]
	c.mu.RUnlock()
	if already {
		return nil
	}
	if err := c.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, prefixOptOut+key, o) }); err != nil {
		return fmt.Errorf("consent: replicated opt-out: %w", err)
	}
	c.mu.Lock()
	c.opted[key] = o
	c.mu.Unlock()
	return nil
}

func (c *Consent) applyBlock(ch Change) error {
	if ch.Key == "" {
		return errors.New("consent: replicated blacklist entry without an ID")
	}
	if ch.Deleted {
		c.mu.RLock()
		_, ok := c.blocks[ch.Key]
		c.mu.RUnlock()
		if !ok {
			return nil
		}
		if err := c.st.Update(func(txn *store.Txn) error { return deleteKey(txn, prefixBlock+ch.Key) }); err != nil {
			return fmt.Errorf("consent: replicated unblock: %w", err)
		}
		c.mu.Lock()
		delete(c.blocks, ch.Key)
		c.reindexLocked()
		c.mu.Unlock()
		return nil
	}
	var e Entry
	if err := json.Unmarshal(ch.Value, &e); err != nil {
		return fmt.Errorf("consent: replicated blacklist entry %s: %w", ch.Key, err)
	}
	if e.ID != ch.Key || (e.Number == "") == (e.Prefix == "") {
		return fmt.Errorf("consent: replicated blacklist entry %s: %w", ch.Key, ErrInvalidEntry)
	}
	if !e.active(c.now()) {
		return nil // expired elsewhere too; PurgeExpired removes it on each box
	}
	if err := c.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, prefixBlock+e.ID, e) }); err != nil {
		return fmt.Errorf("consent: replicated block: %w", err)
	}
	c.mu.Lock()
	c.blocks[e.ID] = e
	c.reindexLocked()
	c.mu.Unlock()
	return nil
}

func deleteKey(txn *store.Txn, key string) error {
	err := txn.Delete([]byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
