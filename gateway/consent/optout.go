package consent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// OptOut records that a contact asked not to be messaged.
type OptOut struct {
	Number  string    `json:"number"`  // canonical
	Keyword string    `json:"keyword"` // what they sent, or "manual"
	Channel string    `json:"channel,omitempty"`
	At      time.Time `json:"at"`
}

// OptOut registers number as opted out (idempotent: the first opt-out is
// kept). keyword is what the contact sent, channel where.
func (c *Consent) OptOut(ctx context.Context, number, keyword, channel string) error {
	key := Canonical(number)
	if key == "" {
		return fmt.Errorf("consent: opt-out: %w: %q", ErrInvalidNumber, number)
	}
	c.mu.RLock()
	_, already := c.opted[key]
	c.mu.RUnlock()
	if already {
		return nil
	}
	o := OptOut{Number: key, Keyword: keyword, Channel: channel, At: c.now()}
	if err := c.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, prefixOptOut+key, o) }); err != nil {
		return fmt.Errorf("consent: opt-out: %w", err)
	}
	c.mu.Lock()
	c.opted[key] = o
	c.mu.Unlock()
	c.replicate(ctx, KindOptOut, key, o)
	return nil
}

// OptIn removes number's opt-out; it reports whether there was one.
func (c *Consent) OptIn(ctx context.Context, number string) (bool, error) {
	key := Canonical(number)
	c.mu.RLock()
	_, was := c.opted[key]
	c.mu.RUnlock()
	if !was {
		return false, nil
	}
	err := c.st.Update(func(txn *store.Txn) error {
		err := txn.Delete([]byte(prefixOptOut + key))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("consent: opt-in: %w", err)
	}
	c.mu.Lock()
	delete(c.opted, key)
	c.mu.Unlock()
	c.replicate(ctx, KindOptOut, key, nil)
	return true, nil
}

// OptedOut returns number's opt-out record, if any.
func (c *Consent) OptedOut(_ context.Context, number string) (OptOut, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.opted[Canonical(number)]
	return o, ok
}

// OptOuts returns every opted-out contact, most recent first (the portal's
// list).
func (c *Consent) OptOuts(_ context.Context) []OptOut {
	c.mu.RLock()
	out := make([]OptOut, 0, len(c.opted))
	for _, o := range c.opted {
		out = append(out, o)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.After(out[j].At)
		}
		return out[i].Number < out[j].Number
	})
	return out
}
