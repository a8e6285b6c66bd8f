package campaign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/store"
)

func jsonUnmarshal(b []byte, v any) error { return store.UnmarshalFast(b, v) }

// normalizeSpec trims the spec and checks everything but the content.
func (e *Engine) validateSpec(ctx context.Context, spec *Spec) (Channel, error) {
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" {
		return nil, fmt.Errorf("%w: the campaign needs a name", ErrInvalid)
	}
	if len([]rune(spec.Name)) > 200 {
		return nil, fmt.Errorf("%w: the name is longer than 200 characters", ErrInvalid)
	}
	ch := e.cfg.Channels[spec.Channel]
	if ch == nil {
		names := make([]string, 0, len(e.cfg.Channels))
		for n := range e.cfg.Channels {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w: channel %q does not exist (channels: %s)", ErrInvalid, spec.Channel, strings.Join(names, ", "))
	}
	if sl, ok := ch.(SenderLister); ok && spec.Sender != "" && !slices.Contains(sl.Senders(), spec.Sender) {
		return nil, fmt.Errorf("%w: sender %q does not belong to channel %q (senders: %s)", ErrInvalid, spec.Sender, spec.Channel, strings.Join(sl.Senders(), ", "))
	}
	if spec.Throttle < 0 {
		return nil, fmt.Errorf("%w: throttle %d is negative", ErrInvalid, spec.Throttle)
	}
	if max := ch.MaxPerMinute(); max > 0 && spec.Throttle > max {
		return nil, fmt.Errorf("%w: %d messages per minute is above channel %s's maximum of %d per minute; lower the throttle", ErrThrottle, spec.Throttle, spec.Channel, max)
	}
	switch spec.Mode {
	case "":
		spec.Mode = Direct
	case Direct:
	case Session:
		if e.cfg.Sessions == nil {
			return nil, fmt.Errorf("%w: send mode \"session\" needs the PBX connection, which is not configured; use \"direct\"", ErrInvalid)
		}
		if (spec.Target.Kind != "extension" && spec.Target.Kind != "queue") || spec.Target.ID == "" {
			return nil, fmt.Errorf("%w: send mode \"session\" needs a target: an extension or a message queue", ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%w: send mode %q: use \"session\" or \"direct\"", ErrInvalid, spec.Mode)
	}
	for _, l := range spec.DNCLists {
		if e.cfg.DNC == nil || !e.cfg.DNC.Exists(ctx, l) {
			return nil, fmt.Errorf("%w: do-not-contact list %q does not exist", ErrInvalid, l)
		}
	}
	if err := e.checkShortLinks(spec); err != nil {
		return nil, err
	}
	if err := e.checkFallback(spec); err != nil {
		return nil, err
	}
	switch spec.When.Kind {
	case "", "draft":
		spec.When = When{Kind: "draft"}
	case "now":
		spec.When = When{Kind: "now"}
	case "scheduled":
		if _, err := whenInstant(spec.When, e.cfg.Location); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: send time %q: use \"now\", \"scheduled\" or \"draft\"", ErrInvalid, spec.When.Kind)
	}
	return ch, nil
}

// prepareRecipients normalises and dedupes numbers; invalid ones are kept
// as excluded so nothing the admin entered disappears.
func (e *Engine) prepareRecipients(ch Channel, in []recipients.Recipient) ([]Recipient, int, error) {
	seen := map[string]bool{}
	out := make([]Recipient, 0, len(in))
	dups := 0
	normalize := func(s string) (string, error) { return recipients.Normalize(s, e.cfg.Region) }
	if an, ok := ch.(AddressNormalizer); ok {
		normalize = an.NormalizeAddress
	}
	for _, r := range in {
		n, err := normalize(r.Number)
		rec := Recipient{Number: n, Vars: r.Vars, Line: r.Line, Status: RQueued}
		if err != nil {
			rec.Number, rec.Status, rec.Reason, rec.ReasonCode = strings.TrimSpace(r.Number), RExcluded, err.Error(), message.ReasonOf(err)
		}
		if seen[rec.Number] {
			dups++
			continue
		}
		seen[rec.Number] = true
		rec.Seq = len(out) + 1
		out = append(out, rec)
	}
	if len(out) == 0 {
		return nil, dups, errNoRecipients
	}
	if len(out) > e.cfg.Limits.MaxRecipients {
		return nil, dups, fmt.Errorf("%w: %d recipients, a campaign takes at most %d (campaigns.max_recipients); split the list", ErrLimit, len(out), e.cfg.Limits.MaxRecipients)
	}
	return out, dups, nil
}

