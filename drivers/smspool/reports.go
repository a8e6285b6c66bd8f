package smspool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// StatusReport is a decoded SMS-STATUS-REPORT (see gateway/sms).
type StatusReport = gsms.StatusReport

// reportSyncDelay: a stored status report waits up to this long for a
// store sync other writers run anyway (each SIM worker syncs before its
// AT+CMGS) instead of running one of its own; the driver deletes the
// report from the modem only after that.
const reportSyncDelay = 20 * time.Millisecond

// orphanTTL: a status report nobody claims within this time belongs to a
// message the pool does not track (sent before a crash, or by another
// program on the SIM).
const orphanTTL = time.Hour

// HandleStatusReport matches a delivery report received on SIM simName to
// the sent part with the same message reference and recipient. A message
// is delivered when all its parts are, failed when any part failed for
// good. The result is stored before HandleStatusReport returns nil, so the
// driver may then acknowledge or delete the report.
func (p *Pool) HandleStatusReport(ctx context.Context, simName string, sr StatusReport) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if sr.Outcome == gsms.Pending {
		// The SMSC is still trying; a final report follows.
		return nil
	}
	now := p.cfg.Now()
	var id string
	var became message.Status
	err := p.updateWith(func(fn func(*store.Txn) error) error { return p.st.UpdateWithin(reportSyncDelay, fn) }, func(t *tx) error {
		txn := t.Txn
		id, became = "", ""
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
		id = ref.ID
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
			became = r.Status
		}
		return p.setRecord(txn, &r)
	})
	if err != nil {
		return fmt.Errorf("store status report MR %d from SIM %s: %w", sr.MR, simName, err)
	}
	switch became {
	case message.Delivered:
		p.met.delivered.WithLabelValues(simName).Inc()
	case message.Failed:
		p.met.failed.WithLabelValues(simName).Inc()
	}
	if became != "" {
		p.log.Debug("SMS delivery report", "id", id, "sim", simName, "status", became)
	}
	return nil
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
