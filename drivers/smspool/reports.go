package smspool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// StatusReport is a decoded SMS-STATUS-REPORT (see gateway/sms).
type StatusReport = gsms.StatusReport

// reportRideDelay: how long a delivery report waits to be stored by the
// transaction a SIM worker commits next anyway (marking its next message
// sending, synced before AT+CMGS) before the reports waiting then are
// stored in a transaction of their own, whose sync may wait
// reportSyncDelay for one the workers start anyway. Before, a report was
// its own transaction whose sync waited up to 20 ms; a report is durable
// within about the same time now, and the driver deletes it from the SIM
// only after.
const (
	reportRideDelay = 10 * time.Millisecond
	reportSyncDelay = 10 * time.Millisecond
)

// orphanTTL: a status report nobody claims within this time belongs to a
// message the pool does not track (sent before a crash, or by another
// program on the SIM).
const orphanTTL = time.Hour

// pendingReport is a delivery report HandleStatusReport waits to see
// stored.
type pendingReport struct {
	sim  string
	sr   StatusReport
	at   time.Time
	done chan struct{} // closed once stored (err nil) or given up (err)
	err  error
	// set by applyStatusReport
	id     string
	became message.Status
}

// reportQueue holds the reports waiting for a transaction.
type reportQueue struct {
	mu    sync.Mutex
	q     []*pendingReport
	timer bool // a flush is scheduled
	delay time.Duration
}

// queueReports adds reps (in order, before the ones waiting when front)
// and schedules their own transaction unless one is.
func (p *Pool) queueReports(front bool, reps ...*pendingReport) {
	rq := &p.reports
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if front {
		rq.q = append(reps, rq.q...)
	} else {
		rq.q = append(rq.q, reps...)
	}
	if !rq.timer {
		rq.timer = true
		d := rq.delay
		if d <= 0 {
			d = reportRideDelay
		}
		time.AfterFunc(d, p.flushReports)
	}
}

// takeReports hands the waiting reports to a transaction that stores
// them (finishReports, or queueReports(true, …) when it failed).
func (p *Pool) takeReports() []*pendingReport {
	rq := &p.reports
	rq.mu.Lock()
	defer rq.mu.Unlock()
	q := rq.q
	rq.q = nil
	return q
}

// flushReports stores the reports no worker's transaction took within
// reportRideDelay, together.
func (p *Pool) flushReports() {
	rq := &p.reports
	rq.mu.Lock()
	q := rq.q
	rq.q, rq.timer = nil, false
	rq.mu.Unlock()
	if len(q) == 0 {
		return
	}
	err := p.updateWith(func(fn func(*store.Txn) error) error { return p.st.UpdateWithin(reportSyncDelay, fn) }, func(t *tx) error {
		for _, pr := range q {
			if err := p.applyStatusReport(t, pr); err != nil {
				return err
			}
		}
		return nil
	})
	p.finishReports(q, err)
}

// finishReports tells the waiting callers that reps are stored (err nil,
// the transaction is durable) or not.
func (p *Pool) finishReports(reps []*pendingReport, err error) {
	for _, pr := range reps {
		pr.err = err
		if err == nil {
			switch pr.became {
			case message.Delivered:
				p.met.delivered.WithLabelValues(pr.sim).Inc()
			case message.Failed:
				p.met.failed.WithLabelValues(pr.sim).Inc()
			}
			if pr.became != "" {
				p.log.Debug("SMS delivery report", "id", pr.id, "sim", pr.sim, "status", pr.became)
			}
		}
		close(pr.done)
	}
}

// HandleStatusReport matches a delivery report received on SIM simName to
// the sent part with the same message reference and recipient. A message
// is delivered when all its parts are, failed when any part failed for
// good. The result is stored (durably) before HandleStatusReport returns
// nil, so the driver may then acknowledge or delete the report: by the
// transaction a SIM worker commits next anyway (markSending), or within
// reportRideDelay by one of its own.
func (p *Pool) HandleStatusReport(ctx context.Context, simName string, sr StatusReport) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if sr.Outcome == gsms.Pending {
		// The SMSC is still trying; a final report follows.
		return nil
	}
	pr := &pendingReport{sim: simName, sr: sr, at: p.cfg.Now(), done: make(chan struct{})}
	p.queueReports(false, pr)
	select {
	case <-pr.done:
	case <-ctx.Done():
		// It may still be stored; the driver reads the report again
		// later, and a repeated report changes nothing.
		return ctx.Err()
	}
	if pr.err != nil {
		return fmt.Errorf("store status report MR %d from SIM %s: %w", sr.MR, simName, pr.err)
	}
	return nil
}

// applyStatusReport stores report pr in t.
func (p *Pool) applyStatusReport(t *tx, pr *pendingReport) error {
	txn, sr, simName, now := t.Txn, pr.sr, pr.sim, pr.at
	pr.id, pr.became = "", ""
	var ref mrRef
	err := store.GetJSONFast(txn, mrKey(simName, sr.MR), &ref)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sameNumber(ref.To, sr.Recipient)) {
		// Not known (yet): the send result of a long message may still
		// be on its way. Keep it for markSent.
		return setTTL(txn, orphanKey(simName, sr.MR), orphanReport{Report: sr, ReceivedAt: now}, orphanTTL)
	}
	if err != nil {
		return err
	}
	pr.id = ref.ID
	if err := txn.Delete([]byte(mrKey(simName, sr.MR))); err != nil {
		return err
	}
	r, err := getRecord(txn, ref.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the message outlived Retention; nothing to update
	}
	if err != nil {
		return err
	}
	before := r.Status
	if err := p.applyReport(t, &r, ref.Part, sr, now); err != nil {
		return err
	}
	if r.Status != before {
		pr.became = r.Status
	}
	return p.setRecord(txn, &r)
}

// applyReport sets part i of r from sr and, when that decides the message,
// its status (with an event in the outbox). The caller stores r.
func (p *Pool) applyReport(t *tx, r *record, i int, sr StatusReport, now time.Time) error {
	if i < 0 || i >= len(r.Parts) || r.Parts[i].Status != "" {
		return nil // duplicate report
	}
	r.Parts[i].Status = sr.Outcome
	if r.Status != message.Sent {
		return nil // already decided (an earlier part failed)
	}
	switch sr.Outcome {
	case gsms.Failed:
		r.Status, r.Reason, r.Code = message.Failed, "not delivered: "+sr.Reason, fmt.Sprintf("TP-ST 0x%02X", sr.Status)
		r.ReasonCode = rNotDelivered.Wrap(tpstReason(sr.Status))
		if len(r.Parts) > 1 {
			r.Reason = fmt.Sprintf("part %d of %d not delivered: %s", i+1, len(r.Parts), sr.Reason)
			r.ReasonCode = rPartUndelivered.Wrap(tpstReason(sr.Status), i+1, len(r.Parts))
		}
	case gsms.Delivered:
		for _, pt := range r.Parts {
			if pt.Status != gsms.Delivered {
				return nil
			}
		}
		r.Status = message.Delivered
	default:
		return nil
	}
	r.UpdatedAt = now
	return t.addEvent(r, now)
}
