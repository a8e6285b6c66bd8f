// Package events routes the status events of every channel (sent,
// delivered, read, failed, unknown) to whoever sent the message. The
// router is built before the channels and the components that send
// through them; each component registers with it while the daemon wires
// its parts, before any channel runs, so nothing is bound late.
package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Journal records every status event, whoever claims it (the message log).
// It must be idempotent and never move a message backwards.
type Journal interface {
	Status(ctx context.Context, ev message.StatusEvent) error
}

// Handler takes the status events of the messages it sent.
type Handler interface {
	HandleStatus(ctx context.Context, ev message.StatusEvent) error
}

// BatchJournal is a Journal that records several events in one go.
type BatchJournal interface {
	Journal
	Statuses(ctx context.Context, evs []message.StatusEvent) error
}

// BatchHandler is a Handler that takes several events in one go (the
// campaign engine stores them in one transaction). errs[i] is what
// HandleStatus would return for evs[i].
type BatchHandler interface {
	Handler
	HandleStatuses(ctx context.Context, evs []message.StatusEvent) (errs []error)
}

// ErrNotInTxn is a TxnHandler's answer for an event it takes only the
// ordinary way (HandleStatus, once the channel hands it over); it wrote
// nothing to the transaction.
var ErrNotInTxn = errors.New("events: status not taken inside the channel's transaction")

// TxnJournal is a Journal that can record an event inside the transaction
// in which the channel stores it.
type TxnJournal interface {
	Journal
	StatusTxn(txn *store.Txn, ev message.StatusEvent) error
}

// TxnHandler is a Handler that can take an event inside the transaction in
// which the channel stores it (the SMS pool's: a campaign recipient then
// changes in the same commit as the pool's record). It answers as
// HandleStatus does (nil: taken; the route's notMine: not its message),
// or ErrNotInTxn. When it took the event, done (nil: nothing to do) is
// called once: with true after the transaction committed, with false when
// it did not (what it wrote is gone; the channel offers the event again).
// Any other error fails the channel's transaction.
type TxnHandler interface {
	Handler
	HandleStatusTxn(ctx context.Context, txn *store.Txn, ev message.StatusEvent) (done func(committed bool), err error)
}

// TxnFollower is a follower (Follow) that can tell, inside the channel's
// transaction, whether it must see an event. An event taken inside that
// transaction (StatusTxn) reaches the followers only in memory, after the
// commit: a crash in between loses it for them. So StatusTxn leaves an
// event to the ordinary way (the channel's outbox, kept until every part
// has seen it) when a follower of its claimant answers true here — or is
// not a TxnFollower at all.
type TxnFollower interface {
	Handler
	FollowsTxn(txn *store.Txn, ev message.StatusEvent) (bool, error)
}

// HandlerFunc adapts a function (a method value) to Handler.
type HandlerFunc func(ctx context.Context, ev message.StatusEvent) error

// HandleStatus calls f.
func (f HandlerFunc) HandleStatus(ctx context.Context, ev message.StatusEvent) error {
	return f(ctx, ev)
}

// Config configures a Router.
type Config struct {
	Logger  *slog.Logger
	Journal Journal // nil: none
}

// Router hands each event to the first registered handler that claims it.
type Router struct {
	log     *slog.Logger
	journal Journal

	mu        sync.RWMutex
	routes    []*route
	observers []func(message.StatusEvent)
}

type route struct {
	name      string
	h         Handler
	notMine   error // what h returns (wrapped) for a message it did not send
	followers []follower
}

type follower struct {
	name    string
	h       Handler
	notMine error
}

// New builds a router with no handlers.
func New(cfg Config) *Router {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Router{log: cfg.Logger, journal: cfg.Journal}
}

// Register adds a handler, tried after those registered before it. It
// claims an event unless it returns an error wrapping notMine; any other
// error makes the channel offer the event again later.
func (r *Router) Register(name string, h Handler, notMine error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = append(r.routes, &route{name: name, h: h, notMine: notMine})
}

