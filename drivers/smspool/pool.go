// Package smspool turns pbxgate's modems (one SIM each) into SMS channels:
// a persistent outbound queue in Badger, one worker per SIM that pulls from
// it, per-SIM pacing (rate, random delay, daily and monthly caps, quiet
// hours), failover to another SIM of the channel when a modem fails,
// delivery reports matched to sent parts, and inbound messages stored and
// reassembled before the modem may delete them.
//
// Every state change is stored before it takes effect. Status events and
// inbound messages go through an outbox in the store, so a slow or failing
// sink neither blocks the modems nor loses anything: they are delivered
// at least once, in order, and again after a restart if the sink did not
// take them.
package smspool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Sentinel errors callers branch on.
var (
	// ErrUnknownChannel: Outbound.Channel names no configured SMS channel.
	ErrUnknownChannel = errors.New("no such SMS channel")
	// ErrUnknownSender: Outbound.Sender names no SIM of the channel.
	ErrUnknownSender = errors.New("sender is not a SIM of the channel")
	// ErrInvalid: the message cannot be sent as given (no ID, bad number,
	// empty or too long text).
	ErrInvalid = errors.New("invalid SMS")
	// ErrNotFound: no message with that ID.
	ErrNotFound = errors.New("no such SMS")
)

// Modem is what the pool needs from one modem (one SIM); *modem.Modem
// implements it. A modem that also has Number() string (the SIM's own
// number) can be chosen as sender by that number too.
type Modem interface {
	// Name is the configured name of the modem, the SIM's sender identity.
	Name() string
	// Ready reports whether the modem can send now (registered, not hung).
	Ready() bool
	// Send sends text (split into parts as needed) to the number to and
	// reports the message reference of every part. Errors are
	// *modem.SendError (see Classify).
	Send(ctx context.Context, to, text string, statusReport bool) (modem.SendResult, error)
}

// Sink receives status changes of outbound messages, at least once and in
// order, from one goroutine. Return an error only for a passing problem
// (the consumer's store is busy): the pool offers the same event again
// after RetryBackoff and holds the later ones back until it is taken, up
// to 20 times, then drops it with an error in the log. An event the
// consumer does not care about (a message that is not its own) must get
// nil. Handling must be idempotent by (ID, Status).
type Sink interface {
	Status(ctx context.Context, ev message.StatusEvent) error
}

// Journal records every SMS the pool accepts (the daemon's message log),
// in the transaction that queues it: a message is queued and recorded, or
// neither (an error fails the Enqueue). Re-enqueuing an ID the pool has
// does not call it again.
type Journal interface {
	Queued(txn *store.Txn, kind message.Kind, msg message.Outbound, summary string, at time.Time) error
}

// BatchSink is a Sink that also takes several events at once (the
// campaign engine stores the changes of a whole batch in one transaction).
// StatusBatch returns how many of evs, from the first on, it took; err
// says why the next one was not taken. Those are offered again, and so
// may be later ones it handled anyway (a Sink is idempotent by ID and
// status).
type BatchSink interface {
	Sink
	StatusBatch(ctx context.Context, evs []message.StatusEvent) (int, error)
}

// TxnSink is a Sink that can take a status event inside the pool's
// transaction that stores it (the daemon's events.Router: the campaign's
// recipient and the message log's entry change in the same commit as the
// pool's record). StatusTxn returns false, having written nothing, when
// the event must take the ordinary way (outbox, then Status or
// StatusBatch). With true, the pool writes no outbox entry for it and
// calls done exactly once: with true after txn committed, with false when
// it did not (a conflict runs the transaction again and offers the event
// again). An error fails the pool's transaction.
type TxnSink interface {
	Sink
	StatusTxn(ctx context.Context, txn *store.Txn, ev message.StatusEvent) (taken bool, done func(committed bool), err error)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, ev message.StatusEvent) error

// Status calls f.
func (f SinkFunc) Status(ctx context.Context, ev message.StatusEvent) error { return f(ctx, ev) }

