package rules

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Key prefixes under "rule/".
const (
	prefixRule    = "rule/def/" // rule/def/<id>: Rule
	prefixRecord  = "rule/in/"  // rule/in/<msgid>: Record
	prefixByTime  = "rule/at/"  // rule/at/<unixnano>/<msgid>: empty, newest-first listing
	prefixCounter = "rule/cnt/" // rule/cnt/<rule>/<contact>: []time.Time
	prefixJob     = "rule/job/" // rule/job/<msgid>/<rule>/<action>: Job
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("not found")
	// ErrNotWired: an action needs a part the daemon has not configured
	// (no SMTP server, no PBX routing…).
	ErrNotWired = errors.New("not configured on this gateway")
)

// Replier sends a text back to the contact of an inbound message, on the
// channel it came in on.
type Replier interface {
	Reply(ctx context.Context, in message.Inbound, text string) error
}

// MediaReplier sends media (by ID or URL) back to the contact.
type MediaReplier interface {
	ReplyMedia(ctx context.Context, in message.Inbound, m Media) error
}

// Router hands the conversation to a PBX extension or message queue
// (kind "extension" or "queue").
type Router interface {
	Route(ctx context.Context, in message.Inbound, kind, id string) error
}

// Mailer sends an e-mail (forward.SMTP implements it).
type Mailer interface {
	Mail(ctx context.Context, to []string, subject, body string) error
}

// Poster posts JSON to a web service, signed with secret when not empty
// (forward.HTTP implements it). Ask is the bot variant: the response text
// is the answer to the contact.
type Poster interface {
	Post(ctx context.Context, url, secret string, body []byte) error
	Ask(ctx context.Context, url, secret string, body []byte) (string, error)
}

// SMSSender sends an SMS (the modem pool). out.ID is stable across retries
// so the channel never sends a forward twice.
type SMSSender interface {
	SendSMS(ctx context.Context, out message.Outbound) error
}

// CampaignStarter starts campaign campaignID (a template the admin
// prepared) for the one contact of in; vars are the message's placeholders
// for personalisation.
type CampaignStarter interface {
	StartForContact(ctx context.Context, campaignID string, in message.Inbound, vars map[string]string) error
}

// Retry is the backoff of failed outside actions: First after the first
// failure, doubling up to Max, given up after Attempts attempts in all.
type Retry struct {
	First    time.Duration // 30s
	Max      time.Duration // 1h
	Attempts int           // 8
}

// Config wires an Engine. Only Store and Consent are required; actions
// whose part is nil are refused when a rule is saved (ErrNotWired).
type Config struct {
	Store   *store.Store
	Consent *consent.Consent
	Replier Replier
	Media   MediaReplier
	// Interactive sends answers with buttons or a list to WhatsApp
	// contacts; nil: they get the choices as text (interactive.go).
	Interactive InteractiveReplier
	Router      Router
	Mailer      Mailer
	HTTP        Poster
	SMS         SMSSender
	Campaigns   CampaignStarter
	Contacts    Contacts
	// Location is the zone of time windows and TIMESTAMP (region.time_zone).
	Location *time.Location
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger
	// Registerer takes the automation's metrics; nil: none.
	Registerer prometheus.Registerer
	// StopReply and StartReply confirm an opt-out/opt-in by keyword
	// ({placeholders} allowed); empty: the defaults below; "-": no reply.
	StopReply, StartReply string
	Retry                 Retry
}

// Default confirmations (German and English: the contact base of the box).
const (
	DefaultStopReply  = "Sie erhalten keine Nachrichten mehr. Mit START melden Sie sich wieder an. / You will receive no more messages. Reply START to opt in again."
	DefaultStartReply = "Sie sind wieder angemeldet. Mit STOP melden Sie sich ab. / You are subscribed again. Reply STOP to opt out."
)

