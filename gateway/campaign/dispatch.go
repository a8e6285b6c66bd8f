package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// dispatch sends the queued recipients of campaign id, in batches paced by
// the campaign's throttle.
//
// Why a kill -9 at any moment loses no recipient and sends none twice:
//
//  1. A recipient is stored "queued" with the campaign. Nothing was handed
//     to a channel; after a restart it is simply sent.
//  2. Before Send, the batch is stored "sending" with its message ID
//     (campaign-<id>-<seq>-<attempt>) in one transaction. A crash between
//     that commit and the "sent" commit leaves it "sending": Send may not
//     have been called, may have been in flight, or may have been accepted.
//     On resume the same ID is handed to the channel again, and the channel
//     contract (Send is idempotent by ID, stored before it returns) makes
//     that a no-op if it already has it. A channel that cannot promise this
//     across restarts (ResendSafety false) gets no second Send: the
//     recipient is recorded "unknown" instead.
//  3. When the channel accepted (stored) the message, AcceptedAt is stored;
//     such a recipient is never handed over again and stays "sending" until
//     the channel reports it sent, delivered, failed or unknown (a modem
//     pool may hold it in its queue for a while: "accepted" is not "sent").
//     Retries only take "failed" recipients and use a new attempt number,
//     hence a new ID.
//  4. Exclusions (DNC list, blacklist) are stored in the same transaction
//     as step 2 and are never sent.
//  5. A clean stop (Run's context ends) hands nothing more over: the
//     recipients of the batch not yet handed over go back to "queued", and
//     the one whose Send was cut off stays "sending" (case 2). The next
//     start resumes the campaign by itself (cleanstop.go).
//  6. Only a window of recipients is handed over at a time (Capacitor);
//     Stop, Delete and a stop by error withdraw from a Withdrawer channel
//     what it has not started. The channel stores each withdrawal (never
//     to be sent) and reports it; the recipient goes back to "queued" and
//     its next hand-over gets a new message ID (Recipient.Withdrawn). A
//     crash between the two is settled by the channel's report after the
//     restart (withdraw.go).
//
// Every step is one transaction; the campaign's counters change with it in
// memory, and the campaign record is marked stale until it is saved again
// (New recounts a marked campaign from its recipients after a crash), so
// the counters always match the recipients.
//
// With a ResendSafety channel the AcceptedAt marks of step 3 are not a
// transaction of their own: they ride in the next batch's step 2 (or a
// last one when the dispatcher ends, before a withdrawal). Losing them
// in a crash is case 2 — the same ID handed over again, a no-op.
//
// With a TxnSender channel on the engine's store (the SMS pool), steps 2
// and 3 and the channel's own write are one transaction (sendBatchTxn): a
// kill -9 keeps all of it or none, so a recipient is either queued
// (nothing handed over) or sending and accepted (the channel has it).
func (e *Engine) dispatch(ctx context.Context, id string) {
	c, ch, todo, err := e.prepare(ctx, id)
	if err != nil {
		if !errors.Is(err, errNotSending) && ctx.Err() == nil {
			e.stopFor(id, err.Error(), message.ReasonOf(err))
		}
		return
	}
	var info *TemplateInfo
	if wa := c.Spec.Content.WhatsApp; wa != nil {
		i, err := e.cfg.Templates.Template(ctx, wa.Template, wa.Language)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.stopFor(id, fmt.Sprintf("WhatsApp template %q (%s): %v", wa.Template, wa.Language, err), rTemplateErr.R(wa.Template, wa.Language, err))
			return
		}
		if !strings.EqualFold(i.Status, "APPROVED") {
			e.stopFor(id, fmt.Sprintf("WhatsApp template %q (%s) is now %s", wa.Template, wa.Language, i.Status), rTemplateState.R(wa.Template, wa.Language, i.Status))
			return
		}
		info = &i
	}
	rate := c.Spec.Throttle
	if rate == 0 {
		rate = ch.MaxPerMinute()
	}
	lim := newLimiter(e.clock, rate)
	acc := &acceptedMarks{}
	defer e.flushAccepted(c.ID, acc)
	// Recipients left "sending" by an earlier run are handed over again
	// first, whatever the window: they already count as in flight.
	resend := 0
	for _, r := range todo {
		if r.Status == RSending {
			resend++
		}
	}
	slices.SortStableFunc(todo, func(a, b Recipient) int {
		return cmpBool(a.Status != RSending, b.Status != RSending)
	})
	for {
		if len(todo) == 0 {
			// Recipients may have come back to the queue meanwhile (a
			// channel reported one withdrawn after a restart).
			if cur := e.current(id); cur == nil || cur.Counts.Queued == 0 {
				// An always-running campaign waits for new contacts.
				if todo = e.awaitListContacts(ctx, id); len(todo) == 0 {
					break
				}
				continue
			}
			if todo, err = e.queuedRecipients(ctx, id); err != nil || len(todo) == 0 {
				if err != nil && ctx.Err() == nil {
					e.stopFor(id, err.Error(), message.ReasonOf(err))
				}
				if err != nil {
					return
				}
				break
			}
		}
		want := min(len(todo), e.cfg.BatchSize)
		if resend > 0 {
			want = min(want, resend)
		} else {
			// Pull: hand over only what the channel can start next.
			free, err := e.awaitWindow(ctx, id, ch)
			if err != nil {
				return // stopped or shutting down; state is already stored
			}
			want = min(want, free)
		}
		if h := e.cfg.Hold; h != nil {
			if err := h.Wait(ctx); err != nil {
				return // stopped or shutting down; state is already stored
			}
		}
		n, err := lim.take(ctx, want)
		if err != nil {
			return // stopped or shutting down; state is already stored
		}
		batch := todo[:n]
		todo = todo[n:]
		resend = max(0, resend-n)
		if err := e.sendBatch(ctx, c, ch, info, batch, acc); err != nil {
			e.flushAccepted(c.ID, acc)
			if !errors.Is(err, errNotSending) && ctx.Err() == nil && e.runCtx.Err() == nil {
				e.stopFor(id, err.Error(), message.ReasonOf(err))
			}
			if e.runCtx.Err() == nil {
				// Stopped (by the admin or the error): take back what the
				// channel has not started, including a hand-over that
				// finished after Stop stopped waiting for it. A clean stop
				// of pbxgate leaves it with the channel (cleanstop.go).
				_, _ = e.withdraw(e.runCtx, id) // logged; the events catch up
			}
			return
		}
	}
	e.flushAccepted(c.ID, acc)
	e.finish(id, true)
}

