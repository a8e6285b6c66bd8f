package consent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Direction says what a blacklist entry blocks.
type Direction string

// Directions of a blacklist entry.
const (
	Send    Direction = "send"    // pbxgate sends nothing to the contact
	Receive Direction = "receive" // messages from the contact are ignored by the automation
	Both    Direction = "both"
)

func (d Direction) covers(x Direction) bool { return d == Both || d == x }

// Entry is one blacklist entry. Exactly one of Number and Prefix is set.
type Entry struct {
	ID        string    `json:"id"`
	Number    string    `json:"number,omitempty"` // one contact
	Prefix    string    `json:"prefix,omitempty"` // every number starting with it, e.g. +4919
	Direction Direction `json:"direction"`
	// Until is when a temporary block ends; zero: permanent.
	Until   time.Time `json:"until,omitzero"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
}

func (e Entry) describe() string {
	what := "blacklisted"
	if e.Prefix != "" {
		what = "blacklisted prefix " + e.Prefix
	}
	if e.Reason != "" {
		what += ": " + e.Reason
	}
	if !e.Until.IsZero() {
		what += " (until " + e.Until.UTC().Format(time.RFC3339) + ")"
	}
	return what
}

// Block adds an entry (ID and Created are filled in) and returns it.
func (c *Consent) Block(ctx context.Context, e Entry) (Entry, error) {
	switch {
	case e.Number == "" && e.Prefix == "":
		return Entry{}, fmt.Errorf("%w: number or prefix: give one", ErrInvalidEntry)
	case e.Number != "" && e.Prefix != "":
		return Entry{}, fmt.Errorf("%w: number and prefix: give only one", ErrInvalidEntry)
	}
	if e.Direction == "" {
		e.Direction = Both
	}
	if e.Direction != Send && e.Direction != Receive && e.Direction != Both {
		return Entry{}, fmt.Errorf("%w: direction %q: use send, receive or both", ErrInvalidEntry, e.Direction)
	}
	for _, v := range []string{e.Number, e.Prefix} {
		if v != "" && strings.IndexFunc(v, func(r rune) bool { return r >= '0' && r <= '9' }) < 0 {
			return Entry{}, fmt.Errorf("%w: %w: %q has no digits", ErrInvalidEntry, ErrInvalidNumber, v)
		}
	}
	now := c.now()
	if !e.Until.IsZero() && !e.Until.After(now) {
		return Entry{}, fmt.Errorf("%w: until %s is in the past", ErrInvalidEntry, e.Until.Format(time.RFC3339))
	}
	e.ID = newID()
	e.Created = now
	err := c.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, prefixBlock+e.ID, e) })
	if err != nil {
		return Entry{}, fmt.Errorf("consent: block: %w", err)
	}
	c.mu.Lock()
	c.blocks[e.ID] = e
	c.indexLocked(e)
	c.mu.Unlock()
	c.replicate(ctx, KindBlock, e.ID, e)
	return e, nil
}

// Unblock removes blacklist entry id.
func (c *Consent) Unblock(ctx context.Context, id string) error {
	c.mu.RLock()
	_, ok := c.blocks[id]
	c.mu.RUnlock()
	if !ok {
		return fmt.Errorf("blacklist entry %q: %w", id, ErrNotFound)
	}
	if err := c.st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(prefixBlock + id)) }); err != nil {
		return fmt.Errorf("consent: unblock: %w", err)
	}
	c.mu.Lock()
	delete(c.blocks, id)
	c.reindexLocked()
	c.mu.Unlock()
	c.replicate(ctx, KindBlock, id, nil)
	return nil
}

// Blacklist returns the entries still in force, oldest first. Expired
// temporary entries are not returned (and no longer block).
func (c *Consent) Blacklist(_ context.Context) []Entry {
	now := c.now()
	c.mu.RLock()
	out := make([]Entry, 0, len(c.blocks))
	for _, e := range c.blocks {
		if e.active(now) {
			out = append(out, e)
		}
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// PurgeExpired deletes expired temporary entries from the store; the daemon
// may call it now and then (expired entries already stop blocking at once).
func (c *Consent) PurgeExpired(_ context.Context) (int, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var gone []string
	for id, e := range c.blocks {
		if !e.active(now) {
			gone = append(gone, id)
		}
	}
	err := c.st.Update(func(txn *store.Txn) error {
		for _, id := range gone {
			if err := txn.Delete([]byte(prefixBlock + id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("consent: purge: %w", err)
	}
	for _, id := range gone {
		delete(c.blocks, id)
	}
	c.reindexLocked()
	return len(gone), nil
}

func (e Entry) active(now time.Time) bool { return e.Until.IsZero() || now.Before(e.Until) }

// matchLocked finds an active entry for canonical number key and direction:
// the number itself, then every prefix of it.
func (c *Consent) matchLocked(key string, d Direction) (Entry, bool) {
	now := c.now()
	pick := func(es []Entry) (Entry, bool) {
		for _, e := range es {
			if e.Direction.covers(d) && e.active(now) {
				return e, true
			}
		}
		return Entry{}, false
	}
	if e, ok := pick(c.byNumber[key]); ok {
		return e, true
	}
	if len(c.byPrefix) == 0 {
		return Entry{}, false
	}
	for i := len(key); i > 0; i-- {
		if e, ok := pick(c.byPrefix[key[:i]]); ok {
			return e, true
		}
	}
	return Entry{}, false
}

func (c *Consent) reindexLocked() {
	c.byNumber, c.byPrefix = map[string][]Entry{}, map[string][]Entry{}
	for _, e := range c.blocks {
		c.indexLocked(e)
	}
}

func (c *Consent) indexLocked(e Entry) {
	if e.Number != "" {
		k := Canonical(e.Number)
		c.byNumber[k] = append(c.byNumber[k], e)
	} else {
		k := Canonical(e.Prefix)
		c.byPrefix[k] = append(c.byPrefix[k], e)
	}
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func unmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return errors.Join(errors.New("corrupt consent record"), err)
	}
	return nil
}

// SendBlacklisted reports whether number is on the blacklist for sending
// (opt-outs aside): replies to a contact's own message respect this, while
// Blocked (opt-outs included) is for messages pbxgate starts.
func (c *Consent) SendBlacklisted(_ context.Context, number string) (string, bool) {
	key := Canonical(number)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.matchLocked(key, Send); ok {
		return e.describe(), true
	}
	return "", false
}
