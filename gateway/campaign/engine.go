package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Limits bound what the engine stores (the seeds: 1,000 × 1,000).
type Limits struct {
	MaxCampaigns  int // campaigns.max_campaigns
	MaxRecipients int // campaigns.max_recipients; above ~10,000 needs store.profile default
}

// Config wires an Engine.
type Config struct {
	Store      *store.Store
	Channels   map[string]Channel // by Channel.Name(); not changed after New
	Clock      Clock              // nil: the system clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
	Limits     Limits
	// Location is the default time zone of schedules (region.time_zone).
	Location *time.Location
	// Region is the default country of national numbers (region.default_country).
	Region    string
	Sessions  SessionOpener   // nil: send mode "session" is refused
	Templates TemplateCatalog // nil: WhatsApp campaigns are refused
	DNC       DNCLists        // nil: campaigns with DNC lists are refused
	Blocker   Blocker         // nil: no global blacklist
	Lists     ContactLists    // nil: campaigns from contact lists are refused (livelist.go)
	Links     LinkShortener   // nil: no short links (no http.public_url; shortlinks.go)
	// Hold makes every dispatcher wait before it hands a channel anything
	// (the disk guard while the data disk is almost full); nil: never.
	Hold Hold
	// AutoResume resumes campaigns stopped by a restart (campaigns.auto_resume).
	AutoResume bool
	// MediaDir is where MMS campaign files are stored (data_dir/mms/campaigns;
	// media.go); empty: MMS campaigns are refused.
	MediaDir string
	// BatchSize is how many recipients one store transaction moves (64).
	BatchSize int
}

// Engine runs campaigns. All methods are safe for concurrent use.
type Engine struct {
	cfg   Config
	st    *store.Store
	clock Clock
	log   *slog.Logger
	m     *metrics

	// wmu serialises every change (store write plus its effects); the
	// engine is the only writer of its keys, so a writer reads the current
	// versions without conflicts. mu guards the maps readers see; it is held
	// only to swap in new immutable *Campaign versions, never across a
	// store commit, so Get and List do not wait for fsync.
	wmu     sync.Mutex
	mu      sync.RWMutex
	gmu     sync.Mutex // guards gqueue and gleader (group commit)
	gqueue  []*applyReq
	gleader bool
	camps   map[string]*Campaign
	nextID  int
	busy    map[string]string // channel -> campaign sending on it
	runs    map[string]*run
	runCtx  context.Context
	wg      sync.WaitGroup
	changed chan struct{}
	wake    chan struct{}
	// resumed is closed once Run has resumed (or withdrawn) the campaigns
	// the last stop left stopped; see Resumed.
	resumed   chan struct{}
	restarted []string
	rates     rates // "sent" report times, for Progress
	// resumeClean holds the restarted campaigns that were sending when
	// pbxgate last stopped cleanly (see cleanstop.go); Run resumes them
	// whatever AutoResume says.
	resumeClean map[string]bool
	feed        listFeed // wakes always-running campaigns (livelist.go)
	// staleCounts holds the campaigns whose stored record's counts lag
	// behind their recipients (guarded by wmu): recipient changes
	// (commitBatch) write a marker under staleKey instead of rewriting
	// the campaign record; the next save of the record writes the counts
	// and deletes the marker, and New recounts the campaigns a marker
	// names (a kill -9 between the two).
	staleCounts map[string]bool
	// recips: the recipients commitBatch wrote or read last, decoded
	// (checked against the stored bytes on every read, see
	// store.DecodeCache): a recipient's hand-over, "sent" and "delivered"
	// each read what the one before wrote.
	recips *store.DecodeCache[Recipient]
	// txnPending counts, per campaign, recipient changes written in a
	// channel's transaction (HandleStatusTxn) whose commit or failure the
	// engine has not heard of yet: their counts are not in memory, so
	// save keeps the stale-counts marker meanwhile. Guarded by wmu.
	txnPending map[string]int
	// marks are the accepted marks of the dispatchers not stored yet, by
	// message ID: true once a report moved the recipient on, so the next
	// batch need not even read it to store the mark (see
	// acceptedMarks.apply). Guarded by marksMu.
	marksMu sync.Mutex
	marks   map[string]bool
}