// acceptedMarks are the recipients a ResendSafety channel accepted whose
// AcceptedAt is not stored yet: the next batch's marks store it (see the
// argument above dispatch).
type acceptedMarks struct {
	bySeq map[int]acceptedMark
}

type acceptedMark struct {
	msgID     string // the message ID handed over
	sessionID string
	at        time.Time
}

func (a *acceptedMarks) empty() bool { return len(a.bySeq) == 0 }

func (a *acceptedMarks) add(seq int, m acceptedMark) {
	if a.bySeq == nil {
		a.bySeq = map[int]acceptedMark{}
	}
	a.bySeq[seq] = m
}

// apply stores the mark on r if r still carries the message ID handed
// over (not withdrawn or retried since: both give it a new one); a report
// of the channel may have moved it on already, as without deferring.
func (a *acceptedMarks) apply(r *Recipient) bool {
	m, ok := a.bySeq[r.Seq]
	if !ok || m.msgID == "" || r.MsgID != m.msgID {
		return false
	}
	if r.Status != RSending && (m.sessionID == "" || r.SessionID == m.sessionID) {
		// A report moved it on already (at full speed the usual case):
		// AcceptedAt only keeps a "sending" recipient from being handed
		// over again, so storing it now would be a write for nothing.
		return false
	}
	if m.sessionID != "" {
		r.SessionID = m.sessionID
	}
	r.AcceptedAt = m.at
	return true
}

