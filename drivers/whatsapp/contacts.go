package whatsapp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Store keys (all under "wa/"):
//
//	wa/win/<contact>    last inbound message time (customer-service window)
//	wa/tier/<contact>   when the contact was first reached outside the window
//	                    in the current rolling 24 h (messaging-limit tier)
//	wa/uid/<user_id>    the wa_id of a business-scoped user id
const (
	keyWindow = "wa/win/"
	keyTier   = "wa/tier/"
	keyUserID = "wa/uid/"
)

// ServiceWindow is how long after a customer's last message free-form
// messages are allowed.
const ServiceWindow = 24 * time.Hour

// tierWindow is the rolling period of the messaging limit.
const tierWindow = 24 * time.Hour

// contacts tracks the service window and the messaging-limit tier. Both
// live in the store, so a restart neither reopens windows nor resets the
// tier count; a copy of the tier set stays in memory because every
// business-initiated send needs its size.
type contacts struct {
	st   *store.Store
	tier int // 0: unlimited
	// keyWindow and keyTier are this number's key prefixes (scoped when
	// several numbers share the store).
	keyWindow, keyTier, keyLimit string

	mu      sync.Mutex
	reached map[string]time.Time // contact → when counted (within tierWindow)
}

func newContacts(st *store.Store, tier int, k storeKeys) (*contacts, error) {
	c := &contacts{st: st, tier: tier, keyWindow: k.window, keyTier: k.tier, keyLimit: k.limit, reached: map[string]time.Time{}}
	err := st.View(func(txn *store.Txn) error {
		// A limit Meta announced (phone_number_quality_update) wins over
		// the configured one.
		if err := store.GetJSON(txn, c.keyLimit, &c.tier); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: %w", c.keyLimit, err)
		}
		return store.Each(txn, c.keyTier, func(key string, val []byte) error {
			t, err := parseUnixNano(val)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			c.reached[key[len(c.keyTier):]] = t
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load messaging-limit state: %w", err)
	}
	return c, nil
}

func unixNano(t time.Time) []byte { return strconv.AppendInt(nil, t.UnixNano(), 10) }

func parseUnixNano(b []byte) (time.Time, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("damaged timestamp %q", b)
	}
	return time.Unix(0, n), nil
}

// setTier changes the messaging limit (0: unlimited), as Meta announced
// it; the new limit is kept over restarts, ahead of the configured tier.
// It reports whether the limit changed.
func (c *contacts) setTier(limit int) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, c.keyLimit, limit) }); err != nil {
		return false, fmt.Errorf("store messaging limit: %w", err)
	}
	if c.tier == limit {
		return false, nil
	}
	c.tier = limit
	return true, nil
}

// limit is the messaging limit in force (0: unlimited).
func (c *contacts) limit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tier
}

// lastInbound returns when the contact last wrote (zero if never).
func (c *contacts) lastInbound(contact string) (time.Time, error) {
	var t time.Time
	err := c.st.View(func(txn *store.Txn) error {
		item, err := txn.Get([]byte(c.keyWindow + contact))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			t, err = parseUnixNano(b)
			return err
		})
	})
	return t, err
}

// inWindow reports whether free-form messages to contact are allowed at now.
func (c *contacts) inWindow(contact string, now time.Time) (bool, error) {
	t, err := c.lastInbound(contact)
	if err != nil {
		return false, err
	}
	return !t.IsZero() && now.Sub(t) < ServiceWindow, nil
}

// recordInbound opens (or extends) the window of every key of the contact.
func (c *contacts) recordInbound(txn *store.Txn, at time.Time, keys ...string) error {
	for _, k := range keys {
		if k == "" {
			continue
		}
		key := []byte(c.keyWindow + k)
		if item, err := txn.Get(key); err == nil {
			var prev time.Time
			if err := item.Value(func(b []byte) error { prev, err = parseUnixNano(b); return err }); err == nil && prev.After(at) {
				continue // webhooks arrive out of order; keep the newest
			}
		}
		if err := txn.Set(key, unixNano(at)); err != nil {
			return err
		}
	}
	return nil
}