// Config configures a Pool. Store and Channels are required.
type Config struct {
	Store    *store.Store
	Channels []config.SMSChannel
	// Pacing per modem name (modems.devices[].pacing). A SIM without an
	// entry is not paced.
	Pacing map[string]config.Pacing
	// Location is the time zone of quiet hours and of the daily/monthly
	// cap reset (region.time_zone). Default: UTC.
	Location *time.Location
	// Now is the clock; tests inject one. Default: time.Now.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
	Sink       Sink                  // nil: status events are not reported
	// Inbox stores received SMS (gateway/inbox). nil: received SMS are
	// refused and stay on the SIM.
	Inbox Inbox
	// Journal records every accepted SMS; nil: none.
	Journal Journal
	// BeforeTransmit, when set, is asked right before a SIM transmits a
	// message (after it is recorded sending); an error keeps the message
	// off the modem and fails it with that reason (the cluster's shared
	// campaigns claim their items here). nil: no question.
	BeforeTransmit func(ctx context.Context, id string) error

	// MaxAttempts is how many SIMs a message is handed to before it fails
	// with the last retryable error. Default 5.
	MaxAttempts int
	// RetryBackoff is how long a message waits after a retryable failure
	// before another SIM takes it, and how long a failing sink waits.
	// Default 5 s.
	RetryBackoff time.Duration
	// Recheck bounds how long an idle worker sleeps before it looks at its
	// modem's health and the clock again. Default 1 s.
	Recheck time.Duration
	// SendTimeout bounds one Send, as a last resort behind the driver's
	// own command timeouts. Default 5 min.
	SendTimeout time.Duration
	// ReassemblyTimeout is how long the parts of a long inbound SMS wait
	// for the missing ones before the message is delivered with the gaps
	// marked. Default 1 h.
	ReassemblyTimeout time.Duration
	// Retention is how long a sent or finished message is kept (its
	// status, and its ID for idempotency). Default 90 days.
	Retention time.Duration
	// SeenTTL is how long received PDUs are remembered to drop duplicates
	// (e.g. the same SMS seen as +CMT and again in SIM storage). Default 7 days.
	SeenTTL time.Duration
}

func (c *Config) defaults() {
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 5 * time.Second
	}
	if c.Recheck <= 0 {
		c.Recheck = time.Second
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 5 * time.Minute
	}
	if c.ReassemblyTimeout <= 0 {
		c.ReassemblyTimeout = time.Hour
	}
	if c.Retention <= 0 {
		c.Retention = 90 * 24 * time.Hour
	}
	if c.SeenTTL <= 0 {
		c.SeenTTL = 7 * 24 * time.Hour
	}
}

// Pool sends and receives SMS over a set of modems grouped into channels.
type Pool struct {
	cfg Config
	st  *store.Store
	log *slog.Logger
	met *metrics

	seq atomic.Uint64

	mu       sync.Mutex
	channels []*channel
	byName   map[string]*channel
	sims     map[string]*sim
	wake     chan struct{} // closed and replaced when work may be available
	runCtx   context.Context
	// txnCtx is set while Run runs: status events are offered to a
	// TxnSink inside the pool's transactions only then (before, the
	// daemon may still be registering the events' consumers).
	txnCtx  atomic.Pointer[context.Context]
	workers sync.WaitGroup
	stopped bool

	events *eventQueue

	inMu sync.Mutex // one inbound PDU at a time: reassembly reads then writes

	reports reportQueue // delivery reports waiting for a transaction (reports.go)
}

type channel struct {
	name         string
	sims         []string
	maxPerMinute int
	// queue holds the channel's waiting messages per class (index
	// message.Interactive, message.Bulk), each ordered by seq. A SIM takes
	// interactive work before bulk work.
	queue [nClasses][]*item
}

// nClasses is the number of message.Class values the pool schedules.
const nClasses = 2

// classOf maps a message's class to a queue index; unknown classes are
// bulk (they never overtake an interactive message).
func classOf(c message.Class) int {
	if c == message.Interactive {
		return 0
	}
	return 1
}

// queued is the number of messages waiting in the channel's queues.
func (ch *channel) queued() int { return len(ch.queue[0]) + len(ch.queue[1]) }

// heldRecords: items of a channel whose queue is this long or longer do
// not keep their record in memory (item.rec). Under the campaigns' pull
// the queue holds a small window per SIM; a bulk of API sends does not
// make the pool hold every text twice.
const heldRecords = 256