// flushAccepted stores the pending accepted marks on their own.
func (e *Engine) flushAccepted(id string, a *acceptedMarks) {
	if a.empty() {
		return
	}
	seqs := make([]int, 0, len(a.bySeq))
	for seq := range a.bySeq {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	if _, err := e.applyRecipientsSync(id, false, true, seqs, func(_ *Campaign, r *Recipient) bool { return a.apply(r) }); err != nil {
		// Only means the recipients are handed over again (same ID) by
		// the next run: the channel takes that as a no-op.
		e.log.Warn("store accepted marks", "id", id, "err", err)
	}
	e.forgetMarks(a)
	clear(a.bySeq)
}

// awaitReport notes an accepted mark of message msgID not stored yet.
func (e *Engine) awaitReport(msgID string) {
	e.marksMu.Lock()
	if e.marks == nil {
		e.marks = map[string]bool{}
	}
	e.marks[msgID] = false
	e.marksMu.Unlock()
}

// reported notes that a stored report moved the recipient of msgID on
// from "sending": its accepted mark, if one is pending, has no use.
func (e *Engine) reported(msgID string) {
	e.marksMu.Lock()
	if _, ok := e.marks[msgID]; ok {
		e.marks[msgID] = true
	}
	e.marksMu.Unlock()
}

// dropReported removes from a the marks of recipients a report moved on
// (those without a session ID to store): nothing to read or write.
func (e *Engine) dropReported(a *acceptedMarks) {
	e.marksMu.Lock()
	defer e.marksMu.Unlock()
	for seq, m := range a.bySeq {
		if e.marks[m.msgID] && m.sessionID == "" {
			delete(a.bySeq, seq)
			delete(e.marks, m.msgID)
		}
	}
}

// forgetUnmarked forgets the hand-overs of marked that got no accepted
// mark in a (failed, or never handed over).
func (e *Engine) forgetUnmarked(marked []Recipient, a *acceptedMarks) {
	e.marksMu.Lock()
	for _, r := range marked {
		if m, ok := a.bySeq[r.Seq]; !ok || m.msgID != r.MsgID {
			delete(e.marks, r.MsgID)
		}
	}
	e.marksMu.Unlock()
}

// forgetMarks: a's marks are stored (or given up).
func (e *Engine) forgetMarks(a *acceptedMarks) {
	e.marksMu.Lock()
	for _, m := range a.bySeq {
		delete(e.marks, m.msgID)
	}
	e.marksMu.Unlock()
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// current returns the current version of campaign id (nil: deleted).
func (e *Engine) current(id string) *Campaign {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.camps[id]
}

// window is how many of a campaign's messages may be handed to ch and not
// yet reported (see Capacitor).
func window(ch Channel) int {
	if c, ok := ch.(Capacitor); ok {
		return WindowPerSender * max(1, c.Capacity())
	}
	return DefaultWindow
}

// awaitWindow waits until fewer than the window of campaign id's messages
// are in flight on ch (handed over, not reported sent or failed) and
// returns how many more may go. Each report is a campaign change, which
// wakes it.
func (e *Engine) awaitWindow(ctx context.Context, id string, ch Channel) (int, error) {
	for {
		changed := e.Changes()
		cur := e.current(id)
		if cur == nil || !sending(cur.State) {
			return 0, errNotSending
		}
		if free := window(ch) - cur.Counts.Sending; free > 0 {
			return free, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-changed:
		}
	}
}

// queuedRecipients loads the recipients of campaign id that wait in the
// campaign.
func (e *Engine) queuedRecipients(ctx context.Context, id string) ([]Recipient, error) {
	var todo []Recipient
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, recipKeyPrefix(id), func(_ string, v []byte) error {
			var r Recipient
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			if r.Status == RQueued {
				todo = append(todo, r)
			}
			return ctx.Err()
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load recipients: %w", err)
	}
	return todo, nil
}

// prepare loads what the dispatcher needs and settles recipients left
// "sending" by an earlier run (see dispatch).
func (e *Engine) prepare(ctx context.Context, id string) (*Campaign, Channel, []Recipient, error) {
	e.mu.RLock()
	cur := e.camps[id]
	e.mu.RUnlock()
	if cur == nil || !sending(cur.State) {
		return nil, nil, nil, errNotSending
	}
	c := cur.clone()
	ch := e.cfg.Channels[c.Spec.Channel]
	if ch == nil {
		return nil, nil, nil, message.WithReason(fmt.Errorf("channel %q is no longer configured; add it again or duplicate the campaign onto another channel", c.Spec.Channel), rNoChannel.R(c.Spec.Channel))
	}
	// The configuration may have changed since the campaign was created.
	switch {
	case c.Spec.Mode == Session && e.cfg.Sessions == nil:
		return nil, nil, nil, message.WithReason(errors.New("send mode \"session\" needs the PBX connection, which is not configured now"), rNoPBX.R())
	case c.Spec.Content.WhatsApp != nil && e.cfg.Templates == nil:
		return nil, nil, nil, message.WithReason(errors.New("the WhatsApp template list is not available"), rNoTemplates.R())
	case len(c.Spec.DNCLists) > 0 && e.cfg.DNC == nil:
		return nil, nil, nil, message.WithReason(errors.New("the do-not-contact lists are not available; refusing to send without them"), rNoDNC.R())
	}
	var todo []Recipient
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, recipKeyPrefix(id), func(_ string, v []byte) error {
			var r Recipient
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			if r.Status == RQueued || (r.Status == RSending && r.AcceptedAt.IsZero()) {
				todo = append(todo, r)
			}
			return ctx.Err()
		})
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load recipients: %w", err)
	}
	if rs, ok := ch.(ResendSafety); ok && !rs.ResendSafe() {
		var inflight []int
		for _, r := range todo {
			if r.Status == RSending {
				inflight = append(inflight, r.Seq)
			}
		}
		if len(inflight) > 0 {
			now := e.clock.Now().UTC()
			_, err := e.applyRecipients(id, true, inflight, func(_ *Campaign, r *Recipient) bool {
				if r.Status != RSending {
					return false
				}
				r.Status, r.DoneAt = RUnknown, now
				r.Reason = "pbxgate stopped after handing the message to channel " + c.Spec.Channel + "; it may or may not have been sent"
				r.ReasonCode = rInFlight.R(c.Spec.Channel)
				return true
			})
			if err != nil {
				return nil, nil, nil, err
			}
			todo = slicesDeleteFunc(todo, func(r Recipient) bool { return r.Status == RSending })
		}
	}
	return c, ch, todo, nil
}