func (e *Engine) nameTakenLocked(name, except string) bool {
	for _, c := range e.camps {
		if c.ID != except && strings.EqualFold(c.Spec.Name, name) {
			return true
		}
	}
	return false
}

func writeRecipients(txn *store.Txn, id string, rs []Recipient) error {
	for i := range rs {
		if err := store.SetJSONFast(txn, string(recipKey(id, rs[i].Seq)), &rs[i]); err != nil {
			return err
		}
	}
	return nil
}

func deleteRecipients(txn *store.Txn, id string) error {
	var keys []string
	if err := store.Each(txn, recipKeyPrefix(id), func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := txn.Delete([]byte(k)); err != nil {
			return err
		}
	}
	return nil
}

func countsOf(rs []Recipient) Counts {
	var n Counts
	for _, r := range rs {
		n.add(r.Status, 1)
	}
	return n
}

// applyWhenLocked moves a draft or scheduled campaign as spec.When says.
func (e *Engine) applyWhenLocked(c *Campaign) error {
	switch c.Spec.When.Kind {
	case "draft":
		c.ScheduledAt = zeroTime
		if c.State == Scheduled {
			return e.transition(c, Draft, "saved as draft", rDraft.R())
		}
		return nil
	case "now":
		c.ScheduledAt = zeroTime
		return e.startLocked(c, false, "send now", rSendNow.R())
	case "scheduled":
		at, err := whenInstant(c.Spec.When, e.cfg.Location)
		if err != nil {
			return err
		}
		if at.Before(e.clock.Now().Add(-time5min)) {
			return fmt.Errorf("%w: the send time %s is in the past; choose a later time or send now", ErrInvalid, at.In(e.cfg.Location).Format("2006-01-02 15:04 MST"))
		}
		c.ScheduledAt = at
		zone := zoneName(c.Spec.When, e.cfg.Location.String())
		reason := "scheduled for " + c.Spec.When.Date + " " + c.Spec.When.Time + " " + zone
		if c.State == Scheduled {
			code := rRescheduledFor.R(c.Spec.When.Date, c.Spec.When.Time, zone)
			c.History = append(c.History, Transition{From: Scheduled, To: Scheduled, Reason: "re" + reason, ReasonCode: code, At: e.clock.Now().UTC()})
			c.Reason, c.ReasonCode = "re"+reason, code
			return nil
		}
		return e.transition(c, Scheduled, reason, rScheduledFor.R(c.Spec.When.Date, c.Spec.When.Time, zone))
	}
	return nil
}

func zoneName(w When, def string) string {
	if w.TimeZone != "" {
		return w.TimeZone
	}
	return def
}