type run struct {
	cancel   context.CancelFunc
	done     chan struct{}
	stopping bool // cancelled; may still be finishing a batch
}

const (
	campPrefix  = "campaign/c/"
	recipPrefix = "campaign/r/"
	nextIDKey   = "campaign/meta/next_id"
	stalePrefix = "campaign/stale/"
)

// staleKey marks campaign id's stored counts as behind its recipients.
func staleKey(id string) []byte { return []byte(stalePrefix + id) }

func campKey(id string) []byte { return []byte(campPrefix + id) }
func recipKeyPrefix(id string) string {
	return recipPrefix + id + "/"
}
func recipKey(id string, seq int) []byte {
	return []byte(recipKeyPrefix(id) + fmt.Sprintf("%07d", seq))
}

// msgID is the channel message ID of one recipient's attempt; a retry gets
// a new ID so the channel's dedupe does not swallow it, and so does a
// hand-over after a withdrawal (".<n>" after the attempt): the channel
// keeps the withdrawn ID as never sent.
func msgID(id string, seq, attempt int) string {
	return fmt.Sprintf("campaign-%s-%d-%d", id, seq, attempt)
}

func recipMsgID(id string, r *Recipient, attempt int) string {
	if r.Withdrawn == 0 {
		return msgID(id, r.Seq, attempt)
	}
	return fmt.Sprintf("campaign-%s-%d-%d.%d", id, r.Seq, attempt, r.Withdrawn)
}

func parseMsgID(s string) (id string, seq, attempt int, ok bool) {
	rest, found := strings.CutPrefix(s, "campaign-")
	if !found {
		return "", 0, 0, false
	}
	p := strings.Split(rest, "-")
	if len(p) != 3 {
		return "", 0, 0, false
	}
	seq, err1 := strconv.Atoi(p[1])
	a, _, _ := strings.Cut(p[2], ".") // withdrawal suffix, see recipMsgID
	attempt, err2 := strconv.Atoi(a)
	return p[0], seq, attempt, err1 == nil && err2 == nil
}