func slicesDeleteFunc(rs []Recipient, del func(Recipient) bool) []Recipient {
	out := rs[:0]
	for _, r := range rs {
		if !del(r) {
			out = append(out, r)
		}
	}
	return out
}

type sendResult struct {
	seq       int
	err       error // ErrRejected-wrapped: the recipient failed
	sessionID string
}

// sendBatch does steps 2 and 3 of the argument in dispatch for one batch.
func (e *Engine) sendBatch(ctx context.Context, c *Campaign, ch Channel, info *TemplateInfo, batch []Recipient, acc *acceptedMarks) error {
	// DNC and blacklist at send time, outside the engine lock (store reads).
	excluded := map[int]exclusion{}
	for _, r := range batch {
		if r.Status != RQueued {
			continue
		}
		if len(c.Spec.DNCLists) > 0 {
			list, hit, err := e.cfg.DNC.Match(ctx, c.Spec.DNCLists, r.Number)
			if err != nil {
				return message.WithReason(fmt.Errorf("do-not-contact check: %w", err), rDNCCheck.R(err))
			}
			if hit {
				excluded[r.Seq] = exclusion{"on do-not-contact list " + list, rDNC.R(list)}
				continue
			}
		}
		if e.cfg.Blocker != nil {
			var (
				why     string
				code    message.Reason
				blocked bool
			)
			if rb, ok := e.cfg.Blocker.(ReasonBlocker); ok {
				why, code, blocked = rb.BlockedReason(ctx, r.Number)
			} else {
				why, blocked = e.cfg.Blocker.Blocked(ctx, r.Number)
			}
			if blocked {
				if why == "" {
					why, code = "on the blacklist", rBlacklist.R()
				}
				excluded[r.Seq] = exclusion{why, code}
			}
		}
	}
	if ts := e.txnSender(c, ch); ts != nil && acc.empty() {
		return e.sendBatchTxn(ctx, c, ts, batch, excluded)
	}
	seqs := make([]int, len(batch), len(batch)+len(acc.bySeq))
	for i, r := range batch {
		seqs[i] = r.Seq
	}
	now := e.clock.Now().UTC()
	// With a channel that takes the same ID twice as once across restarts
	// (the SMS pool), the marks below and the hand-over need not wait for
	// the store's sync: if a power cut loses them, the recipient is
	// queued (or sending and not accepted) again and handed over again
	// under the same ID; the channel syncs before anything leaves (the
	// pool before AT+CMGS), which makes these earlier writes durable too.
	safe, ok := ch.(ResendSafety)
	lazy := ok && safe.ResendSafe()
	sendCtx := e.runCtx
	if lazy {
		sendCtx = store.DeferSync(sendCtx)
	}
	// fresh: recipients this batch moved from queued to sending (written by
	// the committing goroutine before applyRecipients returns).
	fresh := map[int]bool{}
	// The previous batches' accepted marks ride along (lazy channels).
	riding := map[int]bool{}
	e.dropReported(acc)
	for seq := range acc.bySeq {
		if !slices.Contains(seqs, seq) {
			riding[seq] = true
			seqs = append(seqs, seq)
		}
	}
	marked, err := e.applyRecipientsSync(c.ID, true, lazy, seqs, func(cur *Campaign, r *Recipient) bool {
		if riding[r.Seq] {
			return acc.apply(r)
		}
		switch r.Status {
		case RQueued:
			if why, ok := excluded[r.Seq]; ok {
				r.Status, r.Reason, r.ReasonCode, r.DoneAt = RExcluded, why.text, why.code, now
				return true
			}
			fresh[r.Seq] = true
			r.Status, r.Attempt, r.SendingAt = RSending, cur.Attempt, now
			r.MsgID = recipMsgID(cur.ID, r, cur.Attempt)
			r.Reason, r.ReasonCode, r.Code = "", message.Reason{}, ""
			return true
		case RSending:
			return true // resume: hand the same ID over again
		}
		return false
	})
	if err != nil {
		return err
	}
	if len(riding) > 0 {
		e.forgetMarks(acc)
		clear(acc.bySeq)
		marked = slices.DeleteFunc(marked, func(r Recipient) bool { return riding[r.Seq] })
	}
	var results []sendResult
	var fatal error
	// When the batch ends early (pbxgate is stopping, or a channel error
	// stops the campaign), the recipients it took from the queue and never
	// handed over go back to it: a restart or Resume then neither has to
	// guess about them (ResendSafety) nor hands them over twice. The one
	// whose Send failed stays "sending": it may have reached the channel.
	var untouched []int
	if lazy {
		// Before the hand-over: a report may come back before Send
		// returns.
		for _, r := range marked {
			if r.Status == RSending {
				e.awaitReport(r.MsgID)
			}
		}
	}
	for i, r := range marked {
		if r.Status != RSending {
			continue
		}
		rest := marked[i:]
		if err := e.runCtx.Err(); err != nil {
			fatal = err
		} else if ctx.Err() != nil {
			// Stopped: nothing more is handed over; Stop withdraws what
			// the channel has not started.
			fatal = errNotSending
		} else {
			res := sendResult{seq: r.Seq}
			res.sessionID, res.err = e.sendOne(sendCtx, c, ch, info, &r)
			if res.err == nil || errors.Is(res.err, ErrRejected) {
				results = append(results, res)
				continue
			}
			fatal, rest = res.err, marked[i+1:]
		}
		for _, u := range rest {
			if u.Status == RSending && fresh[u.Seq] {
				untouched = append(untouched, u.Seq)
			}
		}
		break
	}
	if lazy {
		// Failures are stored now; accepted marks ride on the next batch.
		done := e.clock.Now().UTC()
		msgIDs := make(map[int]string, len(marked))
		for _, r := range marked {
			msgIDs[r.Seq] = r.MsgID
		}
		kept := results[:0]
		for _, res := range results {
			if res.err != nil {
				kept = append(kept, res)
				continue
			}
			acc.add(res.seq, acceptedMark{msgID: msgIDs[res.seq], sessionID: res.sessionID, at: done})
		}
		if len(kept) < len(results) {
			e.publish() // handed over: a change as with the mark stored
		}
		e.forgetUnmarked(marked, acc)
		results = kept
	}
	if len(results) > 0 {
		byseq := map[int]sendResult{}
		rs := make([]int, 0, len(results))
		for _, res := range results {
			byseq[res.seq] = res
			rs = append(rs, res.seq)
		}
		done := e.clock.Now().UTC()
		if _, err := e.applyRecipientsSync(c.ID, false, lazy, rs, func(_ *Campaign, r *Recipient) bool {
			res := byseq[r.Seq]
			if res.sessionID != "" {
				r.SessionID = res.sessionID
			}
			if res.err != nil {
				if !advances(r.Status, RFailed) {
					return false
				}
				r.Status, r.Reason, r.ReasonCode, r.DoneAt = RFailed, res.err.Error(), failReason(res.err), done
				return true
			}
			r.AcceptedAt = done
			return true
		}); err != nil {
			return err
		}
	}
	if len(untouched) > 0 {
		if _, err := e.applyRecipients(c.ID, false, untouched, func(_ *Campaign, r *Recipient) bool {
			if r.Status != RSending || !r.AcceptedAt.IsZero() {
				return false
			}
			r.Status, r.SendingAt, r.MsgID = RQueued, time.Time{}, ""
			return true
		}); err != nil {
			return err
		}
	}
	return fatal
}

