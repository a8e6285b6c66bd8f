package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Status of one action's outcome.
type Status string

// Outcome statuses.
const (
	Done     Status = "done"
	Queued   Status = "queued"   // handed to the background worker (network forwards)
	Retrying Status = "retrying" // failed, a retry is scheduled
	Failed   Status = "failed"   // failed for good
	Skipped  Status = "skipped"  // not run (e.g. reply to a send-blocked number)
)

// Outcome is what one action did for one message (the portal's action log).
type Outcome struct {
	Rule     string     `json:"rule"` // rule ID; "consent" for built-in STOP/START
	RuleName string     `json:"rule_name"`
	Index    int        `json:"index"` // action index in the rule
	Action   ActionType `json:"action"`
	Status   Status     `json:"status"`
	Detail   string     `json:"detail,omitempty"` // error or what was done; never the message text
	Attempts int        `json:"attempts"`
	At       time.Time  `json:"at"`
	NextAt   time.Time  `json:"next_at,omitzero"` // when Retrying
}

// Record is a stored inbound message with what the automation did with it.
type Record struct {
	Inbound  message.Inbound `json:"inbound"`
	Received time.Time       `json:"received"`
	Finished bool            `json:"finished"`
	// Blocked is why rule processing was skipped (receive blacklist).
	Blocked string `json:"blocked,omitempty"`
	// Consent is "opt_out" or "opt_in" when the message was a built-in
	// STOP/START keyword (rules are then not evaluated).
	Consent  string    `json:"consent,omitempty"`
	Fired    []string  `json:"fired,omitempty"` // rule IDs, in order
	Outcomes []Outcome `json:"outcomes,omitempty"`
}

// Result is Handle's answer: the message's record after its actions ran.
type Result = Record

// Handle runs the automation for one inbound message. The message is
// stored first, so whatever an action does, it is never lost; each
// action's outcome is recorded, and failed outside actions are retried by
// Run. Handling a message ID again (a channel redelivering) returns the
// stored record and runs nothing twice; one interrupted by a crash
// continues with the actions not yet recorded.
func (e *Engine) Handle(ctx context.Context, in message.Inbound) (Result, error) {
	if in.ID == "" {
		in.ID = "in-" + strconv.FormatInt(e.now().UnixNano(), 36) + "-" + newID()
	}
	if in.At.IsZero() {
		in.At = e.now()
	}
	defer e.lockMsg(in.ID)()
	rec, err := e.begin(in)
	if err != nil {
		return Result{}, err
	}
	if rec.Finished {
		return rec, nil
	}
	vars := e.vars(ctx, in)
	// STOP is honoured even from a number blacklisted for receiving: an
	// opt-out must never be ignored.
	switch {
	case e.cs.IsStopWord(in.Text):
		rec.Consent = "opt_out"
		return e.runConsent(ctx, rec, vars, OptOutAction)
	case e.cs.IsStartWord(in.Text):
		if _, blocked := e.cs.ReceiveBlocked(ctx, in.From); !blocked {
			rec.Consent = "opt_in"
			return e.runConsent(ctx, rec, vars, OptInAction)
		}
	}
	if reason, blocked := e.cs.ReceiveBlocked(ctx, in.From); blocked {
		rec.Blocked = reason
		return e.finish(rec)
	}
	fired, err := e.fire(in, rec.Fired)
	if err != nil {
		return rec, err
	}
	rec.Fired = fired
	if err := e.save(rec); err != nil {
		return rec, err
	}
	rules := e.byID()
	for _, id := range fired {
		c := rules[id]
		if c == nil {
			continue // deleted meanwhile
		}
		for i, a := range c.Actions {
			if rec.has(id, i) {
				continue
			}
			var out Outcome
			var job *Job
			if background(a.Type) {
				// A slow or dead endpoint must not hold up the next
				// inbound message: the worker (Run) makes attempt 1.
				out, job = e.queue(in, c.ID, c.Name, i, a)
			} else {
				out, job = e.runAction(ctx, in, vars, c.ID, c.Name, i, a, 1)
			}
			rec.Outcomes = append(rec.Outcomes, out)
			if err := e.saveWith(rec, job); err != nil {
				return rec, err
			}
		}
	}
	return e.finish(rec)
}

func (r *Record) has(rule string, idx int) bool {
	for _, o := range r.Outcomes {
		if o.Rule == rule && o.Index == idx {
			return true
		}
	}
	return false
}