// Engine evaluates rules for inbound messages. Safe for concurrent use.
type Engine struct {
	cfg   Config
	st    *store.Store
	cs    *consent.Consent
	loc   *time.Location
	now   func() time.Time
	log   *slog.Logger
	mu    sync.RWMutex
	rules []*compiled // sorted by Order, ID
	cntMu sync.Mutex  // serialises rate-limit counter updates
	kick  chan struct{}
	met   *metrics
	// msgLocks serialise Handle and retries of one message (striped by
	// ID), so neither overwrites the other's outcomes.
	msgLocks [32]sync.Mutex
}

func (e *Engine) lockMsg(id string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	m := &e.msgLocks[h.Sum32()%uint32(len(e.msgLocks))]
	m.Lock()
	return m.Unlock
}

// New loads the rules from the store. A stored rule that no longer
// validates (e.g. an action whose part is no longer configured) stays
// stored but is left out of matching, logged with the reason.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Consent == nil {
		return nil, errors.New("rules: store and consent are required")
	}
	e := &Engine{cfg: cfg, st: cfg.Store, cs: cfg.Consent, loc: cfg.Location, now: cfg.Now, log: cfg.Logger,
		kick: make(chan struct{}, 1)}
	if e.loc == nil {
		e.loc = time.Local
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.cfg.Retry.First <= 0 {
		e.cfg.Retry.First = 30 * time.Second
	}
	if e.cfg.Retry.Max <= 0 {
		e.cfg.Retry.Max = time.Hour
	}
	if e.cfg.Retry.Attempts <= 0 {
		e.cfg.Retry.Attempts = 8
	}
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	e.met = met
	rs, err := e.Rules(context.Background())
	if err != nil {
		return nil, err
	}
	var cs []*compiled
	for _, r := range rs {
		c, err := e.compile(r)
		if err != nil {
			e.log.Warn("automation rule disabled: it no longer validates", "rule", r.Name, "id", r.ID, "err", err)
			continue
		}
		cs = append(cs, c)
	}
	e.setRules(cs)
	return e, nil
}

func (e *Engine) compile(r Rule) (*compiled, error) {
	c, err := compile(r)
	if err != nil {
		return nil, err
	}
	for i, a := range r.Actions {
		if err := e.wired(a); err != nil {
			return nil, fmt.Errorf("%w %q: actions[%d] (%s): %w", ErrInvalidRule, r.Name, i, a.Type, err)
		}
	}
	return c, nil
}

// wired checks that the part an action needs is configured.
func (e *Engine) wired(a Action) error {
	var missing string
	switch a.Type {
	case AutoAnswer:
		if a.Text != "" && e.cfg.Replier == nil {
			missing = "replies"
		}
		if a.Media != nil && e.cfg.Media == nil {
			missing = "media replies"
		}
	case HTTPBot:
		if e.cfg.Replier == nil {
			missing = "replies"
		}
		if e.cfg.HTTP == nil {
			missing = "HTTP forwarding"
		}
	case RouteTo:
		if e.cfg.Router == nil {
			missing = "PBX routing (sip)"
		}
	case EmailForward:
		if e.cfg.Mailer == nil {
			missing = "e-mail (automation.smtp)"
		}
	case HTTPForward:
		if e.cfg.HTTP == nil {
			missing = "HTTP forwarding"
		}
	case SMSForward:
		if e.cfg.SMS == nil {
			missing = "SMS sending (sms_channels)"
		}
	case StartCampaign:
		if e.cfg.Campaigns == nil {
			missing = "campaigns"
		}
	}
	if missing != "" {
		return fmt.Errorf("%w: %s", ErrNotWired, missing)
	}
	return nil
}

func (e *Engine) setRules(cs []*compiled) {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Order != cs[j].Order {
			return cs[i].Order < cs[j].Order
		}
		return cs[i].ID < cs[j].ID
	})
	e.mu.Lock()
	e.rules = cs
	e.mu.Unlock()
}