// item is a queued message as the scheduler sees it. rec, when set, is a
// copy of its stored record: a queued record is written only by whoever
// took its item out of the queue under p.mu (markSending, markRetry,
// Withdraw), and an item goes back only with the record as stored, so the
// worker that claims the item may write the next state without reading
// the record first. An item queued while its channel's queue holds
// heldRecords or more gets none (memory on a 1 GB board); its record is
// read at markSending.
type item struct {
	rec       *record
	id        string
	channel   string
	class     int // index into channel.queue
	seq       uint64
	sender    string
	parts     int
	notBefore time.Time
	tried     []string
	mms       bool // Media set: only MMS-capable SIMs take it (mms.go)
}

// sim is one SIM the pool knows of: configured in a channel, attached, or both.
type sim struct {
	name     string
	modem    Modem // nil while detached
	pc       *pacer
	channels []*channel
	cancel   context.CancelFunc
	done     chan struct{}
	busy     string        // ID being sent
	sendAvg  time.Duration // moving average of one Send (Forecast)
	lastErr  string
	number   string // the SIM's own number, as the modem last said
	mms      mmsCap // what its modem can do with MMS (mms.go)
}

// New opens the pool on cfg.Store: it loads the queue, marks messages a
// crash left in "sending" as unknown (they may have gone out; they are not
// resent blindly) and registers the metrics. Call Run to start sending.
func New(cfg Config) (*Pool, error) {
	cfg.defaults()
	if cfg.Store == nil {
		return nil, errors.New("smspool: Config.Store is required")
	}
	p := &Pool{
		cfg:    cfg,
		st:     cfg.Store,
		log:    cfg.Logger,
		byName: map[string]*channel{},
		sims:   map[string]*sim{},
		wake:   make(chan struct{}),
		events: newEventQueue(),
	}
	p.seq.Store(uint64(time.Now().UnixNano()))
	for _, c := range cfg.Channels {
		if _, dup := p.byName[c.Name]; dup {
			return nil, fmt.Errorf("smspool: SMS channel %q is configured twice", c.Name)
		}
		ch := &channel{name: c.Name, sims: slices.Clone(c.Modems), maxPerMinute: c.MaxPerMinute}
		p.channels = append(p.channels, ch)
		p.byName[c.Name] = ch
		for _, n := range c.Modems {
			s, err := p.simLocked(n)
			if err != nil {
				return nil, err
			}
			s.channels = append(s.channels, ch)
		}
	}
	for n := range cfg.Pacing {
		if _, err := p.simLocked(n); err != nil {
			return nil, err
		}
	}
	if err := p.events.load(p.st); err != nil {
		return nil, fmt.Errorf("smspool: load status events: %w", err)
	}
	if err := p.recover(); err != nil {
		return nil, err
	}
	if err := p.loadCounters(); err != nil {
		return nil, err
	}
	met, err := newMetrics(cfg.Registerer, p)
	if err != nil {
		return nil, err
	}
	p.met = met
	return p, nil
}

// simLocked returns the sim named n, creating it with its pacing.
func (p *Pool) simLocked(n string) (*sim, error) {
	if s, ok := p.sims[n]; ok {
		return s, nil
	}
	pc, err := newPacer(p.cfg.Pacing[n], uint64(len(p.sims))+uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, fmt.Errorf("smspool: pacing of modem %q: %w", n, err)
	}
	s := &sim{name: n, pc: pc}
	p.sims[n] = s
	return s, nil
}

func (p *Pool) nextSeq() uint64 { return p.seq.Add(1) }