// exclusion is why a recipient is not sent to (DNC list, blacklist).
type exclusion struct {
	text string
	code message.Reason
}

// txnSender returns ch as a TxnSender when the recipients of c can be
// handed over in the transaction that marks them (sendBatchTxn): a
// resend-safe channel on the engine's own store, and nothing to do per
// recipient outside the store (no PBX session, no WhatsApp template, no
// short links). nil: sendBatch's steps.
func (e *Engine) txnSender(c *Campaign, ch Channel) TxnSender {
	ts, ok := ch.(TxnSender)
	if !ok || ts.TxnStore() != e.st {
		return nil
	}
	if rs, ok := ch.(ResendSafety); !ok || !rs.ResendSafe() {
		return nil
	}
	if c.Spec.Mode == Session || c.Spec.Content.WhatsApp != nil || (c.Spec.ShortenLinks && e.cfg.Links != nil) {
		return nil
	}
	return ts
}

// sendBatchTxn is sendBatch for a TxnSender: each recipient of the batch
// is stored "sending" with its message ID and AcceptedAt, and the channel
// stores the message, in one transaction (steps 2 and 3 of the argument
// in dispatch at once; no accepted marks to carry). A kill -9 keeps both
// or neither; a power cut may lose both (the transaction does not wait
// for the sync, as the marks of sendBatch do not): the recipient is then
// queued again and handed over under the same ID — the channel syncs
// before anything leaves. A recipient the channel rejects fails in the
// same transaction; any other error of the channel fails the transaction
// (the batch stays queued) and stops the campaign. When ctx or the
// engine's run ends, the recipients not handed over yet stay queued.
func (e *Engine) sendBatchTxn(ctx context.Context, c *Campaign, ts TxnSender, batch []Recipient, excluded map[int]exclusion) error {
	seqs := make([]int, len(batch))
	for i, r := range batch {
		seqs[i] = r.Seq
	}
	now := e.clock.Now().UTC()
	req := &applyReq{id: c.ID, requireSending: true, lazy: true, seqs: seqs, done: make(chan struct{})}
	req.fnTxn = func(t applyTxn, cur *Campaign, r *Recipient) (bool, error) {
		if t.failed() != nil {
			return false, nil
		}
		switch r.Status {
		case RQueued:
			if why, ok := excluded[r.Seq]; ok {
				r.Status, r.Reason, r.ReasonCode, r.DoneAt = RExcluded, why.text, why.code, now
				return true, nil
			}
		case RSending:
			// resume: hand the same ID over again
		default:
			return false, nil
		}
		if err := e.runCtx.Err(); err != nil {
			t.fail(err)
			return false, nil
		}
		if ctx.Err() != nil {
			// Stopped: nothing more is handed over; Stop withdraws what
			// the channel has not started.
			t.fail(errNotSending)
			return false, nil
		}
		rr := *r
		if rr.Status == RQueued {
			rr.Status, rr.Attempt, rr.SendingAt = RSending, cur.Attempt, now
			rr.MsgID = recipMsgID(cur.ID, &rr, cur.Attempt)
			rr.Reason, rr.ReasonCode, rr.Code = "", message.Reason{}, ""
		}
		out, err := smsOutbound(c, &rr)
		if err == nil {
			var committed func()
			if committed, err = ts.SendTxn(t.Txn, out); err == nil {
				if committed != nil {
					t.afterCommit(committed)
				}
				rr.AcceptedAt = now
				*r = rr
				return true, nil
			}
			if !errors.Is(err, ErrRejected) {
				// The channel may have written part of the message to
				// the transaction: none of it must be stored.
				return false, chanErr(c, err)
			}
		}
		rr.Status, rr.Reason, rr.ReasonCode, rr.DoneAt = RFailed, err.Error(), failReason(err), now
		*r = rr
		return true, nil
	}
	e.submit(req)
	if req.err != nil {
		return req.err
	}
	return req.fatal
}

