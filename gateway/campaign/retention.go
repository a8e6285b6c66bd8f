package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxgate/pbxgate/gateway/retention"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// pruneBatch is how many recipient records one store transaction deletes
// (well inside a small profile's transaction limit).
const pruneBatch = 1000

// completedAt is when c last became completed (zero if never).
func completedAt(c *Campaign) time.Time {
	for i := len(c.History) - 1; i >= 0; i-- {
		if c.History[i].To == Completed {
			return c.History[i].At
		}
	}
	return time.Time{}
}

// PruneRecipients deletes the recipient details (numbers, variables,
// per-recipient results) of every completed campaign that completed
// before before, and returns how many campaigns it pruned. The campaign
// stays with its totals (counts, recipients, history) and becomes
// read-only (PrunedAt). Stopped campaigns are kept whole: they can be
// resumed. The campaign is marked first and its records deleted after in
// batches, so a prune cut short (a restart) is finished by the next one.
func (e *Engine) PruneRecipients(ctx context.Context, before time.Time) (int, error) {
	var ids []string
	e.mu.RLock()
	for id, c := range e.camps {
		if !c.PrunedAt.IsZero() || (c.State == Completed && completedAt(c).Before(before) && !completedAt(c).IsZero()) {
			ids = append(ids, id)
		}
	}
	e.mu.RUnlock()
	n := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		marked, err := e.markPruned(id, before)
		if err != nil {
			return n, err
		}
		if err := e.deleteRecipientsBatched(ctx, id); err != nil {
			return n, err
		}
		if marked {
			n++
		}
	}
	return n, nil
}

// markPruned sets PrunedAt of campaign id if it still qualifies; it
// reports whether it did (false: already marked, gone or changed).
func (e *Engine) markPruned(id string, before time.Time) (bool, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur := e.camps[id]
	if cur == nil || !cur.PrunedAt.IsZero() || cur.State != Completed || !completedAt(cur).Before(before) {
		return false, nil
	}
	c := cur.clone()
	c.PrunedAt = e.clock.Now().UTC()
	if err := e.save(c, nil); err != nil {
		return false, fmt.Errorf("retention: mark campaign %q: %w", c.Spec.Name, err)
	}
	return true, nil
}

// deleteRecipientsBatched deletes campaign id's recipient records,
// pruneBatch per transaction.
func (e *Engine) deleteRecipientsBatched(ctx context.Context, id string) error {
	for {
		var keys []string
		if err := e.st.View(func(txn *store.Txn) error {
			return store.Each(txn, recipKeyPrefix(id), func(k string, _ []byte) error {
				if len(keys) == pruneBatch {
					return errBatchFull
				}
				keys = append(keys, k)
				return nil
			})
		}); err != nil && !errors.Is(err, errBatchFull) {
			return fmt.Errorf("retention: list recipients of %s: %w", id, err)
		}
		if len(keys) == 0 {
			return nil
		}
		if err := e.st.Update(func(txn *store.Txn) error {
			for _, k := range keys {
				if err := txn.Delete([]byte(k)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("retention: delete recipients of %s: %w", id, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

var errBatchFull = errors.New("batch full")

// RunRetention prunes the recipient details of campaigns completed more
// than keep ago now and then once a day, until ctx ends; keep 0 keeps
// everything (gateway/retention, as the message log's retention).
func (e *Engine) RunRetention(ctx context.Context, keep time.Duration) error {
	retention.Daily(ctx, keep, e.clock.Now, e.PruneRecipients, e.log, "campaign retention (recipient details of completed campaigns)")
	return nil
}
