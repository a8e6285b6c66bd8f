package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Living contact lists (seed 001): a campaign may take its recipients from
// a stored contact list, filtered and sorted by the list's columns, and may
// be "always running": when it has sent to everyone it stays running and
// sends to the contacts added to the list later (API, CSV import) until it
// is stopped. Contacts added while it runs are sent in the order they were
// added, not sorted ("Wenn Sie einen Kontakt hinzufügen, während eine
// Kampagne läuft, wird der neue Kontakt zwar benachrichtigt, aber nicht in
// die Sortierung der Kontaktliste aufgenommen").

// ListSource is Spec.List: where a campaign's recipients come from.
type ListSource struct {
	Name  string           `json:"name"`
	Query recipients.Query `json:"query,omitzero"`
	// AlwaysRunning keeps the campaign running when everyone got it; it
	// sends to contacts added to the list later until it is stopped.
	AlwaysRunning bool `json:"always_running,omitempty"`
	// Cursor is the highest sequence number of the list the campaign has
	// taken its recipients from; maintained by the engine.
	Cursor uint64 `json:"cursor,omitempty"`
}

// ContactLists is the store of contact lists; *recipients.ContactLists
// implements it.
type ContactLists interface {
	Select(ctx context.Context, name string, after uint64, q recipients.Query) (recipients.Selection, error)
}

// errNoRecipients is prepareRecipients' answer to an empty list.
var errNoRecipients = fmt.Errorf("%w: the campaign has no recipients", ErrInvalid)

// emptyListOK lets an always-running campaign start with no recipients
// (seed 001: it "waits idle for more records"); other errors pass.
func emptyListOK(spec *Spec, err error) error {
	if errors.Is(err, errNoRecipients) && spec.List != nil && spec.List.AlwaysRunning {
		return nil
	}
	return err
}

// ErrNoLists: a campaign names a contact list but the engine has no
// contact lists configured.
var ErrNoLists = errors.New("contact lists are not available")

var (
	rListLimit = message.NewCode("campaign.list_limit", 2) // list, maximum
	rListError = message.NewCode("campaign.list_error", 2) // list, error
)

// listPoll is how often an idle always-running campaign looks at its list
// when nobody called ListChanged (e.g. contacts written by another process
// through a restore).
const listPoll = 30 * time.Second

// clone is a deep copy of l (the campaign keeps its own).
func (l *ListSource) clone() *ListSource {
	if l == nil {
		return nil
	}
	n := *l
	n.Query.Filters = slices.Clone(l.Query.Filters)
	n.Query.Sort = slices.Clone(l.Query.Sort)
	return &n
}

func alwaysRunning(c *Campaign) bool { return c.Spec.List != nil && c.Spec.List.AlwaysRunning }

// listFeed wakes idle always-running campaigns when a contact list changed.
// Its zero value is ready.
type listFeed struct {
	mu sync.Mutex
	ch chan struct{}
}

func (f *listFeed) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch == nil {
		f.ch = make(chan struct{})
	}
	return f.ch
}

func (f *listFeed) notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch != nil {
		close(f.ch)
		f.ch = nil
	}
}

// ListChanged tells the engine that contacts were added to a contact list:
// always-running campaigns on it take them now rather than at their next
// look (listPoll).
func (e *Engine) ListChanged(string) { e.feed.notify() }

// SelectList returns the recipients src selects (filtered, sorted) and
// sets src.Cursor to the list's last contact.
func (e *Engine) SelectList(ctx context.Context, src *ListSource) ([]recipients.Recipient, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: no contact list", ErrInvalid)
	}
	if e.cfg.Lists == nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrNoLists)
	}
	if err := src.Query.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sel, err := e.cfg.Lists.Select(ctx, src.Name, 0, src.Query)
	if errors.Is(err, recipients.ErrNoList) {
		return nil, fmt.Errorf("%w: contact list %q does not exist", ErrInvalid, src.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("contact list %q: %w", src.Name, err)
	}
	if len(sel.Recipients) == 0 && !src.AlwaysRunning {
		return nil, fmt.Errorf("%w: no contact of list %q matches the filters (%d contacts left out)", ErrInvalid, src.Name, sel.Filtered)
	}
	src.Cursor = sel.LastSeq
	if sel.Recipients == nil {
		sel.Recipients = []recipients.Recipient{} // Update: replace, not keep
	}
	return sel.Recipients, nil
}

// CreateFromList creates a campaign whose recipients are spec.List's
// selection (see Create).
func (e *Engine) CreateFromList(ctx context.Context, spec Spec) (Campaign, error) {
	spec.List = spec.List.clone()
	rs, err := e.SelectList(ctx, spec.List)
	if err != nil {
		return Campaign{}, err
	}
	return e.Create(ctx, spec, rs)
}

