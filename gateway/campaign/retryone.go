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
func (e *Engine) RetryRecipient(_ context.Context, id, number string) (Campaign, error) {
	number = strings.TrimSpace(number)
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
	var r Recipient
	found := false
	for _, x := range all {
		if x.Number == number {
			r, found = x, true
			break
		}
	}
	if !found {
		return Campaign{}, fmt.Errorf("%w: %s in campaign %s", ErrRecipientNotFound, number, id)
	}
	return e.change(id, func(c *Campaign) (func(*store.Txn) error, error) {
		if c.State != Completed {
			return nil, fmt.Errorf("%w: campaign %q is %s; retry needs a completed campaign", ErrTransition, c.Spec.Name, c.State)
		}
		if r.Status != RFailed {
			return nil, fmt.Errorf("%w: recipient %s is %s, not failed", ErrTransition, number, r.Status)
		}
		r.Status, r.Reason, r.ReasonCode, r.Code, r.MsgID = RQueued, "", message.Reason{}, "", ""
		r.SendingAt, r.SentAt, r.DoneAt = zeroTime, zeroTime, zeroTime
		c.Attempt++
		c.Counts.Queued++
		c.Counts.Failed--
		if err := e.startLocked(c, true, "retry 1 failed recipients", rRetry.R(1)); err != nil {
			return nil, err
		}
		return func(txn *store.Txn) error {
			// Re-read under the transaction: a late status event may have
			// changed the recipient since allRecipients.
			var now Recipient
			if err := store.GetJSON(txn, string(recipKey(id, r.Seq)), &now); err != nil {
				return err
			}
			if now.Status != RFailed {
				return fmt.Errorf("recipient %s changed meanwhile; try again", r.Number)
			}
			return writeRecipients(txn, id, []Recipient{r})
		}, nil
	})
}
