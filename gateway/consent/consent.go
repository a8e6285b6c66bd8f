// Package consent keeps who may be messaged: opt-outs and opt-ins (STOP and
// START in many languages), the blacklist (permanent or temporary, by number
// or prefix, for sending, receiving or both) and subscriber groups (the
// vendor manual's "Kanäle"), persisted in Badger under "consent/".
//
// (*Consent).Blocked implements recipients.Blocker and campaign.Blocker: an
// opted-out or send-blocked number is never sent campaign or newsletter
// messages until it opts in again or the block expires.
package consent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Key prefixes under "consent/".
const (
	prefixOptOut = "consent/optout/"
	prefixBlock  = "consent/block/"
	prefixGroup  = "consent/group/"
	prefixMember = "consent/member/" // consent/member/<group>/<number>
)

// Sentinel errors for callers that branch.
var (
	ErrInvalidNumber = errors.New("invalid number")
	ErrInvalidEntry  = errors.New("invalid blacklist entry")
	ErrNoGroup       = errors.New("no such subscriber group")
	ErrInvalidGroup  = errors.New("invalid subscriber group")
	ErrNotFound      = errors.New("not found")
)

// Config wires a Consent.
type Config struct {
	Store *store.Store
	// Now is the time source (tests inject one); nil: time.Now.
	Now func() time.Time
	// StopWords and StartWords replace the built-in keywords when not nil
	// (automation.stop_words / automation.start_words).
	StopWords, StartWords []string
	Logger                *slog.Logger
	// Replicator, when set, receives every local change (a cluster's
	// boxes share opt-outs and the blacklist); nil on a box alone.
	Replicator Replicator
}

// Consent is the opt-out register, blacklist and group store. Safe for
// concurrent use.
type Consent struct {
	st     *store.Store
	now    func() time.Time
	log    *slog.Logger
	stop   wordSet
	start  wordSet
	mu     sync.RWMutex
	blocks map[string]Entry // by ID
	// index: canonical number or prefix -> entries, rebuilt on change;
	// consulted for every message and every campaign recipient.
	byNumber, byPrefix map[string][]Entry
	opted              map[string]OptOut
	repl               Replicator
}

// New loads the blacklist and the opt-outs from the store.
func New(cfg Config) (*Consent, error) {
	if cfg.Store == nil {
		return nil, errors.New("consent: no store")
	}
	c := &Consent{
		st: cfg.Store, now: cfg.Now, log: cfg.Logger,
		blocks: map[string]Entry{}, opted: map[string]OptOut{}, repl: cfg.Replicator,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	stop, start := cfg.StopWords, cfg.StartWords
	if stop == nil {
		stop = defaultStopWords
	}
	if start == nil {
		start = defaultStartWords
	}
	c.stop, c.start = newWordSet(stop), newWordSet(start)
	for w := range c.stop {
		if _, both := c.start[w]; both {
			return nil, fmt.Errorf("consent: %q is both a stop word and a start word", w)
		}
	}
	err := c.st.View(func(txn *store.Txn) error {
		if err := store.Each(txn, prefixBlock, func(_ string, v []byte) error {
			var e Entry
			if err := unmarshal(v, &e); err != nil {
				return err
			}
			c.blocks[e.ID] = e
			return nil
		}); err != nil {
			return err
		}
		return store.Each(txn, prefixOptOut, func(_ string, v []byte) error {
			var o OptOut
			if err := unmarshal(v, &o); err != nil {
				return err
			}
			c.opted[o.Number] = o
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("consent: load: %w", err)
	}
	c.reindexLocked()
	return c, nil
}

// IsStopWord reports whether text, as a whole message, is an opt-out keyword.
func (c *Consent) IsStopWord(text string) bool { return c.stop.has(text) }

// IsStartWord reports whether text, as a whole message, is an opt-in keyword.
func (c *Consent) IsStartWord(text string) bool { return c.start.has(text) }

// Blocked reports whether number must not be sent to: opted out, or on the
// blacklist for sending. It implements recipients.Blocker and
// campaign.Blocker; the reason is shown to the admin per recipient.
func (c *Consent) Blocked(_ context.Context, number string) (string, bool) {
	key := Canonical(number)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if o, ok := c.opted[key]; ok {
		return fmt.Sprintf("opted out (%s) on %s", o.Keyword, o.At.UTC().Format(time.DateOnly)), true
	}
	if e, ok := c.matchLocked(key, Send); ok {
		return e.describe(), true
	}
	return "", false
}

// ReceiveBlocked reports whether messages from number are to be ignored by
// the automation (blacklisted for receiving).
func (c *Consent) ReceiveBlocked(_ context.Context, number string) (string, bool) {
	key := Canonical(number)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.matchLocked(key, Receive); ok {
		return e.describe(), true
	}
	return "", false
}

// Canonical is the form numbers are compared and stored in: digits only
// ("+49 30 123", "0049-30-123" and WhatsApp's "4930123" are one contact).
// Inputs with letters (channel-specific user ids) are kept, lower-cased.
func Canonical(number string) string {
	n := strings.TrimSpace(number)
	var b strings.Builder
	for _, r := range n {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')' || r == '/' || r == '.':
		default:
			return strings.ToLower(n)
		}
	}
	s := b.String()
	if strings.HasPrefix(n, "00") {
		s = strings.TrimPrefix(s, "00")
	}
	return s
}