// New loads the campaigns from the store. Campaigns found running or
// retrying were interrupted by a stop or a crash: they are stopped with
// reason "restart" here. Run resumes them when the last Run recorded a
// clean stop with them sending (see cleanstop.go), and after a crash only
// when AutoResume is set.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("campaign: no store")
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Limits.MaxCampaigns <= 0 {
		cfg.Limits.MaxCampaigns = 1000
	}
	if cfg.Limits.MaxRecipients <= 0 {
		cfg.Limits.MaxRecipients = recipients.DefaultLimit
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: cfg, st: cfg.Store, clock: cfg.Clock, log: cfg.Logger, m: m,
		camps: map[string]*Campaign{}, busy: map[string]string{}, runs: map[string]*run{}, staleCounts: map[string]bool{},
		recips: store.NewDecodeCache(recipientCacheSize, cloneRecipient), txnPending: map[string]int{},
		changed: make(chan struct{}), wake: make(chan struct{}, 1), resumed: make(chan struct{}),
	}
	err = e.st.View(func(txn *store.Txn) error {
		var n int
		if err := store.GetJSONFast(txn, nextIDKey, &n); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		e.nextID = n
		return store.Each(txn, campPrefix, func(k string, v []byte) error {
			c := new(Campaign)
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("campaign record %s is damaged: %w", k, err)
			}
			e.camps[c.ID] = c
			if n, err := strconv.Atoi(c.ID); err == nil && n > e.nextID {
				e.nextID = n
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load campaigns: %w", err)
	}
	if err := e.recount(); err != nil {
		return nil, fmt.Errorf("load campaigns: %w", err)
	}
	clean, err := e.takeCleanStop()
	if err != nil {
		return nil, err
	}
	e.resumeClean = map[string]bool{}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	for _, id := range e.sortedIDs() {
		cur := e.camps[id]
		if !sending(cur.State) {
			continue
		}
		c := cur.clone()
		if err := e.transition(c, Stopped, "restart: pbxgate was restarted while the campaign was sending", rRestart.R()); err != nil {
			return nil, err
		}
		if err := e.save(c, nil); err != nil {
			return nil, err
		}
		e.restarted = append(e.restarted, id)
		if slices.Contains(clean, id) {
			e.resumeClean[id] = true
			e.log.Info("campaign was sending when pbxgate stopped cleanly; it resumes", "campaign", c.Spec.Name, "id", id, "done", c.Counts.Done(), "of", c.Recipients)
			continue
		}
		e.log.Warn("campaign stopped by restart", "campaign", c.Spec.Name, "id", id, "done", c.Counts.Done(), "of", c.Recipients, "auto_resume", cfg.AutoResume)
	}
	return e, nil
}

func (e *Engine) sortedIDs() []string {
	ids := make([]string, 0, len(e.camps))
	for id := range e.camps {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	return ids
}

func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func (c *Campaign) clone() *Campaign {
	n := *c
	n.History = slices.Clip(c.History)
	return &n
}

// transition records a state change on c (not yet stored).
func (e *Engine) transition(c *Campaign, to State, reason string, code message.Reason) error {
	if err := checkTransition(c, to); err != nil {
		return err
	}
	now := e.clock.Now().UTC()
	c.History = append(c.History, Transition{From: c.State, To: to, Reason: reason, ReasonCode: code, At: now})
	c.State, c.Reason, c.ReasonCode, c.UpdatedAt = to, reason, code, now
	if to == Pending {
		c.PendingSince = now
	}
	e.m.transitions.WithLabelValues(string(to)).Inc()
	return nil
}

// save stores c (and whatever extra writes) in one transaction, then makes
// it the current version. e.wmu must be held: the engine is the only writer
// of campaign records, so no read-modify-write conflict is possible.
//
// The record carries c's counts, so a marker of stale counts (staleKey)
// goes with it — unless a channel's transaction holds a recipient change
// of c the counts do not show yet (txnPending).
func (e *Engine) save(c *Campaign, extra func(txn *store.Txn) error) error {
	keep := e.txnPending[c.ID] > 0
	stale := e.staleCounts[c.ID] && !keep
	err := e.st.Update(func(txn *store.Txn) error {
		if extra != nil {
			if err := extra(txn); err != nil {
				return err
			}
		}
		if stale {
			if err := txn.Delete(staleKey(c.ID)); err != nil {
				return err
			}
		}
		return store.SetJSONFast(txn, string(campKey(c.ID)), c)
	})
	if errors.Is(err, store.ErrTxnTooBig) {
		// With store.profile small one transaction holds about 10,000
		// recipients.
		return fmt.Errorf("%w: campaign %q has too many recipients for one store transaction; lower campaigns.max_recipients or use store.profile default", ErrLimit, c.Spec.Name)
	}
	if err != nil {
		return fmt.Errorf("store campaign %q: %w", c.Spec.Name, err)
	}
	if !keep {
		delete(e.staleCounts, c.ID)
	}
	e.publish(c)
	return nil
}

// saveStaleLocked stores the campaign records whose stored counts lag
// behind (a clean stop leaves them right, so the next start need not
// recount). e.wmu must be held; a failure only leaves the recount to New.
func (e *Engine) saveStaleLocked() {
	for _, id := range e.sortedIDs() {
		if !e.staleCounts[id] {
			continue
		}
		if err := e.save(e.camps[id].clone(), nil); err != nil {
			e.log.Warn("store campaign counts", "id", id, "err", err)
		}
	}
}

// recount sets the counts of every campaign a stale-counts marker names
// from its recipient records and stores them (New, before anything
// else): the recipient writes after the record's last save were kept,
// their effect on the counts only in memory.
func (e *Engine) recount() error {
	var ids []string
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, stalePrefix, func(k string, _ []byte) error {
			ids = append(ids, strings.TrimPrefix(k, stalePrefix))
			return nil
		})
	})
	if err != nil {
		return err
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	for _, id := range ids {
		e.staleCounts[id] = true
		cur := e.camps[id]
		if cur == nil { // deleted
			if err := e.st.Update(func(txn *store.Txn) error { return txn.Delete(staleKey(id)) }); err != nil {
				return err
			}
			delete(e.staleCounts, id)
			continue
		}
		var n Counts
		err := e.st.View(func(txn *store.Txn) error {
			return store.Each(txn, recipKeyPrefix(id), func(k string, v []byte) error {
				var r Recipient
				if err := store.UnmarshalFast(v, &r); err != nil {
					return fmt.Errorf("recipient record %s is damaged: %w", k, err)
				}
				n.add(r.Status, 1)
				return nil
			})
		})
		if err != nil {
			return err
		}
		c := cur.clone()
		c.Counts = n
		if err := e.save(c, nil); err != nil {
			return err
		}
	}
	return nil
}

// publish makes c the current version (nil: only announce a change).
func (e *Engine) publish(cs ...*Campaign) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range cs {
		e.camps[c.ID] = c
	}
	close(e.changed)
	e.changed = make(chan struct{})
}

