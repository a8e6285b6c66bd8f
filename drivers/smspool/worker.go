package smspool

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// work is the loop of one SIM: take the oldest message it may send when
// its modem is ready and pacing allows, send it, record the outcome.
//
// A successful send is recorded together with the hand-over of the next
// message, in one transaction: with sync_writes that is one fsync per
// message instead of two, and the modem idles for less between sends.
func (p *Pool) work(ctx context.Context, s *sim, m Modem) {
	var sent *sentOutcome // stored with the next hand-over, or before idling
	defer func() { p.storeSent(sent) }()
	mmsKnown := false // an Attach starts a new worker, which asks again
	for ctx.Err() == nil {
		if !mmsKnown {
			mmsKnown = p.probeMMS(ctx, s, m)
		}
		ready, number := m.Ready(), numberOf(m)
		p.mu.Lock()
		s.number = number
		wake := p.wake
		it, wait := p.nextLocked(ctx, s, ready)
		p.mu.Unlock()
		if it != nil {
			sent = p.send(ctx, s, m, it, sent)
			continue
		}
		if sent != nil {
			p.storeSent(sent)
			sent = nil
			continue
		}
		if wait <= 0 || wait > p.cfg.Recheck {
			wait = p.cfg.Recheck
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func numberOf(m Modem) string {
	if n, ok := m.(interface{ Number() string }); ok {
		return n.Number()
	}
	return ""
}

// nextLocked claims the next message s may send now, or says how long to
// wait before asking again.
func (p *Pool) nextLocked(ctx context.Context, s *sim, ready bool) (*item, time.Duration) {
	if ctx.Err() != nil {
		return nil, 0 // detached or replaced since the loop checked (under p.mu)
	}
	if !ready {
		return nil, p.cfg.Recheck
	}
	now := p.cfg.Now().In(p.cfg.Location)
	if reason, until := s.pc.blocked(now); reason != "" {
		return nil, until.Sub(now)
	}
	if w := s.pc.wait(now); w > 0 {
		return nil, w
	}
	// Interactive work first: a bulk message is taken only when no
	// interactive one may go on this SIM now. Within a class the smallest
	// seq over the SIM's channels wins (order of arrival).
	var best *item
	var bestCh *channel
	var bestIdx int
	wait := p.cfg.Recheck
	for class := 0; class < nClasses && best == nil; class++ {
		for _, ch := range s.channels {
			for i, it := range ch.queue[class] {
				if best != nil && it.seq > best.seq {
					break
				}
				if !p.eligibleLocked(s, ch, it) {
					continue
				}
				if now.Before(it.notBefore) {
					wait = min(wait, it.notBefore.Sub(now))
					continue
				}
				best, bestCh, bestIdx = it, ch, i
				break
			}
		}
	}
	if best == nil {
		return nil, wait
	}
	q := &bestCh.queue[best.class]
	*q = slices.Delete(*q, bestIdx, bestIdx+1)
	s.busy = best.id
	s.pc.took(now, best.parts)
	return best, 0
}

// eligibleLocked: a pinned message goes only to its SIM; any other prefers
// SIMs that have not failed it yet.
func (p *Pool) eligibleLocked(s *sim, ch *channel, it *item) bool {
	if !p.mmsEligibleLocked(s, it) {
		return false
	}
	if it.sender != "" {
		return s.matches(it.sender)
	}
	if !slices.Contains(it.tried, s.name) {
		return true
	}
	// Every SIM of the channel failed it once: try again anywhere.
	for _, n := range ch.sims {
		if !slices.Contains(it.tried, n) && !(it.mms && p.noMMSLocked(n)) {
			return false
		}
	}
	return true
}

// matches reports whether sender (a SIM name or number) means s.
func (s *sim) matches(sender string) bool {
	return sender == s.name || (s.modem != nil && s.number != "" && sameNumber(s.number, sender))
}

// sameNumber compares phone numbers by their digits; a national and an
// international form match when one ends with the other (at least 7 digits).
func sameNumber(a, b string) bool {
	da, db := digits(a), digits(b)
	if da == "" || db == "" {
		return false
	}
	if da == db {
		return true
	}
	if len(da) < len(db) {
		da, db = db, da
	}
	return len(db) >= 7 && strings.HasSuffix(da, strings.TrimLeft(db, "0"))
}

func digits(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// sentOutcome is a successful send whose result is not stored yet.
type sentOutcome struct {
	r   record
	sim string
	res modem.SendResult
}

// send hands one claimed message to the modem, storing prev (the previous
// successful send) in the same transaction that marks it sending. It
// records failures at once and returns a success for the caller to store.
func (p *Pool) send(ctx context.Context, s *sim, m Modem, it *item, prev *sentOutcome) *sentOutcome {
	defer func() {
		p.mu.Lock()
		s.busy = ""
		p.mu.Unlock()
	}()
	r, err := p.markSending(it, s.name, prev)
	if err != nil && prev != nil {
		// The combined transaction failed: the previous result must not
		// wait for this message's fate.
		p.storeSent(prev)
		r, err = p.markSending(it, s.name, nil)
	}
	if err != nil {
		if errors.Is(err, errNotQueued) {
			return nil
		}
		p.log.Error("cannot record SMS as sending; it stays queued", "id", it.id, "sim", s.name, "err", err)
		it.notBefore = p.cfg.Now().Add(p.cfg.RetryBackoff)
		p.mu.Lock()
		p.insertLocked(it)
		p.mu.Unlock()
		return nil
	}
	if bt := p.cfg.BeforeTransmit; bt != nil {
		if err := bt(ctx, r.Msg.ID); err != nil {
			if err := p.markFailed(&r, s.name, Failure{Permanent: true, Reason: "not transmitted: " + err.Error()}); err != nil {
				p.log.Error("cannot record SMS send result", "id", r.Msg.ID, "sim", s.name, "err", err)
			}
			return nil
		}
	}
	// The send runs to its end even when the pool stops: cutting it off
	// would leave the message in an unknown state for no reason.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.SendTimeout)
	began := time.Now()
	res, sendErr := p.transmit(sctx, m, &r)
	took := time.Since(began)
	cancel()
	if sendErr == nil {
		p.mu.Lock()
		if s.sendAvg == 0 {
			s.sendAvg = took
		} else {
			s.sendAvg += (took - s.sendAvg) / 8
		}
		p.mu.Unlock()
	}
	if sendErr == nil {
		return &sentOutcome{r: r, sim: s.name, res: res}
	}
	f := Classify(sendErr)
	p.mu.Lock()
	s.lastErr = f.Reason
	p.mu.Unlock()
	switch {
	case f.MaybeSent:
		err = p.markUnknown(&r, s.name, f)
	case f.Permanent || r.Attempts >= p.cfg.MaxAttempts:
		err = p.markFailed(&r, s.name, f)
	default:
		if n := len(res.Parts); n > 0 {
			// The recipient's phone holds the first parts under a
			// concatenation reference that will never complete; the
			// whole message under a new reference is what they can read.
			f.Reason = fmt.Sprintf("%s (%d part(s) had gone out; the whole message is sent again)", f.Reason, n)
			f.ReasonCode = rPartsResent.Wrap(f.ReasonCode, n)
		}
		err = p.markRetry(&r, it, s.name, f)
	}
	if err != nil {
		// The outcome could not be stored: the message stays "sending" in
		// the store and becomes unknown at the next start, which is the
		// truth as far as the pool can tell.
		p.log.Error("cannot record SMS send result", "id", r.Msg.ID, "sim", s.name, "err", err)
	}
	return nil
}

var errNotQueued = errors.New("message is no longer queued")

// sendSyncDelay: how long marking a message sending may wait for a store
// sync another SIM's worker (or a delivery report) starts, instead of
// running its own — a millisecond against the second or more an SMS takes
// on the air, and at full load the SIMs share their syncs.
const sendSyncDelay = time.Millisecond

// markSending stores that the message is handed to SIM simName and counts it
// against the SIM's caps, in one transaction, before the modem sees it.
func (p *Pool) markSending(it *item, simName string, prev *sentOutcome) (record, error) {
	now := p.cfg.Now()
	local := now.In(p.cfg.Location)
	day, month := dayKey(local), monthKey(local)
	var r record
	var dayN, monthN int
	var prevRec record
	// Delivery reports waiting to be stored ride along (after prev: one
	// of them may be for it).
	reps := p.takeReports()
	// Durable before the modem sees the message; the sync may wait
	// sendSyncDelay for one the other SIMs' workers start anyway.
	err := p.updateWith(func(fn func(*store.Txn) error) error { return p.st.UpdateWithin(sendSyncDelay, fn) }, func(t *tx) error {
		txn := t.Txn
		var err error
		if prev != nil {
			if prevRec, err = p.applySent(t, prev, now); err != nil {
				return err
			}
		}
		for _, pr := range reps {
			if err := p.applyStatusReport(t, pr); err != nil {
				return err
			}
		}
		if it.rec != nil {
			r = *it.rec // as stored (see item)
		} else if r, err = getRecord(txn, it.id); err != nil {
			return err
		}
		if r.Status != message.Queued {
			return errNotQueued
		}
		r.Status, r.SIM, r.Reason, r.ReasonCode, r.Code, r.Retryable = message.Sending, simName, "", message.Reason{}, "", false
		r.Attempts++
		r.UpdatedAt = now
		if err := p.setRecord(txn, &r); err != nil {
			return err
		}
		if err := txn.Delete([]byte(seqKey(keyPending, r.Seq))); err != nil {
			return err
		}
		if err := txn.Set([]byte(sendingKey(r.Msg.ID)), []byte(simName)); err != nil {
			return err
		}
		if dayN, err = bump(txn, countKey(simName, day), it.parts); err != nil {
			return err
		}
		// The month's count is the sum of its days: not a counter of its
		// own, which would be a read and a write more per SMS.
		p.mu.Lock()
		pc := p.sims[simName].pc
		known, base := pc.month == month && pc.day == day, pc.monthN-pc.dayN
		p.mu.Unlock()
		if known {
			monthN = base + dayN
		} else if monthN, err = monthCount(txn, simName, month, day, dayN); err != nil {
			return err
		}
		return t.addEvent(&r, now)
	})
	if err != nil {
		if len(reps) > 0 {
			p.queueReports(true, reps...) // stored by the next try or on their own
		}
		return r, err
	}
	p.finishReports(reps, nil)
	if prev != nil {
		p.countSent(prev.sim, prevRec.Status)
	}
	p.mu.Lock()
	p.sims[simName].pc.count(day, month, dayN, monthN)
	p.mu.Unlock()
	return r, nil
}

// monthCount is what SIM sim sent in month (a monthKey): the sum of its
// day counters, with today's (day) taken as dayN.
func monthCount(txn *store.Txn, sim, month, day string, dayN int) (int, error) {
	total := dayN
	prefix := countKey(sim, month) + "-"
	today := countKey(sim, day)
	err := store.Each(txn, prefix, func(k string, v []byte) error {
		if k == today {
			return nil
		}
		var n int
		if err := store.UnmarshalFast(v, &n); err != nil {
			return fmt.Errorf("SMS counter %s: %w", k, err)
		}
		total += n
		return nil
	})
	return total, err
}

// bump adds n to the counter under key. Counters expire long after their
// day or month is over.
func bump(txn *store.Txn, key string, n int) (int, error) {
	v, err := getInt(txn, key)
	if err != nil {
		return 0, err
	}
	v += n
	return v, setTTL(txn, key, v, counterTTL)
}

const counterTTL = 400 * 24 * time.Hour

// storeSent stores a successful send on its own (no next message to
// combine it with). o may be nil.
func (p *Pool) storeSent(o *sentOutcome) {
	if o == nil {
		return
	}
	var r record
	err := p.update(func(t *tx) error {
		var err error
		r, err = p.applySent(t, o, p.cfg.Now())
		return err
	})
	if err != nil {
		// It stays "sending" in the store and becomes unknown at the next
		// start: the pool cannot prove it went out.
		p.log.Error("cannot record SMS as sent", "id", o.r.Msg.ID, "sim", o.sim, "err", err)
		return
	}
	p.countSent(o.sim, r.Status)
}

func (p *Pool) countSent(simName string, st message.Status) {
	p.met.sent.WithLabelValues(simName).Inc()
	switch st {
	case message.Delivered:
		p.met.delivered.WithLabelValues(simName).Inc()
	case message.Failed:
		p.met.failed.WithLabelValues(simName).Inc()
	}
}

// applySent records a successful send in txn: the parts' message
// references for their status reports, and reports that arrived before
// this result. It returns the stored record.
func (p *Pool) applySent(t *tx, o *sentOutcome, now time.Time) (record, error) {
	txn := t.Txn
	rr := o.r
	rr.Status, rr.UpdatedAt = message.Sent, now
	mrs := o.res.MRs()
	rr.Parts = make([]part, len(mrs))
	for i, mr := range mrs {
		rr.Parts[i] = part{MR: mr}
	}
	if err := txn.Delete([]byte(sendingKey(rr.Msg.ID))); err != nil {
		return rr, err
	}
	if err := t.addEvent(&rr, now); err != nil {
		return rr, err
	}
	if rr.Msg.DeliveryReport {
		sentAt := o.r.UpdatedAt // when it was handed to the modem
		for i, mr := range mrs {
			if mr < 0 {
				continue // the modem gave no reference: no report can be matched
			}
			var or orphanReport
			err := store.GetJSONFast(txn, orphanKey(o.sim, mr), &or)
			if err == nil && !or.ReceivedAt.Before(sentAt) && sameNumber(or.Report.Recipient, rr.Msg.To) {
				if err := txn.Delete([]byte(orphanKey(o.sim, mr))); err != nil {
					return rr, err
				}
				if err := p.applyReport(t, &rr, i, or.Report, now); err != nil {
					return rr, err
				}
				continue
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return rr, err
			}
			if err := store.SetJSONFast(txn, mrKey(o.sim, mr), mrRef{ID: rr.Msg.ID, Part: i, To: rr.Msg.To}); err != nil {
				return rr, err
			}
		}
	}
	return rr, p.setRecord(txn, &rr)
}

func (p *Pool) markFailed(r *record, simName string, f Failure) error {
	now := p.cfg.Now()
	err := p.update(func(t *tx) error {
		txn := t.Txn
		rr := *r
		rr.Status, rr.Reason, rr.ReasonCode, rr.Code, rr.Retryable, rr.UpdatedAt = message.Failed, f.Reason, f.ReasonCode, f.Code, !f.Permanent, now
		if !f.Permanent {
			rr.Reason = fmt.Sprintf("gave up after %d attempts: %s", rr.Attempts, f.Reason)
			rr.ReasonCode = rGaveUp.Wrap(f.ReasonCode, rr.Attempts)
		}
		if err := txn.Delete([]byte(sendingKey(rr.Msg.ID))); err != nil {
			return err
		}
		if err := p.setRecord(txn, &rr); err != nil {
			return err
		}
		*r = rr
		return t.addEvent(&rr, now)
	})
	if err != nil {
		return err
	}
	p.log.Warn("SMS failed", "id", r.Msg.ID, "sim", simName, "reason", r.Reason, "code", r.Code)
	p.met.failed.WithLabelValues(simName).Inc()
	return nil
}

// markUnknown records that the message may or may not have gone out.
func (p *Pool) markUnknown(r *record, simName string, f Failure) error {
	now := p.cfg.Now()
	err := p.update(func(t *tx) error {
		txn := t.Txn
		rr := *r
		rr.Status, rr.Reason, rr.Code, rr.Retryable, rr.UpdatedAt = message.Unknown,
			f.Reason+"; not sent again automatically to avoid a duplicate", f.Code, false, now
		rr.ReasonCode = rNotResent.Wrap(f.ReasonCode)
		if err := txn.Delete([]byte(sendingKey(rr.Msg.ID))); err != nil {
			return err
		}
		if err := p.setRecord(txn, &rr); err != nil {
			return err
		}
		*r = rr
		return t.addEvent(&rr, now)
	})
	if err != nil {
		return err
	}
	p.log.Warn("SMS may or may not have been sent", "id", r.Msg.ID, "sim", simName, "reason", f.Reason)
	p.met.unknown.WithLabelValues(simName).Inc()
	return nil
}

// markRetry puts the message back into the queue at its old position for
// another SIM (or, when pinned, the same SIM once it is back).
func (p *Pool) markRetry(r *record, it *item, simName string, f Failure) error {
	now := p.cfg.Now()
	err := p.update(func(t *tx) error {
		txn := t.Txn
		rr := *r
		rr.Status, rr.Reason, rr.ReasonCode, rr.Code, rr.Retryable, rr.UpdatedAt = message.Queued, f.Reason, f.ReasonCode, f.Code, true, now
		rr.NotBefore = now
		if !f.ModemFault {
			// Network trouble (congestion) hits every SIM alike: wait a little.
			rr.NotBefore = now.Add(p.cfg.RetryBackoff)
		}
		if rr.Msg.Sender == "" && !slices.Contains(rr.Tried, simName) {
			rr.Tried = append(rr.Tried, simName)
		}
		if err := txn.Delete([]byte(sendingKey(rr.Msg.ID))); err != nil {
			return err
		}
		if err := p.setRecord(txn, &rr); err != nil {
			return err
		}
		if err := txn.Set([]byte(seqKey(keyPending, rr.Seq)), []byte(rr.Msg.ID)); err != nil {
			return err
		}
		*r = rr
		return t.addEvent(&rr, now)
	})
	if err != nil {
		return err
	}
	p.log.Warn("SMS moved back to the queue after a modem error", "id", r.Msg.ID, "sim", simName, "reason", f.Reason)
	p.met.retried.WithLabelValues(simName).Inc()
	it.notBefore, it.tried = r.NotBefore, slices.Clone(r.Tried)
	rc := *r
	it.rec = &rc
	p.mu.Lock()
	p.insertLocked(it)
	p.mu.Unlock()
	return nil
}
