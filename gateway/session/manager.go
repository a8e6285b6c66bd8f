package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Store keys.
const (
	keySession  = "session/s/"    // + id → Session
	keyLog      = "session/log/"  // + id/seq → Entry
	keyDelivery = "session/dlv/"  // + id/seq/ext → delivery
	keyQueue    = "session/q/"    // + queue → queueState
	keySeen     = "session/seen/" // + inbound ID (dedupe of at-least-once channels)
	keyByOut    = "session/out/"  // + campaign message ID → "<session>/<seq>" of its log entry
	seenTTL     = 30 * 24 * time.Hour
	outPrefix   = "ses-" // Outbound IDs: ses-<session>-<seq>
)

// delivery is one entry on its way to one extension.
type delivery struct {
	Key       string    `json:"key"`
	Ext       string    `json:"ext"`
	Chat      Chat      `json:"chat"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	LastError string    `json:"last_error,omitempty"`
	// First: goes before the session's other deliveries to the extension
	// (a transfer note before the backlog it introduces).
	First bool `json:"first,omitempty"`
}

type queueState struct {
	Next int                  `json:"next"`           // round robin position
	Last map[string]time.Time `json:"last,omitempty"` // last assignment per member
}

// Manager owns the sessions. All methods are safe for concurrent use.
type Manager struct {
	cfg    Config
	st     *store.Store
	clock  Clock
	log    *slog.Logger
	m      *metrics
	chans  map[string]*Channel
	queues map[string]*Queue
	// threads: channel → its thread on the phone ("" for the first
	// channel); byThread the reverse; labels: channel → display label.
	threads, byThread, labels map[string]string

	// mu serialises every change: the manager is the only writer of its
	// keys, so store transactions never conflict.
	mu       sync.Mutex
	open     map[string]*Session // open sessions by ID
	active   map[string]string   // channel \x00 contact → open session ID
	dlv      map[string]*delivery
	qstate   map[string]*queueState
	inflight map[string]bool // delivery groups (session/ext) being attempted

	kick chan struct{}
	wg   sync.WaitGroup
	sem  chan struct{}
	// runCtx is Run's context, for background hand-overs of replies.
	runCtx atomic.Pointer[context.Context]
	// Extensions' messages waiting to be stored (storeReplies).
	replyMu      sync.Mutex
	replyQ       []*replyReq
	replyLeading bool
	handed       []string // replies the channels took: hand-over records to remove
}

// New loads the open sessions and pending deliveries from the store.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, st: cfg.Store, clock: cfg.Clock, log: cfg.Logger, m: met,
		chans: map[string]*Channel{}, queues: map[string]*Queue{},
		open: map[string]*Session{}, active: map[string]string{}, dlv: map[string]*delivery{},
		qstate: map[string]*queueState{}, inflight: map[string]bool{},
		kick: make(chan struct{}, 1), sem: make(chan struct{}, cfg.Parallel)}
	for i := range m.cfg.Channels {
		m.chans[m.cfg.Channels[i].Name] = &m.cfg.Channels[i]
	}
	for i := range m.cfg.Queues {
		m.queues[m.cfg.Queues[i].Name] = &m.cfg.Queues[i]
	}
	m.threads, m.byThread, m.labels = threadsOf(m.cfg.Channels)
	err = m.st.View(func(txn *store.Txn) error {
		if err := store.Each(txn, keySession, func(_ string, val []byte) error {
			var s Session
			if err := jsonUnmarshal(val, &s); err != nil {
				return err
			}
			if s.State == Open && m.holds(&s) {
				m.open[s.ID] = &s
				m.active[activeKey(s.Channel, s.Contact)] = s.ID
			}
			return nil
		}); err != nil {
			return err
		}
		if err := store.Each(txn, keyDelivery, func(_ string, val []byte) error {
			var d delivery
			if err := jsonUnmarshal(val, &d); err != nil {
				return err
			}
			m.dlv[d.Key] = &d
			return nil
		}); err != nil {
			return err
		}
		return store.Each(txn, keyQueue, func(k string, val []byte) error {
			var q queueState
			if err := jsonUnmarshal(val, &q); err != nil {
				return err
			}
			m.qstate[strings.TrimPrefix(k, keyQueue)] = &q
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load sessions: %w", err)
	}
	m.m.open.Set(float64(len(m.open)))
	m.m.pending.Set(float64(len(m.dlv)))
	return m, nil
}

// threadsOf gives every channel its thread and label: the first channel
// keeps the contact's plain address (as before threads existed), the
// others are told apart by their name.
func threadsOf(chans []Channel) (threads, byThread, labels map[string]string) {
	threads, byThread, labels = map[string]string{}, map[string]string{}, map[string]string{}
	kinds := map[message.Kind]int{}
	for _, ch := range chans {
		kinds[ch.Kind]++
	}
	for i, ch := range chans {
		if i > 0 {
			threads[ch.Name], byThread[ch.Name] = ch.Name, ch.Name
		}
		if len(chans) < 2 {
			continue
		}
		switch {
		case kinds[ch.Kind] > 1:
			labels[ch.Name] = ch.Name
		case ch.Kind == message.WhatsApp:
			labels[ch.Name] = "WhatsApp"
		case ch.Kind == message.SMS:
			labels[ch.Name] = "SMS"
		case ch.Kind == message.Telegram:
			labels[ch.Name] = "Telegram"
		case ch.Kind == message.Viber:
			labels[ch.Name] = "Viber"
		case ch.Kind == message.VK:
			labels[ch.Name] = "VK"
		default:
			labels[ch.Name] = ch.Name
		}
	}
	return threads, byThread, labels
}

// primary is the channel of the plain thread ("" without channels).
func (m *Manager) primary() string {
	if len(m.cfg.Channels) == 0 {
		return ""
	}
	return m.cfg.Channels[0].Name
}

func activeKey(channel, contact string) string { return channel + "\x00" + contact }

func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(now.UnixMilli(), 36) + hex.EncodeToString(b[:])
}

func entryKey(id string, seq int) string { return fmt.Sprintf("%s%s/%08d", keyLog, id, seq) }

func deliveryKey(id string, seq int, ext string) string {
	return fmt.Sprintf("%s%s/%08d/%s", keyDelivery, id, seq, ext)
}

// change collects the writes of one operation: they go to the store in one
// transaction, and only then to memory.
type change struct {
	sessions map[string]*Session
	entries  []*entryWrite
	puts     []*delivery
	dels     []string
	queues   map[string]*queueState
	seen     string
	sends    []outSend
	byOut    map[string]string // campaign message ID → "<session>/<seq>"
	// pending stores the sends for hand-over (keyPending) in the commit.
	pending bool
	// notices go to extensions once the change is stored (not stored
	// themselves: they inform, they carry nothing of the contact's).
	notices []notice
}

// notice is a chat from pbxgate to extensions.
type notice struct {
	exts []string
	chat Chat
}

type entryWrite struct {
	session string
	e       Entry
}

type outSend struct {
	session string
	seq     int
	sender  Sender
	out     message.Outbound
}

func newChange() *change {
	return &change{sessions: map[string]*Session{}, queues: map[string]*queueState{}}
}

func (c *change) session(s *Session) { c.sessions[s.ID] = s }

func (m *Manager) commit(c *change) error {
	if err := m.st.Update(func(txn *store.Txn) error { return m.writeChange(txn, c) }); err != nil {
		return fmt.Errorf("store session change: %w", err)
	}
	m.apply(c)
	m.applied(c)
	return nil
}

// writeChange puts c's writes into txn.
func (m *Manager) writeChange(txn *store.Txn, c *change) error {
	for _, s := range c.sessions {
		if err := m.replicateSession(txn, s); err != nil {
			return err
		}
		if err := store.SetJSON(txn, keySession+s.ID, s); err != nil {
			return err
		}
	}
	for _, w := range c.entries {
		if err := m.setEntry(txn, w.session, &w.e); err != nil {
			return err
		}
	}
	for _, d := range c.puts {
		if err := store.SetJSON(txn, d.Key, d); err != nil {
			return err
		}
	}
	for _, k := range c.dels {
		if err := txn.Delete([]byte(k)); err != nil {
			return err
		}
	}
	for name, q := range c.queues {
		if err := store.SetJSON(txn, keyQueue+name, q); err != nil {
			return err
		}
	}
	for id, ref := range c.byOut {
		if err := txn.Set([]byte(keyByOut+id), []byte(ref)); err != nil {
			return err
		}
	}
	if c.seen != "" {
		if err := store.SetTTL(txn, keySeen+c.seen, []byte{1}, seenTTL); err != nil {
			return err
		}
	}
	return putPending(txn, c)
}

// apply makes c the manager's state in memory and returns how to undo
// it (a batch of replies applies each change before the next is worked
// out, and undoes them all when their one store write fails).
func (m *Manager) apply(c *change) (undo func()) {
	open := map[string]saved[*Session]{}
	active := map[string]saved[string]{}
	dlv := map[string]saved[*delivery]{}
	qs := map[string]saved[*queueState]{}
	for _, s := range c.sessions {
		if _, seen := open[s.ID]; !seen {
			v, ok := m.open[s.ID]
			open[s.ID] = saved[*Session]{v, ok}
		}
		k := activeKey(s.Channel, s.Contact)
		if _, seen := active[k]; !seen {
			v, ok := m.active[k]
			active[k] = saved[string]{v, ok}
		}
		if s.State == Open {
			m.open[s.ID] = s
			m.active[k] = s.ID
		} else {
			delete(m.open, s.ID)
			if m.active[k] == s.ID {
				delete(m.active, k)
			}
		}
	}
	for _, k := range c.dels {
		if _, seen := dlv[k]; !seen {
			v, ok := m.dlv[k]
			dlv[k] = saved[*delivery]{v, ok}
		}
		delete(m.dlv, k)
	}
	for _, d := range c.puts {
		if _, seen := dlv[d.Key]; !seen {
			v, ok := m.dlv[d.Key]
			dlv[d.Key] = saved[*delivery]{v, ok}
		}
		m.dlv[d.Key] = d
	}
	for name, q := range c.queues {
		v, ok := m.qstate[name]
		qs[name] = saved[*queueState]{v, ok}
		m.qstate[name] = q
	}
	return func() {
		restore(m.open, open)
		restore(m.active, active)
		restore(m.dlv, dlv)
		restore(m.qstate, qs)
	}
}

// saved is a map entry before a change; ok is false when it was absent.
type saved[T any] struct {
	v  T
	ok bool
}

// restore puts the entries recorded in before back into m.
func restore[K comparable, V any](m map[K]V, before map[K]saved[V]) {
	for k, w := range before {
		if w.ok {
			m[k] = w.v
		} else {
			delete(m, k)
		}
	}
}

// applied updates the gauges and wakes the delivery loop after stored
// changes.
func (m *Manager) applied(cs ...*change) {
	m.m.open.Set(float64(len(m.open)))
	m.m.pending.Set(float64(len(m.dlv)))
	for _, c := range cs {
		if len(c.puts) > 0 {
			m.wake()
			return
		}
	}
}

func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// clone copies s so a failed commit leaves the in-memory session untouched.
func (s *Session) clone() *Session {
	n := *s
	n.Offered = slices.Clone(s.Offered)
	n.Tried = slices.Clone(s.Tried)
	n.Timeline = slices.Clone(s.Timeline)
	return &n
}

func (s *Session) event(at time.Time, op, by, detail string) {
	s.Timeline = append(s.Timeline, Event{At: at, Op: op, By: by, Detail: detail})
}

func (s *Session) chat(e Entry) Chat {
	return Chat{SessionID: s.ID, Seq: e.Seq, Contact: s.Contact, Name: s.Name, Channel: s.Channel, Kind: s.Kind, Text: e.Text, At: e.At}
}

// newSession creates a session routed to target (not yet stored).
func (m *Manager) newSession(c *change, ch *Channel, sender, contact, name string, target Target, by string, now time.Time) *Session {
	s := &Session{ID: newID(now), Channel: ch.Name, Kind: ch.Kind, Sender: sender, Contact: contact, Name: name,
		State: Open, Created: now, LastActivity: now, NextSeq: 1}
	s.event(now, "created", by, "")
	m.assign(c, s, target, by, now)
	c.session(s)
	m.m.sessions.Inc()
	return s
}

func (m *Manager) appendEntry(c *change, s *Session, e Entry) Entry {
	e.Seq = s.NextSeq
	s.NextSeq++
	c.entries = append(c.entries, &entryWrite{session: s.ID, e: e})
	return e
}

func (m *Manager) addSend(c *change, ch *Channel, s *Session, e *Entry) {
	e.OutboundID = fmt.Sprintf("%s%s-%d", outPrefix, s.ID, e.Seq)
	c.entries[len(c.entries)-1].e.OutboundID = e.OutboundID
	c.sends = append(c.sends, outSend{session: s.ID, seq: e.Seq, sender: ch.Sender,
		out: message.Outbound{ID: e.OutboundID, Channel: s.Channel, Sender: s.Sender, To: s.Contact, Text: e.Text, Ref: "session/" + s.ID, ReplyTo: e.QuoteID,
			// An SMS status report tells whether it was delivered.
			DeliveryReport: e.Notify != nil && (e.Notify.Delivery || e.Notify.Failure)}})
}

// sendNotices sends notices to extensions in the background, once each:
// a notice an offline extension misses is not retried (the chat log and
// the session's refusal to a late reply still tell).
func (m *Manager) sendNotices(ns []notice) {
	p := m.runCtx.Load()
	if p == nil || len(ns) == 0 {
		return
	}
	ctx := *p
	for _, n := range ns {
		for _, ext := range n.exts {
			go func() {
				dctx, cancel := context.WithTimeout(ctx, m.cfg.DeliveryTimeout)
				defer cancel()
				if err := m.cfg.Deliverer.DeliverChat(dctx, ext, n.chat); err != nil {
					m.log.Info("notice to extension not delivered", "ext", ext, "session", n.chat.SessionID, "err", err)
				}
			}()
		}
	}
}

// sendAfterCommit hands stored outbound entries to their channels; a
// refusal is recorded on the entry and returned.
func (m *Manager) sendAfterCommit(ctx context.Context, c *change) error {
	var first error
	for _, p := range c.sends {
		if err := m.sendOut(ctx, p.sender, p.out, p.session, p.seq); err != nil {
			m.m.messages.WithLabelValues("out_failed").Inc()
			m.setEntryStatus(p.session, p.seq, string(message.Failed), err.Error(), message.ReasonOf(err), "")
			if first == nil {
				first = fmt.Errorf("%s channel did not take the message: %w", p.out.Channel, err)
			}
			continue
		}
		m.m.messages.WithLabelValues(Out).Inc()
	}
	return first
}

// FromExtension handles a message an extension wrote to a contact: an agent
// command, or a reply sent on the session's channel and sender. Without an
// open session it opens one on the default channel when allowed.
//
// A reply is stored for sending (with its chat-log entry, one commit) and
// then handed to its channel in the background: FromExtension returns nil
// once it is stored, or the channel's error when the channel refuses it at
// once. It stores nothing once ctx has ended or the caller closed the
// Gate attached to ctx (WithGate); it then returns ErrBusy.
func (m *Manager) FromExtension(ctx context.Context, ext, contact, text string) error {
	return m.fromExtension(ctx, &replyReq{ctx: ctx, ext: ext, contact: contact, text: text, done: make(chan replyRes, 1)})
}

// FromExtensionThread is FromExtension for a message written in one
// channel's thread (Chat.Thread): it goes to the contact's session on that
// channel only. The plain thread ("") prefers the first channel's session
// and falls back to the contact's most recent one. An unknown thread
// wraps ErrUnknownChannel.
func (m *Manager) FromExtensionThread(ctx context.Context, ext, contact, thread, text string) error {
	r := &replyReq{ctx: ctx, ext: ext, contact: contact, text: text, done: make(chan replyRes, 1)}
	if thread != "" {
		ch, ok := m.byThread[thread]
		if !ok {
			return fmt.Errorf("%w: no channel thread %q", ErrUnknownChannel, thread)
		}
		r.channel, r.strict = ch, true
	}
	return m.fromExtension(ctx, r)
}

func (m *Manager) fromExtension(ctx context.Context, r *replyReq) error {
	m.replyMu.Lock()
	m.replyQ = append(m.replyQ, r)
	lead := !m.replyLeading
	m.replyLeading = true
	m.replyMu.Unlock()
	if lead {
		m.storeReplies()
	}
	res := <-r.done
	if res.err != nil {
		return res.err
	}
	// Stored: the reply goes out. Wait briefly for the channel's answer so
	// an immediate refusal reaches the extension.
	wait := time.NewTimer(replyWait)
	defer wait.Stop()
	for _, p := range res.sends {
		done := m.handOver(pendingSend{Session: p.session, Seq: p.seq, Out: p.out}, p.sender)
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%s channel did not take the message: %w", p.out.Channel, err)
			}
		case <-wait.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// replyReq is one FromExtension call waiting for its store write.
type replyReq struct {
	ctx                context.Context
	ext, contact, text string
	// channel: the thread's channel; strict: only a session on it (a
	// reply in a channel's thread), otherwise it is only preferred.
	channel string
	strict  bool
	done    chan replyRes
}

type replyRes struct {
	err   error
	sends []outSend
}

// maxReplyBatch bounds the replies stored in one transaction.
const maxReplyBatch = 256

// storeReplies is group commit for extensions' messages: the caller that
// finds no one storing takes every waiting message, works each out in
// turn (each sees the ones before it) and stores them in one transaction,
// one fsync for the lot. Messages that arrived meanwhile are stored by a
// new goroutine the same way, so the caller returns to its own answer
// instead of serving others for as long as they keep coming. With many
// extensions writing at once this is what lets pbxgate take more replies
// per second than the disk does fsyncs.
func (m *Manager) storeReplies() {
	m.replyMu.Lock()
	batch := m.replyQ
	if len(batch) > maxReplyBatch {
		batch = batch[:maxReplyBatch]
	}
	m.replyQ = m.replyQ[len(batch):]
	if len(batch) == 0 {
		m.replyLeading = false
		m.replyQ = nil
		m.replyMu.Unlock()
		return
	}
	m.replyMu.Unlock()
	m.storeBatch(batch)
	m.replyMu.Lock()
	more := len(m.replyQ) > 0
	if !more {
		m.replyLeading = false
		m.replyQ = nil
	}
	m.replyMu.Unlock()
	if more {
		go m.storeReplies()
	}
}

func (m *Manager) storeBatch(batch []*replyReq) {
	m.mu.Lock()
	var reqs []*replyReq
	var changes []*change
	var undos []func()
	for _, r := range batch {
		c, err := m.replyChange(r)
		if err != nil {
			r.done <- replyRes{err: err}
			continue
		}
		undos = append(undos, m.apply(c))
		reqs, changes = append(reqs, r), append(changes, c)
	}
	if len(changes) == 0 {
		m.mu.Unlock()
		return
	}
	handed := m.takeHanded()
	err := m.st.Update(func(txn *store.Txn) error {
		for _, c := range changes {
			if err := m.writeChange(txn, c); err != nil {
				return err
			}
		}
		return deleteHanded(txn, handed)
	})
	if err != nil {
		m.putBackHanded(handed)
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
		err = fmt.Errorf("store session change: %w", err)
	} else {
		m.applied(changes...)
		for _, c := range changes {
			m.sendNotices(c.notices)
		}
	}
	m.mu.Unlock()
	for i, r := range reqs {
		if err != nil {
			r.done <- replyRes{err: err}
			continue
		}
		r.done <- replyRes{sends: changes[i].sends}
	}
}

// replyChange works out what an extension's message changes (called with
// m.mu held): the change to store, or why it is refused.
func (m *Manager) replyChange(r *replyReq) (*change, error) {
	ctx, ext, contact, text := r.ctx, r.ext, r.contact, r.text
	if gaveUp(ctx) {
		return nil, ErrBusy
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%w: nothing was sent", ErrEmptyReply)
	}
	now := m.clock.Now()
	c := newChange()
	want := r.channel
	if !r.strict {
		want = m.primary()
	}
	s, err := m.sessionFor(ext, contact, want, r.strict)
	ref, _, isBlock := m.textBlockRef(text)
	cmd, arg, isCmd := parseCommand(text)
	isCmd = isCmd && !isBlock
	if err != nil {
		if !errors.Is(err, ErrNoSession) || isCmd {
			return nil, err
		}
		if r.strict && r.channel != m.cfg.DefaultChannel {
			return nil, fmt.Errorf("%w on %s: reply in the contact's thread of another channel", ErrNoSession, r.channel)
		}
		if s, err = m.openFromExtension(c, ext, contact, now); err != nil {
			return nil, err
		}
	} else {
		s = s.clone()
	}
	c.session(s)
	if isCmd {
		if err := m.command(c, s, ext, cmd, arg, now); err != nil {
			return nil, err
		}
		return c, mayStore(ctx)
	}
	if s.Kind == message.WhatsApp && now.Sub(s.LastInbound) >= 24*time.Hour {
		return nil, fmt.Errorf("%w: %s has not written in the last 24 hours; start with a template campaign", ErrWindowClosed, contact)
	}
	if isBlock {
		// A text block: the agent's shorthand becomes the full reply.
		if text, err = m.expandTextBlock(ref, s, ext); err != nil {
			return nil, err
		}
	}
	m.pickUp(c, s, ext, now)
	ch := m.chans[s.Channel]
	e := m.appendEntry(c, s, Entry{Dir: Out, At: now, Text: text, By: ext, Status: string(message.Queued), Notify: notifyOf(ctx)})
	s.AnsweredSeq, s.LastActivity = e.Seq, now
	m.addSend(c, ch, s, &e)
	c.pending = true
	return c, mayStore(ctx)
}

// sessionFor finds the open session with contact that ext may answer:
// on channel when strict, otherwise preferably on channel, else the most
// recent one.
func (m *Manager) sessionFor(ext, contact, channel string, strict bool) (*Session, error) {
	var best *Session
	var refusal error
	for _, s := range m.open {
		if s.Contact != contact || strict && s.Channel != channel {
			continue
		}
		if err := m.mayReply(s, ext); err != nil {
			refusal = err
			continue
		}
		switch {
		case best == nil:
			best = s
		case (s.Channel == channel) != (best.Channel == channel):
			if s.Channel == channel {
				best = s
			}
		case s.LastActivity.After(best.LastActivity):
			best = s
		}
	}
	if best != nil {
		return best, nil
	}
	if refusal != nil {
		return nil, refusal
	}
	return nil, ErrNoSession
}

func (m *Manager) mayReply(s *Session, ext string) error {
	if s.Owner == ext {
		return nil
	}
	if s.Target.Kind == ToExtension {
		return fmt.Errorf("%w: %s has it", ErrNotYours, s.Owner)
	}
	q := m.queues[s.Target.ID]
	if q == nil || !slices.Contains(q.Members, ext) {
		return fmt.Errorf("%w: it belongs to queue %s, of which %s is not a member", ErrNotYours, s.Target.ID, ext)
	}
	if q.Assignment != None && s.PickedUp {
		return fmt.Errorf("%w: %s picked it up", ErrNotYours, s.Owner)
	}
	return nil
}

// pickUp makes ext the owner when the assignment mode calls for it.
func (m *Manager) pickUp(c *change, s *Session, ext string, now time.Time) {
	if s.Target.Kind == ToQueue {
		if q := m.queues[s.Target.ID]; q != nil && q.Assignment == None {
			return
		}
	}
	if s.PickedUp && s.Owner == ext {
		return
	}
	// With ring all (or manual assignment) the other members saw the
	// session too: they are told who took it, so they need not find out
	// from a refusal when they answer.
	var others []string
	for _, o := range s.Offered {
		if o != ext {
			others = append(others, o)
		}
	}
	if len(others) > 0 {
		who := s.Contact
		if s.Name != "" {
			who = s.Name + " (" + s.Contact + ")"
		}
		c.notices = append(c.notices, notice{exts: others, chat: Chat{SessionID: s.ID, Contact: s.Contact, Name: s.Name,
			Channel: s.Channel, Kind: s.Kind, At: now, Notice: true,
			Text: fmt.Sprintf("pbxgate: the chat with %s was taken by %s", who, ext)}})
	}
	s.Owner, s.PickedUp, s.Offered = ext, true, nil
	s.event(now, "picked_up", ext, "")
	// Other members no longer see this session: what they have not
	// received yet is not theirs any more.
	for k, d := range m.dlv {
		if d.Chat.SessionID == s.ID && d.Ext != ext {
			c.dels = append(c.dels, k)
		}
	}
}

func (m *Manager) openFromExtension(c *change, ext, contact string, now time.Time) (*Session, error) {
	if m.cfg.DefaultChannel == "" {
		return nil, fmt.Errorf("%w: extensions may only answer contacts who wrote first (no default channel configured)", ErrNoSession)
	}
	ch := m.chans[m.cfg.DefaultChannel]
	if ch.Kind == message.WhatsApp {
		return nil, fmt.Errorf("%w: %s has not written in the last 24 hours; start with a template campaign", ErrWindowClosed, contact)
	}
	return m.newSession(c, ch, "", contact, "", Target{Kind: ToExtension, ID: ext}, ext, now), nil
}

// parseCommand recognises agent commands: "/close", "/pickup",
// "/transfer 201", "/transfer queue:support".
func parseCommand(text string) (cmd, arg string, ok bool) {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "/") || strings.HasPrefix(t, "//") {
		return "", "", false
	}
	f := strings.Fields(t[1:])
	if len(f) == 0 {
		return "", "", false
	}
	cmd = strings.ToLower(f[0])
	if len(f) > 1 {
		arg = f[1]
	}
	return cmd, arg, true
}

func (m *Manager) command(c *change, s *Session, ext, cmd, arg string, now time.Time) error {
	switch cmd {
	case "close":
		m.closeSession(c, s, ext, "closed by agent", now)
		return nil
	case "pickup":
		m.pickUp(c, s, ext, now)
		return nil
	case "transfer":
		t, err := m.parseTarget(arg)
		if err != nil {
			return err
		}
		if err := m.transfer(c, s, ext, t, now); err != nil {
			return err
		}
		// The agent who transferred is told it went through (from
		// pbxgate's identity, in the contact's thread).
		who := s.Contact
		if s.Name != "" {
			who = s.Name + " (" + s.Contact + ")"
		}
		c.notices = append(c.notices, notice{exts: []string{ext}, chat: Chat{SessionID: s.ID, Contact: s.Contact, Name: s.Name,
			Channel: s.Channel, Kind: s.Kind, At: now, Notice: true, Thread: m.threads[s.Channel], Label: m.labels[s.Channel],
			Text: fmt.Sprintf("pbxgate: the chat with %s was transferred to %s", who, t)}})
		return nil
	}
	return fmt.Errorf("%w: /%s (use /close, /pickup, /transfer 201 or /transfer queue:support)", ErrBadCommand, cmd)
}

func (m *Manager) parseTarget(arg string) (Target, error) {
	if arg == "" {
		return Target{}, fmt.Errorf("%w: /transfer needs an extension or queue:<name>", ErrBadCommand)
	}
	if name, ok := strings.CutPrefix(arg, "queue:"); ok {
		if m.queues[name] == nil {
			return Target{}, fmt.Errorf("%w: queue %q", ErrUnknownTarget, name)
		}
		return Target{Kind: ToQueue, ID: name}, nil
	}
	for _, r := range arg {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-' || r == '.') {
			return Target{}, fmt.Errorf("%w: %q is not an extension", ErrUnknownTarget, arg)
		}
	}
	return Target{Kind: ToExtension, ID: arg}, nil
}

// transfer hands s to t; the new destination receives a note and what the
// contact wrote since the last answer.
func (m *Manager) transfer(c *change, s *Session, by string, t Target, now time.Time) error {
	old := s.Owner
	if old == "" {
		old = s.Target.String()
	}
	backlog, err := m.backlog(s)
	if err != nil {
		return err
	}
	for k, d := range m.dlv {
		if d.Chat.SessionID == s.ID {
			c.dels = append(c.dels, k)
		}
	}
	m.assign(c, s, t, by, now)
	s.Timeline[len(s.Timeline)-1].Op = "transferred"
	s.Timeline[len(s.Timeline)-1].Detail = old + " → " + t.String()
	s.LastActivity = now
	note := m.appendEntry(c, s, Entry{Dir: Note, At: now, Status: "pending",
		Text: fmt.Sprintf("pbxgate: conversation with %s transferred to you by %s", s.Contact, by)})
	// The note introduces the backlog: it goes first although its entry
	// is newer.
	n := len(c.puts)
	m.queueDeliveries(c, s, note, m.audience(s), now)
	for _, d := range c.puts[n:] {
		d.First = true
	}
	for _, e := range backlog {
		m.queueDeliveries(c, s, e, m.audience(s), now)
	}
	return nil
}

// backlog is what the contact wrote since the last answer, or the last
// message when everything was answered (so a new agent has context).
func (m *Manager) backlog(s *Session) ([]Entry, error) {
	var all []Entry
	err := m.st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyLog+s.ID+"/", func(_ string, val []byte) error {
			var e Entry
			if err := jsonUnmarshal(val, &e); err != nil {
				return err
			}
			if e.Dir == In {
				all = append(all, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read chat log of %s: %w", s.ID, err)
	}
	var out []Entry
	for _, e := range all {
		if e.Seq > s.AnsweredSeq || len(e.DeliveredTo) == 0 {
			out = append(out, e)
		}
	}
	if len(out) == 0 && len(all) > 0 {
		out = all[len(all)-1:]
	}
	return out, nil
}

func (m *Manager) closeSession(c *change, s *Session, by, detail string, now time.Time) {
	s.State, s.ClosedAt = Closed, now
	s.event(now, "closed", by, detail)
	c.session(s)
}

// Close closes a session (portal).
func (m *Manager) Close(ctx context.Context, id, by string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.open[id]
	if s == nil {
		return fmt.Errorf("%w: %s is not open", ErrNotFound, id)
	}
	c := newChange()
	m.closeSession(c, s.clone(), by, "closed", m.clock.Now())
	return m.commit(c)
}

// Transfer hands a session to an extension or queue (portal).
func (m *Manager) Transfer(ctx context.Context, id, by string, t Target) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.open[id]
	if s == nil {
		return fmt.Errorf("%w: %s is not open", ErrNotFound, id)
	}
	if t.Kind == ToQueue && m.queues[t.ID] == nil {
		return fmt.Errorf("%w: queue %q", ErrUnknownTarget, t.ID)
	}
	if t.Kind == "" {
		t.Kind = ToExtension
	}
	s = s.clone()
	c := newChange()
	c.session(s)
	if err := m.transfer(c, s, by, t, m.clock.Now()); err != nil {
		return err
	}
	return m.commit(c)
}

// PinSender fixes the SIM (name or number) or WhatsApp number the
// session's replies leave from (portal, an admin): the contact writing to
// another one no longer moves it. An empty sender unpins; the next message
// of the contact sets the sender again.
func (m *Manager) PinSender(ctx context.Context, id, by, sender string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.open[id]
	if s == nil {
		return fmt.Errorf("%w: %s is not open", ErrNotFound, id)
	}
	s = s.clone()
	now := m.clock.Now()
	sender = strings.TrimSpace(sender)
	if sender == "" {
		s.SenderPinned = false
		s.event(now, "sender", by, "unpinned")
	} else {
		s.event(now, "sender", by, "pinned "+sender)
		s.Sender, s.SenderPinned = sender, true
	}
	c := newChange()
	c.session(s)
	return m.commit(c)
}

// Reply sends text to the session's contact on its channel and sender for
// a portal user (by, e.g. "portal:alice"): an admin answering in place of
// an extension. The session keeps its owner; the timeline records who
// answered. WhatsApp's 24-hour window applies as for extensions.
func (m *Manager) Reply(ctx context.Context, id, by, text string) error {
	return m.ReplyQuoting(ctx, id, by, text, 0)
}

// ReplyQuoting is Reply quoting the contact's message with sequence
// number quote in the session's log (0: none): WhatsApp shows the quote
// above the reply (Meta's context.message_id). Only a WhatsApp message the
// contact wrote can be quoted; anything else is ErrCannotQuote and
// nothing is sent.
func (m *Manager) ReplyQuoting(ctx context.Context, id, by, text string, quote int) error {
	return m.reply(ctx, id, by, text, quote, nil, nil)
}

// reply stores and sends a portal or API user's reply; att and media: the
// reply's file (ReplyWithFile), sent through att.SIM.
func (m *Manager) reply(ctx context.Context, id, by, text string, quote int, att *Attachment, media *message.Media) error {
	if strings.TrimSpace(text) == "" && media == nil {
		return fmt.Errorf("%w: the reply is empty", ErrEmptyReply)
	}
	m.mu.Lock()
	s := m.open[id]
	if s == nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s is not open", ErrNotFound, id)
	}
	now := m.clock.Now()
	if s.Kind == message.WhatsApp && now.Sub(s.LastInbound) >= 24*time.Hour {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s has not written in the last 24 hours; start with a template campaign", ErrWindowClosed, s.Contact)
	}
	var quoteID string
	if quote != 0 {
		var q Entry
		err := m.st.View(func(txn *store.Txn) error { return store.GetJSON(txn, entryKey(id, quote), &q) })
		if errors.Is(err, store.ErrNotFound) || (err == nil && (s.Kind != message.WhatsApp || q.Dir != In || q.InboundID == "")) {
			m.mu.Unlock()
			return fmt.Errorf("%w: message %d of session %s", ErrCannotQuote, quote, id)
		}
		if err != nil {
			m.mu.Unlock()
			return fmt.Errorf("read quoted message %d of %s: %w", quote, id, err)
		}
		quoteID = q.InboundID
	}
	s = s.clone()
	c := newChange()
	c.session(s)
	e := Entry{Dir: Out, At: now, Text: text, By: by, Status: string(message.Queued), QuoteID: quoteID}
	if media != nil {
		e.MediaType, e.MediaID, e.Attachment = media.ContentType, mediaID(media.Path), att
	}
	e = m.appendEntry(c, s, e)
	s.AnsweredSeq, s.LastActivity = e.Seq, now
	s.event(now, "replied", by, "")
	m.addSend(c, m.chans[s.Channel], s, &e)
	if media != nil {
		// An MMS: through the SIM the file was fitted for ("" any
		// MMS-capable SIM of the channel).
		out := &c.sends[len(c.sends)-1].out
		out.Media, out.Sender = media, att.SIM
	}
	if err := m.commit(c); err != nil {
		m.mu.Unlock()
		return err
	}
	m.mu.Unlock()
	return m.sendAfterCommit(ctx, c)
}