// smsOutbound renders recipient r's message of c (not a WhatsApp
// template) as handed to the channel.
func smsOutbound(c *Campaign, r *Recipient) (message.Outbound, error) {
	out := message.Outbound{ID: r.MsgID, Channel: c.Spec.Channel, Sender: c.Spec.Sender, To: r.Number, Ref: "campaign/" + c.ID,
		Class: message.Bulk}
	txt, err := render(c.Spec.Content.Text, r.Number, r.Vars)
	if err != nil {
		return out, message.WithReason(fmt.Errorf("%w: %v", ErrRejected, err), rRender.R(err))
	}
	out.Text, out.DeliveryReport = txt, true
	out.Media = outboundMedia(c.Spec.Content.Media)
	return out, nil
}

// sendOne renders the message, opens the session (session mode; the
// message goes into its chat log) and hands the message over.
func (e *Engine) sendOne(ctx context.Context, c *Campaign, ch Channel, info *TemplateInfo, r *Recipient) (string, error) {
	var out message.Outbound
	var tm *TemplateMessage
	if wa := c.Spec.Content.WhatsApp; wa != nil {
		out = message.Outbound{ID: r.MsgID, Channel: c.Spec.Channel, Sender: c.Spec.Sender, To: r.Number, Ref: "campaign/" + c.ID,
			Class: message.Bulk}
		m, preview, err := templateMessage(wa, info, r)
		if err != nil {
			return "", message.WithReason(fmt.Errorf("%w: %v", ErrRejected, err), rRender.R(err))
		}
		tm, out.Text = &m, preview
	} else {
		var err error
		if out, err = smsOutbound(c, r); err != nil {
			return "", err
		}
	}
	if err := e.shortenOut(ctx, c, r, &out, tm); err != nil {
		return "", err
	}
	var sessionID string
	if c.Spec.Mode == Session {
		id, _, err := e.cfg.Sessions.OpenSession(ctx, SessionRequest{Channel: c.Spec.Channel, Sender: c.Spec.Sender, Contact: r.Number, Target: c.Spec.Target,
			MsgID: r.MsgID, Text: out.Text, By: "campaign:" + c.Spec.Name})
		if err != nil {
			if errors.Is(err, ErrRejected) {
				return "", err
			}
			return "", message.WithReason(fmt.Errorf("PBX session for %s: %w", r.Number, err), rPBXSession.R(r.Number, err))
		}
		sessionID = id
	}
	if tm != nil {
		ts, ok := ch.(TemplateSender)
		if !ok {
			return sessionID, message.WithReason(fmt.Errorf("channel %q cannot send WhatsApp templates", c.Spec.Channel), rNoTemplateSend.R(c.Spec.Channel))
		}
		if err := ts.SendTemplate(ctx, out, *tm); err != nil {
			return sessionID, chanErr(c, err)
		}
		return sessionID, nil
	}
	if err := ch.Send(ctx, out); err != nil {
		return sessionID, chanErr(c, err)
	}
	return sessionID, nil
}