// recover loads the persisted queue into memory and turns "sending" into
// "unknown".
func (p *Pool) recover() error {
	now := p.cfg.Now()
	var maxSeq uint64
	var sending []string
	err := p.st.View(func(txn *store.Txn) error {
		for _, prefix := range []string{keyEvents, keyInMsg} {
			if err := store.Each(txn, prefix, func(k string, _ []byte) error {
				if n, err := parseSeqKey(prefix, k); err == nil {
					maxSeq = max(maxSeq, n)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := store.Each(txn, keySending, func(k string, _ []byte) error {
			sending = append(sending, k)
			return nil
		}); err != nil {
			return err
		}
		return store.Each(txn, keyPending, func(k string, v []byte) error {
			r, err := getRecord(txn, string(v))
			if err != nil {
				// Start anyway: one unreadable message must not stop the
				// gateway. The keys stay for inspection.
				p.log.Error("queued SMS cannot be read; skipped", "id", string(v), "err", err)
				return nil
			}
			maxSeq = max(maxSeq, r.Seq)
			ch := p.byName[r.Msg.Channel]
			if ch == nil {
				// The channel was removed from the configuration: keep the
				// message stored and queued; it is sent when the channel
				// returns. Tell the admin.
				p.log.Warn("queued SMS waits for an SMS channel that is no longer configured; add it back to sms_channels or the message stays queued",
					"id", r.Msg.ID, "channel", r.Msg.Channel)
				return nil
			}
			it := newItem(&r)
			ch.queue[it.class] = append(ch.queue[it.class], it)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("smspool: load queue: %w", err)
	}
	if s := p.seq.Load(); maxSeq >= s {
		p.seq.Store(maxSeq + 1)
	}
	for _, ch := range p.channels {
		for c := range ch.queue {
			slices.SortFunc(ch.queue[c], func(a, b *item) int { return cmpSeq(a.seq, b.seq) })
		}
	}
	for _, k := range sending {
		id := unescape(k[len(keySending):])
		err := p.update(func(t *tx) error {
			txn := t.Txn
			r, err := getRecord(txn, id)
			if errors.Is(err, store.ErrNotFound) {
				return txn.Delete([]byte(k)) // nothing left to mark
			}
			if err != nil {
				return err
			}
			r.Status = message.Unknown
			r.Reason = fmt.Sprintf("pbxgate stopped while SIM %s was sending this SMS; it may have gone out, so it is not sent again automatically", r.SIM)
			r.ReasonCode = rStoppedSending.R(r.SIM)
			r.UpdatedAt = now
			if err := p.setRecord(txn, &r); err != nil {
				return err
			}
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
			return t.addEvent(&r, now)
		})
		if err != nil {
			return fmt.Errorf("smspool: mark interrupted SMS %s unknown: %w", id, err)
		}
		p.log.Warn("SMS interrupted by a restart marked unknown", "id", id)
	}
	return nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func newItem(r *record) *item {
	parts := 1
	if pl, err := gsms.PlanText(r.Msg.Text); err == nil {
		parts = pl.Parts
	}
	if r.Msg.Media != nil {
		parts = 1
	}
	return &item{id: r.Msg.ID, channel: r.Msg.Channel, class: classOf(r.Msg.Class), seq: r.Seq, sender: r.Msg.Sender, parts: parts,
		notBefore: r.NotBefore, tried: slices.Clone(r.Tried), mms: r.Msg.Media != nil}
}

// loadCounters mirrors today's and this month's cap counters of every
// known SIM into its pacer.
func (p *Pool) loadCounters() error {
	now := p.cfg.Now().In(p.cfg.Location)
	day, month := dayKey(now), monthKey(now)
	return p.st.View(func(txn *store.Txn) error {
		for n, s := range p.sims {
			d, err := getInt(txn, countKey(n, day))
			if err != nil {
				return err
			}
			m, err := monthCount(txn, n, month, day, d)
			if err != nil {
				return err
			}
			s.pc.count(day, month, d, m)
		}
		return nil
	})
}

// Enqueue stores msg in the outbound queue of its channel and returns once
// it is stored. It is idempotent by msg.ID: a message whose ID the pool
// already has (queued, sent, failed …) is not queued again and nil is
// returned. Channel may be empty when exactly one channel is configured.
func (p *Pool) Enqueue(ctx context.Context, msg message.Outbound) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if msg.Channel == "" && len(p.channels) == 1 {
		msg.Channel = p.channels[0].name
	}
	if err := p.validate(&msg); err != nil {
		return err
	}
	var r record
	created := false
	// A caller that marked ctx with store.DeferSync (a campaign, which
	// hands the same ID again after a power cut) does not wait for the
	// sync: the one before the modem sees the message (markSending) covers
	// this write too.
	err := p.st.UpdateCtx(ctx, func(txn *store.Txn) error {
		var err error
		r, created, err = p.enqueueIn(txn, msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue SMS %s: %w", msg.ID, err)
	}
	if created {
		p.queueStored(&r)
	}
	return nil
}

// EnqueueTxn is Enqueue in the caller's transaction txn (of the pool's
// store): it checks msg, stores it queued (and its journal entry) in txn
// and returns what to call once txn has committed — that puts the message
// into the scheduler's queue. If txn does not commit, drop committed:
// nothing was queued. committed is nil when the pool already has msg.ID
// (idempotent, as Enqueue). A transaction that fn of store.Update runs
// again after a conflict calls EnqueueTxn again; only the last attempt's
// committed counts.
//
// A campaign stores its recipient as handed over in the same transaction
// (campaign.TxnSender): one write for the hand-over instead of the
// campaign's mark, the pool's own transaction and the accepted mark.
func (p *Pool) EnqueueTxn(txn *store.Txn, msg message.Outbound) (committed func(), err error) {
	if msg.Channel == "" && len(p.channels) == 1 {
		msg.Channel = p.channels[0].name
	}
	if err := p.validate(&msg); err != nil {
		return nil, err
	}
	r, created, err := p.enqueueIn(txn, msg)
	if err != nil {
		return nil, fmt.Errorf("queue SMS %s: %w", msg.ID, err)
	}
	if !created {
		return nil, nil
	}
	return func() { p.queueStored(&r) }, nil
}

// enqueueIn stores msg (validated) as queued in txn unless the pool has
// its ID already.
func (p *Pool) enqueueIn(txn *store.Txn, msg message.Outbound) (record, bool, error) {
	now := p.cfg.Now()
	r := record{Msg: msg, Status: message.Queued, QueuedAt: now, UpdatedAt: now}
	ok, err := exists(txn, msgKey(msg.ID))
	if err != nil || ok {
		return r, false, err
	}
	r.Seq = p.nextSeq()
	if err := p.setRecord(txn, &r); err != nil {
		return r, false, err
	}
	if j := p.cfg.Journal; j != nil {
		if err := j.Queued(txn, message.SMS, msg, "", now); err != nil {
			return r, false, err
		}
	}
	return r, true, txn.Set([]byte(seqKey(keyPending, r.Seq)), []byte(msg.ID))
}

// queueStored puts a message enqueueIn stored (committed) into its
// channel's queue.
func (p *Pool) queueStored(r *record) {
	it := newItem(r)
	p.mu.Lock()
	if ch := p.byName[it.channel]; ch != nil && ch.queued() < heldRecords {
		rc := *r
		it.rec = &rc
	}
	p.insertLocked(it)
	p.mu.Unlock()
}

func (p *Pool) validate(msg *message.Outbound) error {
	if msg.ID == "" {
		return fmt.Errorf("%w: the message has no ID", ErrInvalid)
	}
	ch := p.byName[msg.Channel]
	if ch == nil {
		names := make([]string, len(p.channels))
		for i, c := range p.channels {
			names[i] = c.name
		}
		return fmt.Errorf("%w: %q (configured: %s)", ErrUnknownChannel, msg.Channel, strings.Join(names, ", "))
	}
	if !validNumber(msg.To) {
		return message.WithReason(fmt.Errorf("%w: recipient %q is not a phone number (digits with an optional leading +)", ErrInvalid, msg.To), rInvalidTo.R(msg.To))
	}
	if msg.Media != nil {
		if err := p.validateMMS(msg); err != nil {
			return err
		}
	} else if msg.Text == "" {
		return message.WithReason(fmt.Errorf("%w: the message to %s has no text", ErrInvalid, msg.To), rNoText.R(msg.To))
	}
	if _, err := gsms.PlanText(msg.Text); err != nil && msg.Media == nil {
		return message.WithReason(fmt.Errorf("%w: %w", ErrInvalid, err), rUnencodable.R(err))
	}
	if msg.Sender != "" && !slices.Contains(ch.sims, msg.Sender) && !validNumber(msg.Sender) {
		return message.WithReason(fmt.Errorf("%w: %q is neither a SIM of channel %s (%s) nor a phone number", ErrUnknownSender,
			msg.Sender, ch.name, strings.Join(ch.sims, ", ")), rUnknownSender.R(msg.Sender, ch.name, strings.Join(ch.sims, ", ")))
	}
	return nil
}

func validNumber(s string) bool {
	d := strings.TrimPrefix(s, "+")
	if d == "" || len(d) > 20 {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// insertLocked puts it into its channel's queue in sequence order and wakes
// the workers.
func (p *Pool) insertLocked(it *item) {
	ch := p.byName[it.channel]
	if ch == nil {
		return
	}
	q := &ch.queue[it.class]
	i, _ := slices.BinarySearchFunc(*q, it.seq, func(a *item, s uint64) int { return cmpSeq(a.seq, s) })
	*q = slices.Insert(*q, i, it)
	p.broadcastLocked()
}

func (p *Pool) broadcastLocked() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// Attach adds a modem (at start-up or when it is plugged in). A modem with
// the same name replaces the previous one, which finishes its current send.
func (p *Pool) Attach(m Modem) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, err := p.simLocked(m.Name())
	if err != nil {
		return err
	}
	p.stopWorkerLocked(s)
	s.modem, s.mms = m, mmsCap{}
	if p.runCtx != nil && !p.stopped {
		p.startWorkerLocked(s)
	}
	p.broadcastLocked()
	return nil
}

// HandleState is the driver's State handler (modem.Handlers.State): a
// modem that comes online gets work at once instead of at the next
// Recheck. It does not block.
func (p *Pool) HandleState(name string, s modem.State) {
	p.mu.Lock()
	p.broadcastLocked()
	p.mu.Unlock()
}

// Detach removes a modem (unplugged, shut down). Its queued work moves to
// the channel's other SIMs; messages pinned to it wait for its return. A
// send in progress finishes and is recorded.
func (p *Pool) Detach(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sims[name]
	if s == nil || s.modem == nil {
		return
	}
	p.stopWorkerLocked(s)
	s.modem = nil
	p.broadcastLocked()
}

func (p *Pool) startWorkerLocked(s *sim) {
	ctx, cancel := context.WithCancel(p.runCtx)
	s.cancel = cancel
	s.done = make(chan struct{})
	p.workers.Add(1)
	go func(m Modem, done chan struct{}) {
		defer p.workers.Done()
		defer close(done)
		p.work(ctx, s, m)
	}(s.modem, s.done)
}

// stopWorkerLocked cancels s's worker without waiting: a send in progress
// completes on its own (its context is detached from the worker's).
func (p *Pool) stopWorkerLocked(s *sim) {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}

// Run starts one worker per attached modem and the outboxes, and blocks
// until ctx ends. Sends in progress are completed and recorded before Run
// returns; queued messages stay queued for the next start.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.runCtx != nil {
		p.mu.Unlock()
		return errors.New("smspool: Run called twice")
	}
	p.runCtx = ctx
	tctx := context.WithoutCancel(ctx) // sends finishing after ctx ended are recorded too
	p.txnCtx.Store(&tctx)
	for _, s := range p.sims {
		if s.modem != nil {
			p.startWorkerLocked(s)
		}
	}
	p.mu.Unlock()

	var bg sync.WaitGroup
	bg.Add(1)
	go func() { defer bg.Done(); p.runReassemblyTimer(ctx) }()
	if p.cfg.Sink != nil {
		bg.Add(1)
		go func() { defer bg.Done(); p.runEvents(ctx) }()
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		if err := p.migrateOutbox(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("inbound SMS of an older version not moved to the inbox; trying at the next start", "err", err)
		}
	}()

	<-ctx.Done()
	p.mu.Lock()
	p.stopped = true
	for _, s := range p.sims {
		p.stopWorkerLocked(s)
	}
	p.mu.Unlock()
	p.workers.Wait()
	bg.Wait()
	return nil
}

// Status returns the stored state of the message with the given ID.
func (p *Pool) Status(id string) (Message, error) {
	var r record
	err := p.st.View(func(txn *store.Txn) error {
		var err error
		r, err = getRecord(txn, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Message{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Message{}, fmt.Errorf("read SMS %s: %w", id, err)
	}
	m := Message{Outbound: r.Msg, Status: r.Status, SIM: r.SIM, Attempts: r.Attempts, Parts: len(r.Parts),
		Reason: r.Reason, ReasonCode: r.ReasonCode, Code: r.Code, QueuedAt: r.QueuedAt, UpdatedAt: r.UpdatedAt}
	for _, pt := range r.Parts {
		if pt.Status == gsms.Delivered {
			m.Delivered++
		}
	}
	return m, nil
}