// Changes returns a channel closed at the next change of any campaign or
// recipient (for the portal's live view and for tests).
func (e *Engine) Changes() <-chan struct{} {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.changed
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// startLocked moves c to running (or retrying), or to pending when another
// campaign is sending on its channel. The caller saves c and then calls
// afterSave.
func (e *Engine) startLocked(c *Campaign, retry bool, reason string, code message.Reason) error {
	to := Running
	if retry {
		to = Retrying
	}
	// An always-running campaign neither waits for nor holds its channel
	// (it would hold it for ever): livelist.go.
	if holder := e.busy[c.Spec.Channel]; holder != "" && holder != c.ID && !alwaysRunning(c) {
		to = Pending
		reason = fmt.Sprintf("%s; waiting for campaign %q on channel %s", reason, e.camps[holder].Spec.Name, c.Spec.Channel)
		code = rWaiting.Wrap(code, e.camps[holder].Spec.Name, c.Spec.Channel)
	}
	c.Retry = retry
	return e.transition(c, to, reason, code)
}

// afterSave applies the effects of c's new state: claim the channel and
// start the dispatcher, or free the channel for the next pending campaign.
func (e *Engine) afterSave(c *Campaign) {
	if sending(c.State) {
		if !alwaysRunning(c) {
			e.busy[c.Spec.Channel] = c.ID
		}
		e.launchLocked(c.ID)
		return
	}
	if r := e.runs[c.ID]; r != nil {
		r.stopping = true
		r.cancel()
	}
	if e.busy[c.Spec.Channel] == c.ID {
		delete(e.busy, c.Spec.Channel)
		if e.runCtx == nil || e.runCtx.Err() == nil {
			// After Run ended a pending campaign stays pending (Run starts
			// it at the next start): nothing may become sending after
			// the clean stop is recorded.
			e.activatePendingLocked(c.Spec.Channel)
		}
	}
}

// activatePendingLocked starts the longest-waiting pending campaign of ch.
func (e *Engine) activatePendingLocked(ch string) {
	if e.busy[ch] != "" {
		return
	}
	var next *Campaign
	for _, c := range e.camps {
		if c.State != Pending || c.Spec.Channel != ch {
			continue
		}
		if next == nil || c.PendingSince.Before(next.PendingSince) || (c.PendingSince.Equal(next.PendingSince) && idLess(c.ID, next.ID)) {
			next = c
		}
	}
	if next == nil {
		return
	}
	c := next.clone()
	if err := e.startLocked(c, c.Retry, "channel "+ch+" is free", rChannelFree.R(ch)); err != nil {
		e.log.Error("start pending campaign", "campaign", c.Spec.Name, "err", err)
		return
	}
	if err := e.save(c, nil); err != nil {
		e.log.Error("start pending campaign", "campaign", c.Spec.Name, "err", err)
		return
	}
	e.afterSave(c)
}

// launchLocked starts the dispatcher of id. A dispatcher still finishing
// its last batch after a Stop is waited for, so one campaign never has two.
// Before Run, Run launches it.
func (e *Engine) launchLocked(id string) {
	if e.runCtx == nil || e.runCtx.Err() != nil {
		return // Run launches it (after a restart: stopped, see New)
	}
	prev := e.runs[id]
	if prev != nil && !prev.stopping {
		return // already dispatching
	}
	ctx, cancel := context.WithCancel(e.runCtx)
	r := &run{cancel: cancel, done: make(chan struct{})}
	e.runs[id] = r
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(r.done)
		defer cancel()
		if prev != nil {
			<-prev.done
		}
		e.dispatch(ctx, id)
		e.wmu.Lock()
		if e.runs[id] == r {
			delete(e.runs, id)
		}
		e.wmu.Unlock()
		// A channel's last report may have come after the dispatcher's
		// own finish but before the run was gone (finish leaves it to a
		// running dispatcher): complete the campaign now.
		e.finish(id, false)
	}()
}

