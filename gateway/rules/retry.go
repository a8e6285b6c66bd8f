package rules

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Pending returns the scheduled retries, soonest first.
func (e *Engine) Pending(_ context.Context) ([]Job, error) {
	var jobs []Job
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, prefixJob, func(_ string, v []byte) error {
			var j Job
			if err := jsonUnmarshal(v, &j); err != nil {
				return err
			}
			jobs = append(jobs, j)
			return nil
		})
	})
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].NextAt.Before(jobs[k].NextAt) })
	return jobs, err
}

// RetryDue runs the retries that are due now and returns how many ran.
// Run calls it; tests with a fake clock call it directly.
func (e *Engine) RetryDue(ctx context.Context) (int, error) {
	jobs, err := e.Pending(ctx)
	if err != nil {
		return 0, fmt.Errorf("rules: retries: %w", err)
	}
	now := e.now()
	n := 0
	for _, j := range jobs {
		if j.NextAt.After(now) {
			break
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if err := e.retry(ctx, j); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (e *Engine) retry(ctx context.Context, j Job) error {
	defer e.lockMsg(j.MsgID)()
	rec, err := e.Record(ctx, j.MsgID)
	if errors.Is(err, ErrNotFound) {
		// The record was pruned: nothing left to retry for.
		return e.st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(j.key())) })
	}
	if err != nil {
		return err
	}
	out, next := e.runAction(ctx, rec.Inbound, e.vars(ctx, rec.Inbound), j.Rule, j.RuleName, j.Index, j.Action, j.Attempts+1)
	replaced := false
	for i, o := range rec.Outcomes {
		if o.Rule == j.Rule && o.Index == j.Index {
			rec.Outcomes[i], replaced = out, true
		}
	}
	if !replaced {
		rec.Outcomes = append(rec.Outcomes, out)
	}
	err = e.st.Update(func(txn *store.Txn) error {
		if next != nil {
			if err := store.SetJSON(txn, next.key(), next); err != nil {
				return err
			}
		} else if err := txn.Delete([]byte(j.key())); err != nil {
			return err
		}
		return store.SetJSON(txn, prefixRecord+rec.Inbound.ID, rec)
	})
	if err != nil {
		return fmt.Errorf("rules: retry of %s: %w", j.MsgID, err)
	}
	return nil
}

// Run retries failed actions when they are due, until ctx ends. Retries
// are stored, so those scheduled before a restart continue after it.
func (e *Engine) Run(ctx context.Context) error {
	const idle = time.Minute // re-check now and then: the clock may jump
	for {
		_, err := e.RetryDue(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Error("automation retries", "err", err)
		}
		wait := idle
		if jobs, perr := e.Pending(ctx); perr == nil && len(jobs) > 0 {
			wait = min(max(jobs[0].NextAt.Sub(e.now()), 0), idle)
		}
		if err != nil {
			wait = max(wait, time.Second) // a failing store: don't spin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-e.kick:
		case <-t.C:
		}
		t.Stop()
	}
}