// Create stores a new campaign with its recipients (normalised, duplicates
// removed and counted, invalid numbers kept as excluded) and applies
// spec.When: a draft, scheduled, or started now (running, or pending
// behind another campaign on the channel).
func (e *Engine) Create(ctx context.Context, spec Spec, rs []recipients.Recipient) (Campaign, error) {
	ch, err := e.validateSpec(ctx, &spec)
	if err != nil {
		return Campaign{}, err
	}
	recs, dups, err := e.prepareRecipients(ch, rs)
	if err = emptyListOK(&spec, err); err != nil {
		return Campaign{}, err
	}
	if err := e.validateContent(ctx, &spec, ch, recs); err != nil {
		return Campaign{}, err
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if e.nameTakenLocked(spec.Name, "") {
		return Campaign{}, fmt.Errorf("%w: %q; choose another name", ErrNameTaken, spec.Name)
	}
	if len(e.camps) >= e.cfg.Limits.MaxCampaigns {
		return Campaign{}, fmt.Errorf("%w: %d campaigns exist, at most %d are allowed (campaigns.max_campaigns); delete old campaigns first", ErrTooManyCampaigns, len(e.camps), e.cfg.Limits.MaxCampaigns)
	}
	now := e.clock.Now().UTC()
	id := strconv.Itoa(e.nextID + 1)
	c := &Campaign{
		ID: id, Spec: spec, State: Draft, Reason: "created", ReasonCode: rCreated.R(), Attempt: 1,
		Recipients: len(recs), Duplicates: dups, Counts: countsOf(recs),
		CreatedAt: now, UpdatedAt: now,
		History: []Transition{{To: Draft, Reason: "created", ReasonCode: rCreated.R(), At: now}},
	}
	if err := e.applyWhenLocked(c); err != nil {
		return Campaign{}, err
	}
	err = e.save(c, func(txn *store.Txn) error {
		if err := store.SetJSONFast(txn, nextIDKey, e.nextID+1); err != nil {
			return err
		}
		return writeRecipients(txn, id, recs)
	})
	if err != nil {
		return Campaign{}, err
	}
	e.nextID++
	e.afterSave(c)
	e.poke()
	return *c, nil
}

// Update replaces the settings of a draft or scheduled campaign, and its
// recipients unless rs is nil; spec.When is applied as in Create.
func (e *Engine) Update(ctx context.Context, id string, spec Spec, rs []recipients.Recipient) (Campaign, error) {
	ch, err := e.validateSpec(ctx, &spec)
	if err != nil {
		return Campaign{}, err
	}
	var recs []Recipient
	dups := -1
	if rs != nil {
		if recs, dups, err = e.prepareRecipients(ch, rs); err != nil {
			if err = emptyListOK(&spec, err); err != nil {
				return Campaign{}, err
			}
		}
	} else if recs, err = e.allRecipients(id); err != nil {
		return Campaign{}, err
	}
	if err := e.validateContent(ctx, &spec, ch, recs); err != nil {
		return Campaign{}, err
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur := e.camps[id]
	if cur == nil {
		return Campaign{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if cur.State != Draft && cur.State != Scheduled {
		return Campaign{}, fmt.Errorf("%w: campaign %q is %s; only drafts and scheduled campaigns can be edited (duplicate it instead)", ErrTransition, cur.Spec.Name, cur.State)
	}
	if e.nameTakenLocked(spec.Name, id) {
		return Campaign{}, fmt.Errorf("%w: %q; choose another name", ErrNameTaken, spec.Name)
	}
	c := cur.clone()
	c.Spec = spec
	if err := e.applyWhenLocked(c); err != nil {
		return Campaign{}, err
	}
	var extra func(*store.Txn) error
	if rs != nil {
		c.Recipients, c.Duplicates, c.Counts = len(recs), dups, countsOf(recs)
		extra = func(txn *store.Txn) error {
			if err := deleteRecipients(txn, id); err != nil {
				return err
			}
			return writeRecipients(txn, id, recs)
		}
	}
	c.UpdatedAt = e.clock.Now().UTC()
	if err := e.save(c, extra); err != nil {
		return Campaign{}, err
	}
	e.afterSave(c)
	e.poke()
	return *c, nil
}

func (e *Engine) allRecipients(id string) ([]Recipient, error) {
	var out []Recipient
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, recipKeyPrefix(id), func(_ string, v []byte) error {
			var r Recipient
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// change runs op on a copy of campaign id under the lock, stores it (with
// extra writes) and applies the new state's effects.
func (e *Engine) change(id string, op func(c *Campaign) (extra func(*store.Txn) error, err error)) (Campaign, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur := e.camps[id]
	if cur == nil {
		return Campaign{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err := readOnly(cur); err != nil {
		return Campaign{}, err
	}
	c := cur.clone()
	extra, err := op(c)
	if err != nil {
		return Campaign{}, err
	}
	if err := e.save(c, extra); err != nil {
		return Campaign{}, err
	}
	e.afterSave(c)
	e.poke()
	return *c, nil
}

// Schedule sets (or changes) the send time of a draft or scheduled campaign.
func (e *Engine) Schedule(_ context.Context, id string, w When) (Campaign, error) {
	w.Kind = "scheduled"
	return e.change(id, func(c *Campaign) (func(*store.Txn) error, error) {
		if c.State != Draft && c.State != Scheduled {
			return nil, checkTransition(c, Scheduled)
		}
		c.Spec.When = w
		return nil, e.applyWhenLocked(c)
	})
}

// SendNow starts a draft or scheduled campaign now (or queues it as pending).
func (e *Engine) SendNow(_ context.Context, id string) (Campaign, error) {
	return e.change(id, func(c *Campaign) (func(*store.Txn) error, error) {
		if c.State != Draft && c.State != Scheduled {
			return nil, checkTransition(c, Running)
		}
		c.Spec.When = When{Kind: "now"}
		return nil, e.startLocked(c, false, "send now", rSendNow.R())
	})
}

// SaveDraft turns a scheduled campaign back into a draft.
func (e *Engine) SaveDraft(_ context.Context, id string) (Campaign, error) {
	return e.change(id, func(c *Campaign) (func(*store.Txn) error, error) {
		if c.State == Draft {
			return nil, nil
		}
		if err := e.transition(c, Draft, "saved as draft", rDraft.R()); err != nil {
			return nil, err
		}
		c.Spec.When, c.ScheduledAt = When{Kind: "draft"}, zeroTime
		return nil, nil
	})
}

// Stop stops a running, retrying or pending campaign. When it returns,
// the dispatcher has ended and the messages the channel had not started
// transmitting are withdrawn (Withdrawer) and queued in the campaign
// again: only a message already being transmitted (for SMS at most one per
// SIM) still goes out. Resume hands each remaining recipient over once.
func (e *Engine) Stop(ctx context.Context, id, reason string) (Campaign, error) {
	if reason == "" {
		reason = "stopped by the administrator"
	}
	c, err := e.change(id, func(c *Campaign) (func(*store.Txn) error, error) {
		return nil, e.transition(c, Stopped, reason, stopCode(reason))
	})
	if err != nil {
		return c, err
	}
	// The dispatcher ends after the hand-over in progress (a channel's
	// Send returns at once; one that hangs does not hold Stop for long:
	// the dispatcher withdraws its last message itself when it ends).
	wctx, cancel := context.WithTimeout(ctx, stopWait)
	err = e.awaitDispatcher(wctx, id)
	cancel()
	if err != nil && ctx.Err() != nil {
		return c, ctx.Err()
	}
	if _, err := e.withdraw(ctx, id); err != nil {
		return c, err
	}
	return e.Get(ctx, id)
}

// stopWait bounds how long Stop waits for the dispatcher's hand-over in
// progress.
const stopWait = 2 * time.Second

// Resume continues a stopped campaign (running, retrying or pending).
func (e *Engine) Resume(_ context.Context, id string) (Campaign, error) {
	return e.change(id, func(c *Campaign) (func(*store.Txn) error, error) {
		if c.State != Stopped {
			return nil, fmt.Errorf("%w: campaign %q is %s; only stopped campaigns can be resumed", ErrTransition, c.Spec.Name, c.State)
		}
		return nil, e.startLocked(c, c.Retry, "resumed", rResumed.R())
	})
}

// RetryFailed re-sends only the failed recipients of a completed campaign
// (state retrying, then completed). Each gets a new message ID.
func (e *Engine) RetryFailed(_ context.Context, id string) (Campaign, error) {
	var failed []Recipient
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
	return e.change(id, func(c *Campaign) (func(*store.Txn) error, error) {
		if c.State != Completed {
			return nil, fmt.Errorf("%w: campaign %q is %s; retry needs a completed campaign", ErrTransition, c.Spec.Name, c.State)
		}
		if c.Counts.Failed == 0 {
			return nil, fmt.Errorf("%w: campaign %q has no failed recipients", ErrTransition, c.Spec.Name)
		}
		failed = failed[:0]
		for _, r := range all {
			if r.Status == RFailed {
				r.Status, r.Reason, r.ReasonCode, r.Code, r.MsgID = RQueued, "", message.Reason{}, "", ""
				r.SendingAt, r.SentAt, r.DoneAt = zeroTime, zeroTime, zeroTime
				failed = append(failed, r)
			}
		}
		if len(failed) != c.Counts.Failed { // a status event came in meanwhile
			return nil, fmt.Errorf("campaign %q changed while preparing the retry; try again", c.Spec.Name)
		}
		c.Attempt++
		c.Counts.Queued += c.Counts.Failed
		c.Counts.Failed = 0
		if err := e.startLocked(c, true, fmt.Sprintf("retry %d failed recipients", len(failed)), rRetry.R(len(failed))); err != nil {
			return nil, err
		}
		return func(txn *store.Txn) error {
			// Re-read under the transaction: a late status event may have
			// changed a recipient since allRecipients.
			for _, r := range failed {
				var now Recipient
				if err := store.GetJSONFast(txn, string(recipKey(id, r.Seq)), &now); err != nil {
					return err
				}
				if now.Status != RFailed {
					return fmt.Errorf("recipient %s changed meanwhile; try again", r.Number)
				}
			}
			return writeRecipients(txn, id, failed)
		}, nil
	})
}

// Duplicate creates a new draft with the settings and recipients of id,
// named "<name> (Kopie)" ("(Kopie 2)"… when taken).
func (e *Engine) Duplicate(ctx context.Context, id string) (Campaign, error) {
	src, err := e.Get(ctx, id)
	if err != nil {
		return Campaign{}, err
	}
	rs, err := e.allRecipients(id)
	if err != nil {
		return Campaign{}, err
	}
	in := make([]recipients.Recipient, len(rs))
	for i, r := range rs {
		in[i] = recipients.Recipient{Number: r.Number, Vars: r.Vars}
	}
	spec := src.Spec
	spec.When = When{Kind: "draft"}
	spec.DNCLists = slices.Clone(spec.DNCLists)
	for n := 1; ; n++ {
		spec.Name = src.Spec.Name + " (Kopie)"
		if n > 1 {
			spec.Name = fmt.Sprintf("%s (Kopie %d)", src.Spec.Name, n)
		}
		e.mu.RLock()
		taken := e.nameTakenLocked(spec.Name, "")
		e.mu.RUnlock()
		if !taken {
			break
		}
	}
	c, err := e.Create(ctx, spec, in)
	if errors.Is(err, ErrNameTaken) { // lost a race for the name
		return e.Duplicate(ctx, id)
	}
	return c, err
}

// Delete removes a campaign that is not sending or pending, with its
// recipients.
func (e *Engine) Delete(ctx context.Context, id string) error {
	// Whatever the channel still holds of a stopped campaign (e.g. after a
	// restart) is withdrawn first: a deleted campaign sends nothing more.
	if _, err := e.withdraw(ctx, id); err != nil {
		return err
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	c := e.camps[id]
	if c == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if sending(c.State) || c.State == Pending {
		return fmt.Errorf("%w: campaign %q is %s; stop it before deleting", ErrTransition, c.Spec.Name, c.State)
	}
	err := e.st.Update(func(txn *store.Txn) error {
		if err := deleteRecipients(txn, id); err != nil {
			return err
		}
		if err := txn.Delete(staleKey(id)); err != nil {
			return err
		}
		return txn.Delete(campKey(id))
	})
	if err != nil {
		return fmt.Errorf("delete campaign %q: %w", c.Spec.Name, err)
	}
	delete(e.staleCounts, id)
	e.mu.Lock()
	delete(e.camps, id)
	e.rates.forget(id)
	e.mu.Unlock()
	e.publish()
	e.poke()
	return nil
}

// Get returns campaign id with its history.
func (e *Engine) Get(_ context.Context, id string) (Campaign, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c := e.camps[id]
	if c == nil {
		return Campaign{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	out := *c
	out.History = slices.Clone(c.History)
	return out, nil
}

// ListQuery filters and pages List.
type ListQuery struct {
	State   State  // empty: all
	Channel string // empty: all
	Search  string // case-insensitive part of the name
	// Archived lists the archived campaigns instead of the others
	// (archive.go).
	Archived bool
	Offset   int
	Limit    int // 0: 50
}

// ListPage is one page of campaigns (without history), newest first.
type ListPage struct {
	Items []Campaign `json:"items"`
	Total int        `json:"total"` // matching campaigns
}

// List returns campaigns matching q, newest first.
func (e *Engine) List(_ context.Context, q ListQuery) ListPage {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	search := strings.ToLower(strings.TrimSpace(q.Search))
	e.mu.RLock()
	match := make([]*Campaign, 0, len(e.camps))
	for _, c := range e.camps {
		if c.Archived == q.Archived && (q.State == "" || c.State == q.State) && (q.Channel == "" || c.Spec.Channel == q.Channel) &&
			(search == "" || strings.Contains(strings.ToLower(c.Spec.Name), search)) {
			match = append(match, c)
		}
	}
	e.mu.RUnlock()
	sort.Slice(match, func(i, j int) bool { return idLess(match[j].ID, match[i].ID) })
	p := ListPage{Total: len(match)}
	for _, c := range match[min(q.Offset, len(match)):min(q.Offset+q.Limit, len(match))] {
		item := *c
		item.History = nil
		p.Items = append(p.Items, item)
	}
	return p
}

// RecipientQuery pages Recipients.
type RecipientQuery struct {
	Status RecipientStatus // empty: all
	Offset int
	Limit  int // 0: 100
}

// RecipientPage is one page of recipients in list order.
type RecipientPage struct {
	Items []Recipient `json:"items"`
	Total int         `json:"total"`
}

// Recipients returns a page of campaign id's recipients.
func (e *Engine) Recipients(ctx context.Context, id string, q RecipientQuery) (RecipientPage, error) {
	c, err := e.Get(ctx, id)
	if err != nil {
		return RecipientPage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var p RecipientPage
	err = e.st.View(func(txn *store.Txn) error {
		if q.Status == "" {
			// Seqs are 1..n in key order: seek straight to the page.
			p.Total = c.Recipients
			it := txn.NewIterator(store.Prefix(recipKeyPrefix(id), true, false))
			defer it.Close()
			for it.Seek(recipKey(id, q.Offset+1)); it.Valid() && len(p.Items) < q.Limit; it.Next() {
				var r Recipient
				if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
					return err
				}
				p.Items = append(p.Items, r)
			}
			return nil
		}
		i := 0
		// Records without the status's JSON can be skipped undecoded (a
		// record that has it, even in a variable, is decoded and checked).
		want := []byte(`"status":"` + string(q.Status) + `"`)
		return store.Each(txn, recipKeyPrefix(id), func(_ string, v []byte) error {
			if !bytes.Contains(v, want) {
				return nil
			}
			var r Recipient
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.Status != q.Status {
				return nil
			}
			if i >= q.Offset && len(p.Items) < q.Limit {
				p.Items = append(p.Items, r)
			}
			i++
			p.Total = i
			return ctx.Err()
		})
	})
	return p, err
}