// runConsent handles a built-in STOP/START keyword: the opt-out/opt-in and
// its confirmation (Config.StopReply/StartReply).
func (e *Engine) runConsent(ctx context.Context, rec Record, vars Vars, t ActionType) (Record, error) {
	if !rec.has("consent", 0) {
		out, job := e.runAction(ctx, rec.Inbound, vars, "consent", "STOP/START", 0, Action{Type: t}, 1)
		rec.Outcomes = append(rec.Outcomes, out)
		if err := e.saveWith(rec, job); err != nil {
			return rec, err
		}
	}
	return e.finish(rec)
}

// begin stores the message (or loads its earlier record).
func (e *Engine) begin(in message.Inbound) (Record, error) {
	var rec Record
	now := e.now()
	err := e.st.Update(func(txn *store.Txn) error {
		err := store.GetJSON(txn, prefixRecord+in.ID, &rec)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rec = Record{Inbound: in, Received: now}
		if err := store.SetJSON(txn, prefixRecord+in.ID, rec); err != nil {
			return err
		}
		return txn.Set([]byte(timeKey(now, in.ID)), nil)
	})
	if err != nil {
		return Record{}, fmt.Errorf("rules: store inbound %s: %w", in.ID, err)
	}
	return rec, nil
}

func timeKey(t time.Time, id string) string {
	return fmt.Sprintf("%s%020d/%s", prefixByTime, t.UnixNano(), id)
}

func (e *Engine) save(rec Record) error { return e.saveWith(rec, nil) }