// Save validates and stores r (a new ID when empty) and makes it live. The
// error names the field and the reason (ErrInvalidRule, ErrNotWired).
// Secrets given as SecretMask keep their stored value. The returned rule
// carries its secrets: show the portal r.Redacted().
func (e *Engine) Save(ctx context.Context, r Rule) (Rule, error) {
	if r.ID == "" {
		r.ID = newID()
	}
	r, err := e.keepSecrets(ctx, r)
	if err != nil {
		return Rule{}, err
	}
	for i, a := range r.Actions {
		if a.Type != GroupAdd && a.Type != GroupRemove || a.Group == "" {
			continue
		}
		if ok, err := e.cs.HasGroup(ctx, a.Group); err != nil {
			return Rule{}, fmt.Errorf("rules: save %q: %w", r.Name, err)
		} else if !ok {
			return Rule{}, fmt.Errorf("%w %q: actions[%d] (%s): group: no subscriber group %q; create it first", ErrInvalidRule, r.Name, i, a.Type, a.Group)
		}
	}
	c, err := e.compile(r)
	if err != nil {
		return Rule{}, err
	}
	if err := e.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, prefixRule+r.ID, r) }); err != nil {
		return Rule{}, fmt.Errorf("rules: save %q: %w", r.Name, err)
	}
	e.mu.RLock()
	cs := make([]*compiled, 0, len(e.rules)+1)
	for _, old := range e.rules {
		if old.ID != r.ID {
			cs = append(cs, old)
		}
	}
	e.mu.RUnlock()
	e.setRules(append(cs, c))
	return r, nil
}

// Delete removes rule id (its counters go with it).
func (e *Engine) Delete(_ context.Context, id string) error {
	err := e.st.Update(func(txn *store.Txn) error {
		if _, err := txn.Get([]byte(prefixRule + id)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("rule %q: %w", id, ErrNotFound)
		}
		var keys []string
		_ = store.Each(txn, prefixCounter+id+"/", func(k string, _ []byte) error {
			keys = append(keys, k)
			return nil
		})
		for _, k := range append(keys, prefixRule+id) {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.mu.RLock()
	cs := make([]*compiled, 0, len(e.rules))
	for _, old := range e.rules {
		if old.ID != id {
			cs = append(cs, old)
		}
	}
	e.mu.RUnlock()
	e.setRules(cs)
	return nil
}

// Rules returns the stored rules in evaluation order.
func (e *Engine) Rules(_ context.Context) ([]Rule, error) {
	var out []Rule
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, prefixRule, func(_ string, v []byte) error {
			var r Rule
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("rules: load: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Get returns rule id.
func (e *Engine) Get(_ context.Context, id string) (Rule, error) {
	var r Rule
	err := e.st.View(func(txn *store.Txn) error { return store.GetJSON(txn, prefixRule+id, &r) })
	if errors.Is(err, store.ErrNotFound) {
		return Rule{}, fmt.Errorf("rule %q: %w", id, ErrNotFound)
	}
	return r, err
}

// snapshot returns the live rules (immutable slice).
func (e *Engine) snapshot() []*compiled {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.rules
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Reorder gives the rules in ids the orders 10, 20, 30… in that sequence
// (the portal's drag and drop); rules not listed keep their order. Unknown
// IDs are an error and change nothing.
func (e *Engine) Reorder(_ context.Context, ids []string) error {
	err := e.st.Update(func(txn *store.Txn) error {
		for i, id := range ids {
			var r Rule
			if err := store.GetJSON(txn, prefixRule+id, &r); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("rule %q: %w", id, ErrNotFound)
			} else if err != nil {
				return err
			}
			r.Order = (i + 1) * 10
			if err := store.SetJSON(txn, prefixRule+id, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	order := make(map[string]int, len(ids))
	for i, id := range ids {
		order[id] = (i + 1) * 10
	}
	e.mu.RLock()
	cs := make([]*compiled, 0, len(e.rules))
	for _, c := range e.rules {
		if o, ok := order[c.ID]; ok {
			cp := *c
			cp.Order = o
			c = &cp
		}
		cs = append(cs, c)
	}
	e.mu.RUnlock()
	e.setRules(cs)
	return nil
}