// reserveTier counts contact against the messaging limit for a
// business-initiated message at now. It returns a LimitError when the tier
// is used up; a contact already counted in the last 24 h costs nothing.
// The count is reserved in memory under the lock and written to the store
// after it, so parallel senders do not queue behind each other's writes.
func (c *contacts) reserveTier(contact string, now time.Time) error {
	if c.limit() == 0 {
		return nil
	}
	c.mu.Lock()
	var expired []string
	for k, t := range c.reached {
		if now.Sub(t) >= tierWindow {
			expired = append(expired, k)
			delete(c.reached, k)
		}
	}
	if t, ok := c.reached[contact]; ok && now.Sub(t) < tierWindow {
		c.mu.Unlock()
		return c.deleteKeys(expired)
	}
	if len(c.reached) >= c.tier {
		le := &LimitError{
			err:     ErrTierLimit,
			Reason:  fmt.Sprintf("%d unique users were reached outside the service window in the last 24 hours (tier %d)", len(c.reached), c.tier),
			RetryAt: c.oldest().Add(tierWindow),
		}
		c.mu.Unlock()
		if err := c.deleteKeys(expired); err != nil {
			return err
		}
		return le
	}
	c.reached[contact] = now
	c.mu.Unlock()
	err := c.st.Update(func(txn *store.Txn) error {
		for _, k := range expired {
			if err := txn.Delete([]byte(c.keyTier + k)); err != nil {
				return err
			}
		}
		return txn.Set([]byte(c.keyTier+contact), unixNano(now))
	})
	if err != nil {
		c.mu.Lock()
		if t, ok := c.reached[contact]; ok && t.Equal(now) {
			delete(c.reached, contact)
		}
		c.mu.Unlock()
		return fmt.Errorf("store messaging-limit count: %w", err)
	}
	return nil
}

// releaseTier undoes reserveTier when the message was not sent after all.
func (c *contacts) releaseTier(contact string, at time.Time) {
	if c.limit() == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.reached[contact]; !ok || !t.Equal(at) {
		return
	}
	if c.st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(c.keyTier + contact)) }) == nil {
		delete(c.reached, contact)
	}
}

func (c *contacts) deleteKeys(keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return c.st.Update(func(txn *store.Txn) error {
		for _, k := range keys {
			if err := txn.Delete([]byte(c.keyTier + k)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *contacts) oldest() time.Time {
	var min time.Time
	for _, t := range c.reached {
		if min.IsZero() || t.Before(min) {
			min = t
		}
	}
	return min
}

// tierUsage returns how many unique users count against the tier at now.
func (c *contacts) tierUsage(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.reached {
		if now.Sub(t) < tierWindow {
			n++
		}
	}
	return n
}

// resolve maps a business-scoped user id to its phone wa_id when known, so
// a session keyed on user_id can be answered.
func (c *contacts) resolve(to string) (string, error) {
	var waID string
	err := c.st.View(func(txn *store.Txn) error {
		item, err := txn.Get([]byte(keyUserID + to))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { waID = string(b); return nil })
	})
	if waID == "" {
		waID = to
	}
	if err != nil {
		return waID, err
	}
	// A user who changed number (user_changed_number) is written to at
	// the new one.
	err = c.st.View(func(txn *store.Txn) error {
		for range 8 {
			next, err := getString(txn, keyChanged+waID)
			if err != nil || next == "" || next == waID {
				return err
			}
			waID = next
		}
		return nil
	})
	return waID, err
}

// getString is the value at key, "" when there is none.
func getString(txn *store.Txn, key string) (string, error) {
	item, err := txn.Get([]byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var s string
	err = item.Value(func(b []byte) error { s = string(b); return nil })
	return s, err
}

// openWindows counts phone contacts (wa_id) whose service window is open
// at now; user-id keys of the same contacts are not counted twice.
func (c *contacts) openWindows(now time.Time) (int, error) {
	n := 0
	err := c.st.View(func(txn *store.Txn) error {
		return store.Each(txn, c.keyWindow, func(key string, val []byte) error {
			id := key[len(c.keyWindow):]
			if id == "" || strings.Trim(id, "0123456789") != "" {
				return nil
			}
			if t, err := parseUnixNano(val); err == nil && now.Sub(t) < ServiceWindow {
				n++
			}
			return nil
		})
	})
	return n, err
}