// saveWith stores rec and, in the same transaction, the retry job of its
// last action (so a crash cannot keep one without the other).
func (e *Engine) saveWith(rec Record, job *Job) error {
	err := e.st.Update(func(txn *store.Txn) error {
		if job != nil {
			if err := store.SetJSON(txn, job.key(), job); err != nil {
				return err
			}
		}
		return store.SetJSON(txn, prefixRecord+rec.Inbound.ID, rec)
	})
	if err != nil {
		return fmt.Errorf("rules: record %s: %w", rec.Inbound.ID, err)
	}
	if job != nil {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

func (e *Engine) finish(rec Record) (Record, error) {
	rec.Finished = true
	result := "rules"
	switch {
	case rec.Blocked != "":
		result = "blocked"
	case rec.Consent != "":
		result = rec.Consent
	}
	e.met.messages.WithLabelValues(result).Inc()
	return rec, e.save(rec)
}

func (e *Engine) byID() map[string]*compiled {
	rs := e.snapshot()
	m := make(map[string]*compiled, len(rs))
	for _, c := range rs {
		m[c.ID] = c
	}
	return m
}

// fire decides which rules fire for in and counts them against their
// per-contact limits. already is the decision of an interrupted earlier
// run, kept so a restart does not count twice.
func (e *Engine) fire(in message.Inbound, already []string) ([]string, error) {
	if already != nil {
		return already, nil
	}
	s := newSubject(in, e.loc)
	var ids []string
	err := match(e.snapshot(), &s, func(c *compiled) (bool, error) {
		ok, err := e.count(c, in.From, in.At)
		if ok {
			ids = append(ids, c.ID)
		}
		return ok, err
	})
	if ids == nil {
		ids = []string{}
	}
	return ids, err
}

// match runs the rule order over s: rules that apply and match are offered
// to take, which says whether the rule fires (its limit allows). The first
// firing rule ends the pass unless it continues; rest rules get their pass
// only when nothing fired.
func match(rs []*compiled, s *subject, take func(*compiled) (bool, error)) error {
	n := 0
	pass := func(rest bool) error {
		for _, c := range rs {
			if !c.Enabled || (c.Keyword == Rest) != rest || !c.applies(s) || !c.matchesText(s) {
				continue
			}
			ok, err := take(c)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			n++
			if !c.Continue {
				return nil
			}
		}
		return nil
	}
	if err := pass(false); err != nil || n > 0 {
		return err
	}
	return pass(true)
}

// count checks c's per-contact limit at t and records a firing when it
// allows one. Firings are kept as times (a sliding window).
func (e *Engine) count(c *compiled, from string, t time.Time) (bool, error) {
	if c.Limit == nil {
		return true, nil
	}
	e.cntMu.Lock()
	defer e.cntMu.Unlock()
	key := prefixCounter + c.ID + "/" + consent.Canonical(from)
	ok := false
	err := e.st.Update(func(txn *store.Txn) error {
		var ts []time.Time
		if err := store.GetJSON(txn, key, &ts); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		since := t.Add(-time.Duration(c.Limit.Period))
		kept := ts[:0]
		for _, x := range ts {
			if x.After(since) {
				kept = append(kept, x)
			}
		}
		if len(kept) >= c.Limit.Count {
			return nil
		}
		ok = true
		return store.SetJSON(txn, key, append(kept, t))
	})
	if err != nil {
		return false, fmt.Errorf("rules: limit counter of %q: %w", c.Name, err)
	}
	return ok, nil
}

func (e *Engine) vars(ctx context.Context, in message.Inbound) Vars {
	var ct Contact
	if e.cfg.Contacts != nil {
		c, ok, err := e.cfg.Contacts.Contact(ctx, in.From)
		if err != nil {
			e.log.Warn("automation: contact lookup failed; placeholders stay empty", "msg", in.ID, "err", err)
		} else if ok {
			ct = c
		}
	}
	return buildVars(in, ct, e.loc)
}

// Record returns the stored record of message id (the action log).
func (e *Engine) Record(_ context.Context, id string) (Record, error) {
	var rec Record
	err := e.st.View(func(txn *store.Txn) error { return store.GetJSON(txn, prefixRecord+id, &rec) })
	if errors.Is(err, store.ErrNotFound) {
		return Record{}, fmt.Errorf("message %q: %w", id, ErrNotFound)
	}
	return rec, err
}

// Recent returns up to limit records, newest first.
func (e *Engine) Recent(_ context.Context, limit int) ([]Record, error) {
	var out []Record
	err := e.st.View(func(txn *store.Txn) error {
		opts := badgerReverse(prefixByTime)
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := []byte(prefixByTime + "~")
		for it.Seek(seek); it.Valid() && len(out) < limit; it.Next() {
			k := string(it.Item().Key())
			id := k[strings.LastIndexByte(k, '/')+1:]
			var rec Record
			if err := store.GetJSON(txn, prefixRecord+id, &rec); err != nil {
				continue // pruned meanwhile
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Prune deletes records of messages received before t (retention) and
// rate-limit counters that no longer limit anything. Pending retries are
// kept until they end.
func (e *Engine) Prune(_ context.Context, before time.Time) (int, error) {
	if err := e.pruneCounters(); err != nil {
		return 0, err
	}
	n := 0
	for {
		var keys [][]byte
		err := e.st.View(func(txn *store.Txn) error {
			it := txn.NewIterator(badgerForward(prefixByTime))
			defer it.Close()
			end := timeKey(before, "")
			for it.Rewind(); it.Valid() && len(keys) < 1000; it.Next() {
				k := it.Item().KeyCopy(nil)
				if string(k) >= end {
					break
				}
				keys = append(keys, k)
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return n, err
		}
		err = e.st.Update(func(txn *store.Txn) error {
			for _, k := range keys {
				id := string(k[strings.LastIndexByte(string(k), '/')+1:])
				if err := txn.Delete(k); err != nil {
					return err
				}
				if err := txn.Delete([]byte(prefixRecord + id)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("rules: prune: %w", err)
		}
		n += len(keys)
	}
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("corrupt rule record: %w", err)
	}
	return nil
}

// pruneCounters deletes counters of deleted or unlimited rules and those
// whose firings have all left the rule's period.
func (e *Engine) pruneCounters() error {
	rules := e.byID()
	now := e.now()
	var stale []string
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, prefixCounter, func(k string, v []byte) error {
			id, _, _ := strings.Cut(strings.TrimPrefix(k, prefixCounter), "/")
			c := rules[id]
			if c == nil || c.Limit == nil {
				stale = append(stale, k)
				return nil
			}
			var ts []time.Time
			if err := json.Unmarshal(v, &ts); err != nil {
				stale = append(stale, k)
				return nil
			}
			since := now.Add(-time.Duration(c.Limit.Period))
			for _, t := range ts {
				if t.After(since) {
					return nil
				}
			}
			stale = append(stale, k)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("rules: prune counters: %w", err)
	}
	e.cntMu.Lock()
	defer e.cntMu.Unlock()
	for len(stale) > 0 {
		batch := stale[:min(len(stale), 1000)]
		stale = stale[len(batch):]
		if err := e.st.Update(func(txn *store.Txn) error {
			for _, k := range batch {
				if err := txn.Delete([]byte(k)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("rules: prune counters: %w", err)
		}
	}
	return nil
}

// Routed reports whether a rule handed the conversation to an extension or
// queue (done, or being retried): the daemon then skips its default
// session routing for this message.
func (r *Record) Routed() bool {
	for _, o := range r.Outcomes {
		if o.Action == RouteTo && (o.Status == Done || o.Status == Retrying) {
			return true
		}
	}
	return false
}