// Follow tells h of every event the handler registered as claimant
// claimed too (a campaign message sent in session mode shows in its chat
// session). A failure of h is logged, not retried; notMine is not even
// logged.
func (r *Router) Follow(claimant, name string, h Handler, notMine error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rt := range r.routes {
		if rt.name == claimant {
			rt.followers = append(rt.followers, follower{name: name, h: h, notMine: notMine})
			return nil
		}
	}
	return errors.New("events: no handler named " + claimant + " to follow")
}

// Observe calls fn with every event once it was routed (the dashboard's
// traffic chart).
func (r *Router) Observe(fn func(message.StatusEvent)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observers = append(r.observers, fn)
}

// Status routes one event: the journal sees it first (a failure to record
// it is logged and does not hold it back), then the first handler that
// claims it. An event nobody claims (CLI sends, automatic answers) is only
// logged. An error means the event was not taken: the channel keeps it and
// offers it again.
func (r *Router) Status(ctx context.Context, ev message.StatusEvent) error {
	if r.journal != nil {
		if err := r.journal.Status(ctx, ev); err != nil {
			r.log.Warn("message log: status not recorded", "id", ev.ID, "status", ev.Status, "err", err)
		}
	}
	r.mu.RLock()
	routes, observers := r.routes, r.observers
	r.mu.RUnlock()
	if err := r.route(ctx, routes, ev); err != nil {
		return err
	}
	for _, fn := range observers {
		fn(ev)
	}
	return nil
}

// StatusBatch routes several events as Status does, each handler taking
// its share in one call where it can (BatchHandler, BatchJournal): the
// SMS pool's outbox hands its events over in batches. It returns how many
// of evs, from the first on, were taken; the rest are offered again
// (handlers are idempotent by ID and status), err says why the first of
// them was not taken.
func (r *Router) StatusBatch(ctx context.Context, evs []message.StatusEvent) (int, error) {
	if r.journal != nil {
		if bj, ok := r.journal.(BatchJournal); ok {
			if err := bj.Statuses(ctx, evs); err != nil {
				r.log.Warn("message log: statuses not recorded", "events", len(evs), "err", err)
			}
		} else {
			for _, ev := range evs {
				if err := r.journal.Status(ctx, ev); err != nil {
					r.log.Warn("message log: status not recorded", "id", ev.ID, "status", ev.Status, "err", err)
				}
			}
		}
	}
	r.mu.RLock()
	routes, observers := r.routes, r.observers
	r.mu.RUnlock()
	taken := len(evs)
	var takenErr error
	pending := make([]int, len(evs))
	for i := range pending {
		pending[i] = i
	}
	var sub []message.StatusEvent
	for _, rt := range routes {
		if len(pending) == 0 {
			break
		}
		sub = sub[:0]
		for _, i := range pending {
			sub = append(sub, evs[i])
		}
		var errs []error
		if bh, ok := rt.h.(BatchHandler); ok {
			errs = bh.HandleStatuses(ctx, sub)
		} else {
			errs = make([]error, len(sub))
			for k, ev := range sub {
				errs[k] = rt.h.HandleStatus(ctx, ev)
			}
		}
		next := pending[:0]
		for k, i := range pending {
			err := errs[k]
			if rt.notMine != nil && errors.Is(err, rt.notMine) {
				next = append(next, i)
				continue
			}
			if err != nil {
				if i < taken {
					taken, takenErr = i, err
				}
				continue
			}
			r.follow(ctx, rt, evs[i])
		}
		pending = next
	}
	for _, i := range pending {
		ev := evs[i]
		r.log.Debug("message status", "id", ev.ID, "status", ev.Status, "sender", ev.Sender, "reason", ev.Reason)
	}
	for _, ev := range evs[:taken] {
		for _, fn := range observers {
			fn(ev)
		}
	}
	return taken, takenErr
}

