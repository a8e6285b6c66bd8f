package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Stop means stop: a campaign hands its channel only a small window (see
// Capacitor), and when it stops (Stop, a channel problem, Delete, a
// restart that does not resume it) the engine takes back from a Withdrawer
// channel whatever of that window has not started transmitting. Those
// recipients go back to "queued", so Resume hands each remaining recipient
// over exactly once. Only a message a sender has already started (for SMS
// the one inside AT+CMGS, at most one per SIM) still goes out.
//
// Why a kill -9 keeps every guarantee of dispatch.go: the channel stores
// the withdrawal (the message failed with code message.CodeWithdrawn, so it
// is never transmitted) and reports it through its outbox before Withdraw
// returns. The engine then moves the recipient back to "queued" in one
// transaction. A crash between the two leaves the recipient "sending"
// under the withdrawn ID; the channel's outbox hands the withdrawn event
// over again after the restart and HandleStatus moves the recipient back
// to "queued" then (handleWithdrawn). Either way the recipient's next
// hand-over uses a new message ID (Recipient.Withdrawn), so the channel's
// dedupe never swallows it and a late event of the withdrawn ID never
// touches it.

// requeue puts a withdrawn recipient back into the campaign's queue.
func requeue(r *Recipient) {
	r.Status, r.Withdrawn = RQueued, r.Withdrawn+1
	r.MsgID, r.Sender, r.ChannelID = "", "", ""
	r.SendingAt, r.AcceptedAt = time.Time{}, time.Time{}
}

// withdraw takes back the messages of campaign id its channel has not
// started transmitting, unless the campaign is sending. It returns how
// many came back to the campaign's queue.
func (e *Engine) withdraw(ctx context.Context, id string) (int, error) {
	cur := e.current(id)
	if cur == nil || sending(cur.State) {
		return 0, nil
	}
	w, ok := e.cfg.Channels[cur.Spec.Channel].(Withdrawer)
	if !ok {
		return 0, nil
	}
	bySeq := map[string]int{}
	var ids []string
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, recipKeyPrefix(id), func(_ string, v []byte) error {
			var r Recipient
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			if r.Status == RSending && r.MsgID != "" {
				ids = append(ids, r.MsgID)
				bySeq[r.MsgID] = r.Seq
			}
			return nil
		})
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	got, err := w.Withdraw(ctx, ids)
	if err != nil {
		e.log.Error("cannot withdraw the stopped campaign's messages from the channel; they may still be sent",
			"campaign", cur.Spec.Name, "id", id, "channel", cur.Spec.Channel, "err", err)
		return 0, fmt.Errorf("withdraw the messages of campaign %q from channel %s: %w", cur.Spec.Name, cur.Spec.Channel, err)
	}
	if len(got) == 0 {
		return 0, nil
	}
	back := make(map[string]bool, len(got))
	seqs := make([]int, 0, len(got))
	for _, mid := range got {
		if seq, ok := bySeq[mid]; ok && !back[mid] {
			back[mid] = true
			seqs = append(seqs, seq)
		}
	}
	changed, err := e.applyRecipients(id, false, seqs, func(_ *Campaign, r *Recipient) bool {
		if r.Status != RSending || !back[r.MsgID] {
			return false
		}
		requeue(r)
		return true
	})
	if err != nil {
		// The channel reports each withdrawal as an event too;
		// handleWithdrawn applies it then.
		return 0, err
	}
	e.log.Info("stopped campaign's messages withdrawn from the channel", "campaign", cur.Spec.Name, "id", id, "withdrawn", len(changed))
	return len(changed), nil
}

// handleWithdrawn applies a channel's report that it withdrew a message.
func (e *Engine) handleWithdrawn(id string, seq, attempt int, mid string) error {
	_, err := e.applyRecipients(id, false, []int{seq}, func(_ *Campaign, r *Recipient) bool {
		if r.Attempt != attempt || r.MsgID != mid || r.Status != RSending {
			return false
		}
		requeue(r)
		return true
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return nil // campaign deleted: nothing to put back
	}
	if err == nil {
		e.poke()
	}
	return err
}

// awaitDispatcher waits until campaign id has no dispatcher running.
func (e *Engine) awaitDispatcher(ctx context.Context, id string) error {
	e.wmu.Lock()
	r := e.runs[id]
	e.wmu.Unlock()
	if r == nil {
		return nil
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