func chanErr(c *Campaign, err error) error {
	if errors.Is(err, ErrRejected) {
		return err
	}
	code := rChannelErr.Wrap(message.ReasonOf(err), c.Spec.Channel)
	if code.IsZero() {
		code = rChannelText.R(c.Spec.Channel, err)
	}
	return message.WithReason(fmt.Errorf("channel %s: %w", c.Spec.Channel, err), code)
}

// HandleStatus applies a channel's status event to its recipient. Events
// that do not belong to a campaign message return ErrUnknownStatus (the
// caller routes them elsewhere); late or repeated events never move a
// recipient backwards, and events of an earlier attempt are ignored.
func (e *Engine) HandleStatus(ctx context.Context, ev message.StatusEvent) error {
	if ok, err := e.fallbackStatus(ev); ok { // an SMS fallback's (fallback.go)
		return err
	}
	req, err := e.statusReq(ctx, ev)
	if req == nil {
		return err
	}
	e.submit(req)
	if err := e.statusDone(ev, req); err != nil {
		return err
	}
	// The last channel report completes the campaign.
	e.finish(req.id, false)
	return nil
}

// HandleStatuses is HandleStatus for several events at once (the SMS
// pool's outbox hands them over in batches): the recipient changes of all
// of them are stored in one transaction of the group commit instead of
// one each. errs[i] is what HandleStatus returns for evs[i]; events of
// one message are applied in the order given.
func (e *Engine) HandleStatuses(ctx context.Context, evs []message.StatusEvent) []error {
	errs := make([]error, len(evs))
	var reqs []*applyReq
	var idx []int
	var camps []string
	flush := func() {
		e.submit(reqs...)
		for k, req := range reqs {
			if errs[idx[k]] = e.statusDone(evs[idx[k]], req); errs[idx[k]] == nil && !slices.Contains(camps, req.id) {
				camps = append(camps, req.id)
			}
		}
		reqs, idx = reqs[:0], idx[:0]
	}
	for i, ev := range evs {
		if strings.HasSuffix(ev.ID, fallbackSuffix) || (ev.Status == message.Failed && ev.Code == message.CodeWithdrawn) {
			// Rare: handled on their own, after what came before.
			flush()
			errs[i] = e.HandleStatus(ctx, ev)
			continue
		}
		req, err := e.statusReq(ctx, ev)
		if req == nil {
			errs[i] = err
			continue
		}
		reqs, idx = append(reqs, req), append(idx, i)
	}
	flush()
	// The last channel report completes the campaign.
	for _, id := range camps {
		e.finish(id, false)
	}
	return errs
}