// Resumed is closed once Run has put the campaigns a restart found
// sending back to running (or, not resumed, taken back what their channel
// held). Until then such a campaign reads "stopped"; the daemon waits for
// it before it serves the portal, so nobody sees that in-between state.
func (e *Engine) Resumed() <-chan struct{} { return e.resumed }

// Run starts the campaigns that were waiting for it, resumes those stopped
// by a restart (after a clean stop always, after a crash when AutoResume is
// set), and fires scheduled campaigns at their time until ctx ends; then it
// waits for the dispatchers to stop and records the clean stop.
func (e *Engine) Run(ctx context.Context) error {
	e.wmu.Lock()
	if e.runCtx != nil {
		e.wmu.Unlock()
		return errors.New("campaign engine is already running")
	}
	e.runCtx = ctx
	e.wg.Add(1)
	go func() { defer e.wg.Done(); e.runFallbacks(ctx) }() // fallback.go
	for _, id := range e.sortedIDs() {
		if c := e.camps[id]; sending(c.State) {
			e.launchLocked(id)
		}
	}
	for _, id := range e.restarted {
		cur := e.camps[id]
		if cur == nil || cur.State != Stopped {
			continue
		}
		reason, code := "auto-resume after restart", rAutoResume.R()
		if e.resumeClean[id] {
			reason, code = "resumed after pbxgate was stopped cleanly while the campaign was sending", rResumedClean.R()
		} else if !e.cfg.AutoResume {
			continue
		}
		c := cur.clone()
		if err := e.startLocked(c, c.Retry, reason, code); err != nil {
			e.log.Error("resume after restart", "campaign", c.Spec.Name, "err", err)
			continue
		}
		if err := e.save(c, nil); err != nil {
			e.log.Error("resume after restart", "campaign", c.Spec.Name, "err", err)
			continue
		}
		e.afterSave(c)
	}
	chans := map[string]bool{}
	for _, c := range e.camps {
		if c.State == Pending {
			chans[c.Spec.Channel] = true
		}
	}
	for ch := range chans {
		e.activatePendingLocked(ch)
	}
	var idle []string // stopped by the restart and not resumed
	for _, id := range e.restarted {
		if c := e.camps[id]; c != nil && c.State == Stopped {
			idle = append(idle, id)
		}
	}
	e.wmu.Unlock()
	for _, id := range idle {
		// Stopped means nothing more leaves: take back what the channel
		// still holds of it (a crash left it there).
		if _, err := e.withdraw(ctx, id); err != nil {
			e.log.Warn("campaign stopped by restart: withdrawing its handed-over messages failed", "id", id, "err", err)
		}
	}
	e.wmu.Lock()
	e.restarted, e.resumeClean = nil, nil
	e.wmu.Unlock()
	close(e.resumed)

	for {
		next := e.fireDue()
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = e.clock.After(next.Sub(e.clock.Now()))
		}
		select {
		case <-ctx.Done():
			e.wg.Wait()
			e.recordCleanStop()
			return nil
		case <-timer:
		case <-e.wake:
		}
	}
}

