package campaign

import (
	"context"
	"fmt"
)

// readOnly refuses changes to an archived campaign or one whose recipient
// details the retention deleted (a retry would have no one to send to).
func readOnly(c *Campaign) error {
	switch {
	case c.Archived:
		return fmt.Errorf("%w: campaign %q is archived and read-only; restore it from the archive first", ErrTransition, c.Spec.Name)
	case !c.PrunedAt.IsZero():
		return fmt.Errorf("%w: the recipient details of campaign %q were deleted by the retention on %s", ErrTransition, c.Spec.Name, c.PrunedAt.Format("2006-01-02"))
	}
	return nil
}

// finished reports whether c sends nothing more unless someone acts.
func finished(s State) bool { return s == Completed || s == Stopped }

// Archive moves a completed or stopped campaign into the archive (on) or
// back (off). Archived campaigns are left out of List unless asked for
// and refuse every change but Delete and leaving the archive.
func (e *Engine) Archive(_ context.Context, id string, on bool) (Campaign, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur := e.camps[id]
	if cur == nil {
		return Campaign{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if on && !finished(cur.State) {
		return Campaign{}, fmt.Errorf("%w: campaign %q is %s; only completed or stopped campaigns can be archived", ErrTransition, cur.Spec.Name, cur.State)
	}
	if cur.Archived == on {
		out := *cur
		return out, nil
	}
	c := cur.clone()
	c.Archived = on
	c.UpdatedAt = e.clock.Now().UTC()
	if err := e.save(c, nil); err != nil {
		return Campaign{}, err
	}
	e.poke()
	return *c, nil
}
