package campaign

import (
	"context"
	"fmt"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// ErrRecipientNotFound: the campaign has no recipient with that number.
var ErrRecipientNotFound = fmt.Errorf("%w: no such recipient", ErrNotFound)

// RetryRecipient re-sends one failed recipient (by its number) of a
// completed campaign, as RetryFailed does for all of them: the campaign
// goes to retrying (or pending behind another campaign on its channel)
// and back to completed; the recipient gets a new message ID.
func (e *Engine) RetryRecipient(ctx context.Context, id, number string) (Campaign, error) {
	return e.RetryRecipients(ctx, id, []string{number})
}

// RetryRecipients re-sends a selection of failed recipients (by number;
// a number given twice counts once) of a completed campaign in one retry,
// as RetryRecipient does for one. Nothing is retried when a number is
// unknown (ErrRecipientNotFound) or did not fail (ErrTransition).
func (e *Engine) RetryRecipients(_ context.Context, id string, numbers []string) (Campaign, error) {
	want := map[string]bool{}
	for _, n := range numbers {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	if len(want) == 0 {
		return Campaign{}, fmt.Errorf("%w: no recipient selected", ErrRecipientNotFound)
	}
	e.mu.RLock()
	cur := e.camps[id]
	e.mu.RUnlock()
	if cur == nil {
		return Campaign{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	all, err := e.allRecipients(id)
	if err != nil {
		return Campaign{}, err
	}
	var rs []Recipient
	for _, x := range all {
		if want[x.Number] {
			rs = append(rs, x)
			delete(want, x.Number)
		}
	}
	for n := range want {
		return Campaign{}, fmt.Errorf("%w: %s in campaign %s", ErrRecipientNotFound, n, id)
	}
	return e.change(id, func(c *Campaign) (func(*store.Txn) error, error) {
		if c.State != Completed {
			return nil, fmt.Errorf("%w: campaign %q is %s; retry needs a completed campaign", ErrTransition, c.Spec.Name, c.State)
		}
		for _, r := range rs {
			if r.Status != RFailed {
				return nil, fmt.Errorf("%w: recipient %s is %s, not failed", ErrTransition, r.Number, r.Status)
			}
		}
		for i := range rs {
			r := &rs[i]
			r.Status, r.Reason, r.ReasonCode, r.Code, r.MsgID = RQueued, "", message.Reason{}, "", ""
			r.SendingAt, r.SentAt, r.DoneAt = zeroTime, zeroTime, zeroTime
		}
		c.Attempt++
		c.Counts.Queued += len(rs)
		c.Counts.Failed -= len(rs)
		if err := e.startLocked(c, true, fmt.Sprintf("retry %d failed recipients", len(rs)), rRetry.R(len(rs))); err != nil {
			return nil, err
		}
		return func(txn *store.Txn) error {
			// Re-read under the transaction: a late status event may have
			// changed a recipient since allRecipients.
			for _, r := range rs {
				var now Recipient
				if err := store.GetJSON(txn, string(recipKey(id, r.Seq)), &now); err != nil {
					return err
				}
				if now.Status != RFailed {
					return fmt.Errorf("recipient %s changed meanwhile; try again", r.Number)
				}
			}
			return writeRecipients(txn, id, rs)
		}, nil
	})
}