// fireDue starts scheduled campaigns whose time has come and returns the
// next scheduled instant (zero when none).
func (e *Engine) fireDue() time.Time {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	now := e.clock.Now()
	var next time.Time
	for _, id := range e.sortedIDs() {
		cur := e.camps[id]
		if cur.State != Scheduled {
			continue
		}
		if cur.ScheduledAt.After(now) {
			if next.IsZero() || cur.ScheduledAt.Before(next) {
				next = cur.ScheduledAt
			}
			continue
		}
		c := cur.clone()
		when := cur.ScheduledAt.In(e.cfg.Location).Format("2006-01-02 15:04 MST")
		reason, code := "scheduled time "+when, rScheduledTime.R(when)
		if late := now.Sub(cur.ScheduledAt); late > time.Minute {
			reason += fmt.Sprintf(" passed %s ago (pbxgate was not running)", late.Round(time.Minute))
			code = rScheduledLate.R(when, late.Round(time.Minute))
		}
		if err := e.startLocked(c, false, reason, code); err != nil {
			e.log.Error("start scheduled campaign", "campaign", c.Spec.Name, "err", err)
			continue
		}
		if err := e.save(c, nil); err != nil {
			e.log.Error("start scheduled campaign", "campaign", c.Spec.Name, "err", err)
			continue
		}
		e.afterSave(c)
	}
	return next
}

// stopFor stops a sending campaign because of a system problem.
func (e *Engine) stopFor(id, reason string, code message.Reason) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur := e.camps[id]
	if cur == nil || !sending(cur.State) {
		return
	}
	c := cur.clone()
	if err := e.transition(c, Stopped, reason, code); err != nil {
		e.log.Error("stop campaign", "campaign", c.Spec.Name, "err", err)
		return
	}
	if err := e.save(c, nil); err != nil {
		e.log.Error("stop campaign", "campaign", c.Spec.Name, "err", err)
		return
	}
	e.log.Warn("campaign stopped", "campaign", c.Spec.Name, "id", id, "reason", reason)
	e.afterSave(c)
}

// finish completes a sending campaign once no recipient is queued or
// sending. A channel's report (byDispatcher false) leaves that to a
// dispatcher still running, which may still be recording its last batch.
func (e *Engine) finish(id string, byDispatcher bool) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	cur := e.camps[id]
	if cur == nil || !sending(cur.State) || cur.Counts.Queued > 0 || cur.Counts.Sending > 0 || alwaysRunning(cur) {
		return
	}
	if !byDispatcher && e.runs[id] != nil {
		return
	}
	c := cur.clone()
	n := c.Counts
	// The counts keep changing after completion (delivery reports), so the
	// stored reason does not repeat them.
	reason := fmt.Sprintf("all %d recipients handed over", c.Recipients)
	if err := e.transition(c, Completed, reason, rCompleted.R(c.Recipients)); err != nil {
		e.log.Error("complete campaign", "campaign", c.Spec.Name, "err", err)
		return
	}
	if err := e.save(c, nil); err != nil {
		e.log.Error("complete campaign", "campaign", c.Spec.Name, "err", err)
		return
	}
	e.log.Info("campaign completed", "campaign", c.Spec.Name, "id", id, "sent", n.Sent+n.Delivered, "failed", n.Failed, "excluded", n.Excluded)
	e.afterSave(c)
}