// statusReq is the recipient change ev asks for, or nil with the answer
// to give when there is nothing to store (or ev is not a campaign's).
func (e *Engine) statusReq(ctx context.Context, ev message.StatusEvent) (*applyReq, error) {
	id, seq, attempt, ok := parseMsgID(ev.ID)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownStatus, ev.ID)
	}
	if ev.Status == message.Failed && ev.Code == message.CodeWithdrawn {
		return nil, e.handleWithdrawn(id, seq, attempt, ev.ID)
	}
	to, ok := recipientStatus(ev.Status)
	if !ok {
		return nil, nil // queued/sending: the recipient is already at least there
	}
	at := ev.At.UTC()
	if ev.At.IsZero() {
		at = e.clock.Now().UTC()
	}
	// A channel that keeps the event until this call's write is durable
	// (the SMS pool's outbox) marks ctx with store.DeferSync.
	return &applyReq{id: id, lazy: store.SyncDeferred(ctx), seqs: []int{seq}, done: make(chan struct{}),
		fn: func(_ *Campaign, r *Recipient) bool {
			if r.Attempt != attempt || r.MsgID != ev.ID {
				return false
			}
			if ev.ChannelID != "" {
				r.ChannelID = ev.ChannelID
			}
			if ev.Sender != "" {
				r.Sender = ev.Sender
			}
			if !advances(r.Status, to) {
				return false
			}
			r.Status = to
			switch to {
			case RSent:
				r.SentAt = at
			case RFailed, RUnknown:
				r.Reason, r.ReasonCode, r.Code, r.DoneAt = ev.Reason, ev.ReasonCode, ev.Code, at
			case RDelivered:
				r.DoneAt = at
				if r.SentAt.IsZero() {
					r.SentAt = at
				}
			}
			return true
		}}, nil
}

// statusDone is the answer to ev once its request was committed.
func (e *Engine) statusDone(ev message.StatusEvent, req *applyReq) error {
	err := req.err
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s (campaign deleted?)", ErrUnknownStatus, ev.ID)
	}
	if err != nil {
		return err
	}
	for _, r := range req.changed {
		if r.Status != RSending {
			e.reported(ev.ID)
		}
	}
	if ev.Status == message.Sent {
		at := ev.At.UTC()
		if ev.At.IsZero() {
			at = e.clock.Now().UTC()
		}
		e.rates.add(req.id, at)
	}
	return nil
}

// recipientStatus is the recipient state a channel's final or progress
// status moves a recipient to; queued and sending move nothing.
func recipientStatus(s message.Status) (RecipientStatus, bool) {
	switch s {
	case message.Sent:
		return RSent, true
	case message.Delivered, message.Read:
		return RDelivered, true
	case message.Failed:
		return RFailed, true
	case message.Unknown:
		return RUnknown, true
	}
	return "", false
}