// UpdateFromList replaces a draft or scheduled campaign's settings and
// recipients with spec.List's selection now (see Update).
func (e *Engine) UpdateFromList(ctx context.Context, id string, spec Spec) (Campaign, error) {
	spec.List = spec.List.clone()
	rs, err := e.SelectList(ctx, spec.List)
	if err != nil {
		return Campaign{}, err
	}
	return e.Update(ctx, id, spec, rs)
}

// awaitListContacts is what the dispatcher does when its queue is empty:
// for an always-running campaign it waits until contacts were added to the
// list and returns them as new queued recipients; otherwise (or when ctx
// ends, or the campaign stops sending) it returns nil.
func (e *Engine) awaitListContacts(ctx context.Context, id string) []Recipient {
	for {
		wake := e.feed.wait()
		cur := e.current(id)
		if cur == nil || !sending(cur.State) || !alwaysRunning(cur) {
			return nil
		}
		added, err := e.feedList(ctx, id)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("always-running campaign: reading its contact list failed", "campaign", cur.Spec.Name, "list", cur.Spec.List.Name, "err", err)
		}
		if len(added) > 0 {
			return added
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-e.clock.After(listPoll):
		}
	}
}

// feedList appends the contacts added to campaign id's list since its
// cursor (and matching its filters, numbers not yet in the campaign) as
// queued recipients, in one transaction with the campaign and its cursor.
func (e *Engine) feedList(ctx context.Context, id string) ([]Recipient, error) {
	cur := e.current(id)
	if cur == nil || cur.Spec.List == nil || e.cfg.Lists == nil {
		return nil, nil
	}
	src := *cur.Spec.List
	// New contacts keep the order they were added in (seed 001).
	sel, err := e.cfg.Lists.Select(ctx, src.Name, src.Cursor, recipients.Query{Filters: src.Query.Filters})
	if err != nil {
		if errors.Is(err, recipients.ErrNoList) {
			e.stopFor(id, fmt.Sprintf("contact list %q: %v", src.Name, err), rListError.R(src.Name, err))
		}
		return nil, err
	}
	if sel.LastSeq <= src.Cursor {
		return nil, nil
	}
	existing, err := e.allRecipients(id)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(existing))
	for _, r := range existing {
		known[r.Number] = true
	}
	var fresh []recipients.Recipient
	for _, r := range sel.Recipients {
		if n, err := recipients.Normalize(r.Number, e.cfg.Region); err == nil && known[n] {
			continue // already a recipient (the list was re-imported)
		}
		fresh = append(fresh, r)
	}
	var recs []Recipient
	if len(fresh) > 0 {
		if recs, _, err = e.prepareRecipients(e.cfg.Channels[cur.Spec.Channel], fresh); err != nil && !errors.Is(err, ErrLimit) {
			return nil, err
		}
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	now := e.camps[id]
	if now == nil || !sending(now.State) || now.Spec.List == nil || now.Spec.List.Cursor != src.Cursor || now.Recipients != len(existing) {
		return nil, nil // stopped or changed meanwhile; the next look sees it
	}
	if now.Recipients+len(fresh) > e.cfg.Limits.MaxRecipients {
		reason := fmt.Sprintf("always-running campaign: contact list %q has more new contacts than the campaign may have recipients (%d, campaigns.max_recipients); duplicate the campaign to continue", src.Name, e.cfg.Limits.MaxRecipients)
		c := now.clone()
		if err := e.transition(c, Stopped, reason, rListLimit.R(src.Name, e.cfg.Limits.MaxRecipients)); err != nil {
			return nil, err
		}
		if err := e.save(c, nil); err != nil {
			return nil, err
		}
		e.log.Warn("campaign stopped", "campaign", c.Spec.Name, "id", id, "reason", reason)
		e.afterSave(c)
		return nil, nil
	}
	c := now.clone()
	l := *now.Spec.List
	l.Cursor = sel.LastSeq
	c.Spec.List = &l
	for i := range recs {
		recs[i].Seq = c.Recipients + i + 1
		c.Counts.add(recs[i].Status, 1)
	}
	c.Recipients += len(recs)
	c.UpdatedAt = e.clock.Now().UTC()
	if err := e.save(c, func(txn *store.Txn) error { return writeRecipients(txn, id, recs) }); err != nil {
		return nil, err
	}
	if len(recs) > 0 {
		e.log.Info("always-running campaign took new contacts", "campaign", c.Spec.Name, "id", id, "list", l.Name, "added", len(recs))
	}
	return slices.DeleteFunc(recs, func(r Recipient) bool { return r.Status != RQueued }), nil
}