// StatusTxn routes ev inside txn, the channel's transaction that stores
// it (smspool.TxnSink): the journal and the handler that claims it write
// there, so one commit stores the channel's change, the message log's and
// the sender's. It returns false, having written nothing, when a part can
// take ev only the ordinary way (a journal or a handler before the
// claimant without the Txn interface, or ErrNotInTxn); the channel then
// keeps ev in its outbox and hands it to Status or StatusBatch; so also
// when a follower of a route up to the claimant must see ev (TxnFollower).
// With true,
// done must be called once with whether txn committed; the claimant's
// followers and the observers see ev after the commit (ctx is theirs).
func (r *Router) StatusTxn(ctx context.Context, txn *store.Txn, ev message.StatusEvent) (bool, func(committed bool), error) {
	var tj TxnJournal
	if r.journal != nil {
		var ok bool
		if tj, ok = r.journal.(TxnJournal); !ok {
			return false, nil, nil
		}
	}
	r.mu.RLock()
	routes, observers := r.routes, r.observers
	r.mu.RUnlock()
	var claimant *route
	var hdone func(bool)
	for _, rt := range routes {
		th, ok := rt.h.(TxnHandler)
		if !ok {
			return false, nil, nil
		}
		// Asked before the handler writes anything: a follower that
		// must see ev sends it the ordinary way.
		for _, f := range rt.followers {
			tf, ok := f.h.(TxnFollower)
			if !ok {
				return false, nil, nil
			}
			follows, err := tf.FollowsTxn(txn, ev)
			if err != nil {
				return false, nil, err
			}
			if follows {
				return false, nil, nil
			}
		}
		d, err := th.HandleStatusTxn(ctx, txn, ev)
		if rt.notMine != nil && errors.Is(err, rt.notMine) {
			continue
		}
		if errors.Is(err, ErrNotInTxn) {
			return false, nil, nil
		}
		if err != nil {
			return false, nil, err
		}
		claimant, hdone = rt, d
		break
	}
	if tj != nil {
		// As in Status: a failure to record it does not hold it back.
		if err := tj.StatusTxn(txn, ev); err != nil {
			r.log.Warn("message log: status not recorded", "id", ev.ID, "status", ev.Status, "err", err)
		}
	}
	return true, func(committed bool) {
		if hdone != nil {
			hdone(committed)
		}
		if !committed {
			return
		}
		if claimant != nil {
			r.follow(ctx, claimant, ev)
		} else {
			r.log.Debug("message status", "id", ev.ID, "status", ev.Status, "sender", ev.Sender, "reason", ev.Reason)
		}
		for _, fn := range observers {
			fn(ev)
		}
	}, nil
}

// HandleStatus is Status under the name the WhatsApp channel asks for.
func (r *Router) HandleStatus(ctx context.Context, ev message.StatusEvent) error {
	return r.Status(ctx, ev)
}

func (r *Router) route(ctx context.Context, routes []*route, ev message.StatusEvent) error {
	for _, rt := range routes {
		err := rt.h.HandleStatus(ctx, ev)
		if rt.notMine != nil && errors.Is(err, rt.notMine) {
			continue
		}
		if err != nil {
			return err
		}
		r.follow(ctx, rt, ev)
		return nil
	}
	r.log.Debug("message status", "id", ev.ID, "status", ev.Status, "sender", ev.Sender, "reason", ev.Reason)
	return nil
}

// follow shows ev, claimed by rt, to rt's followers.
func (r *Router) follow(ctx context.Context, rt *route, ev message.StatusEvent) {
	for _, f := range rt.followers {
		if err := f.h.HandleStatus(ctx, ev); err != nil && (f.notMine == nil || !errors.Is(err, f.notMine)) {
			r.log.Warn("status event not shown to "+f.name, "id", ev.ID, "claimed_by", rt.name, "err", err)
		}
	}
}