var errNotSending = errors.New("campaign is no longer sending")

// recipientCacheSize: recipients Engine.recips holds (about 1 KB each):
// the windows of all channels' SIMs in flight with room to spare.
const recipientCacheSize = 1024

// cloneRecipient copies r with its own Vars and Fallback (a caller may
// change them in place).
func cloneRecipient(r Recipient) Recipient {
	r.Vars = maps.Clone(r.Vars)
	if r.Fallback != nil {
		fb := *r.Fallback
		r.Fallback = &fb
	}
	return r
}

// applyReq is one applyRecipients call waiting for a group commit.
type applyReq struct {
	id             string
	requireSending bool
	lazy           bool // the caller redoes it if a power cut loses it (store.UpdateNoSync)
	seqs           []int
	fn             func(c *Campaign, r *Recipient) bool
	// fnTxn, when set, is used instead of fn: it may write to the
	// transaction too (a TxnSender's hand-over). An error fails the whole
	// batch's transaction.
	fnTxn   func(t applyTxn, c *Campaign, r *Recipient) (bool, error)
	changed []Recipient
	err     error
	// after: what fnTxn asked to run once the transaction committed;
	// fatal: the error it noted for its caller (see applyTxn). Both are
	// reset when the transaction is run again after a conflict.
	after []func()
	fatal error
	done  chan struct{}
}

// applyTxn is the transaction an applyReq's fnTxn runs in.
type applyTxn struct {
	*store.Txn
	req *applyReq
}

// afterCommit runs f once the transaction committed (never if it did not).
func (t applyTxn) afterCommit(f func()) { t.req.after = append(t.req.after, f) }

// fail notes err for the request's caller without failing the
// transaction; failed reports the error noted so far in this attempt.
func (t applyTxn) fail(err error) { t.req.fatal = err }
func (t applyTxn) failed() error  { return t.req.fatal }

// applyRecipients changes recipients of campaign id in one transaction
// together with the campaign's counters. fn returns whether it changed r.
// With requireSending, nothing happens unless the campaign is sending (the
// dispatcher's check that a Stop has not been stored meanwhile).
//
// Concurrent calls (dispatchers of several channels, status events from
// webhook handlers) are group-committed: the first caller becomes the
// leader and commits everything queued meanwhile in one transaction, so
// with sync_writes one fsync serves many updates.
func (e *Engine) applyRecipients(id string, requireSending bool, seqs []int, fn func(c *Campaign, r *Recipient) bool) ([]Recipient, error) {
	return e.applyRecipientsSync(id, requireSending, false, seqs, fn)
}

// applyRecipientsSync is applyRecipients; with lazy it does not wait for
// the store's sync (store.UpdateNoSync) — for callers that redo the
// change when a power cut loses it. A batch is synced unless every
// request in it is lazy.
func (e *Engine) applyRecipientsSync(id string, requireSending, lazy bool, seqs []int, fn func(c *Campaign, r *Recipient) bool) ([]Recipient, error) {
	req := &applyReq{id: id, requireSending: requireSending, lazy: lazy, seqs: seqs, fn: fn, done: make(chan struct{})}
	e.submit(req)
	return req.changed, req.err
}

// submit queues reqs for the group commit and returns once every one of
// them is done. Requests submitted together land in the same batch unless
// one is already being committed, in the order given.
func (e *Engine) submit(reqs ...*applyReq) {
	if len(reqs) == 0 {
		return
	}
	e.gmu.Lock()
	e.gqueue = append(e.gqueue, reqs...)
	if e.gleader {
		e.gmu.Unlock()
		for _, req := range reqs {
			<-req.done
		}
		return
	}
	e.gleader = true
	e.gmu.Unlock()
	for {
		e.gmu.Lock()
		batch := e.gqueue
		e.gqueue = nil
		if len(batch) == 0 {
			e.gleader = false
			e.gmu.Unlock()
			break
		}
		e.gmu.Unlock()
		e.commitBatch(batch)
	}
	for _, req := range reqs {
		<-req.done
	}
}

func (e *Engine) commitBatch(batch []*applyReq) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	work := map[string]*Campaign{}
	var dirty, marked []*Campaign
	update := e.st.UpdateNoSync
	for _, req := range batch {
		if !req.lazy {
			update = e.st.Update
			break
		}
	}
	err := update(func(txn *store.Txn) error {
		clear(work)
		dirty, marked = dirty[:0], marked[:0]
		for _, req := range batch {
			req.changed, req.err, req.after, req.fatal = nil, nil, nil, nil
			c := work[req.id]
			if c == nil {
				cur := e.camps[req.id]
				if cur == nil {
					req.err = ErrNotFound
					continue
				}
				c = cur.clone()
				work[req.id] = c
			}
			if req.requireSending && !sending(c.State) {
				req.err = errNotSending
				continue
			}
			for _, seq := range req.seqs {
				var r Recipient
				if err := e.recips.Get(txn, string(recipKey(req.id, seq)), &r); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						req.err = fmt.Errorf("%w: recipient %d of campaign %s", ErrNotFound, seq, req.id)
						break
					}
					return fmt.Errorf("recipient %d: %w", seq, err)
				}
				old := r.Status
				if req.fnTxn != nil {
					ok, err := req.fnTxn(applyTxn{Txn: txn, req: req}, c, &r)
					if err != nil {
						return err
					}
					if !ok {
						continue
					}
				} else if !req.fn(c, &r) {
					continue
				}
				c.Counts.add(old, -1)
				c.Counts.add(r.Status, 1)
				if err := e.recips.Set(txn, string(recipKey(req.id, seq)), &r); err != nil {
					return err
				}
				req.changed = append(req.changed, r)
			}
			if len(req.changed) > 0 && !slices.Contains(dirty, c) {
				dirty = append(dirty, c)
			}
		}
		// The counts change in memory only: the campaign record (its
		// spec, history and counts: often larger than the recipients
		// written) is not rewritten for every recipient change. A marker,
		// written once until the record is saved again, has New recount
		// them from the recipients after a kill -9 or power cut.
		now := e.clock.Now().UTC()
		for _, c := range dirty {
			c.UpdatedAt = now
			if e.staleCounts[c.ID] {
				continue
			}
			if err := txn.Set(staleKey(c.ID), nil); err != nil {
				return err
			}
			marked = append(marked, c)
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("store recipient updates: %w", err)
		for _, req := range batch {
			req.changed, req.err, req.after, req.fatal = nil, err, nil, nil
			close(req.done)
		}
		return
	}
	for _, req := range batch {
		for _, f := range req.after {
			f()
		}
	}
	for _, c := range marked {
		e.staleCounts[c.ID] = true
	}
	if len(dirty) > 0 {
		e.publish(dirty...)
	}
	for _, req := range batch {
		if len(req.changed) > 0 {
			ch := work[req.id].Spec.Channel
			for _, r := range req.changed {
				e.m.recipients.WithLabelValues(ch, string(r.Status)).Inc()
			}
		}
		close(req.done)
	}
}

type metrics struct {
	transitions *prometheus.CounterVec
	recipients  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pbxgate_campaign_transitions_total", Help: "Campaign state changes by new state.",
		}, []string{"state"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pbxgate_campaign_recipient_updates_total", Help: "Recipient status changes by channel and new status.",
		}, []string{"channel", "status"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.transitions, m.recipients} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("campaign metrics: %w", err)
			}
		}
	}
	return m, nil
}
