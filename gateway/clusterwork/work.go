// Package clusterwork shares SMS campaigns between the boxes of a
// cluster. A campaign created on any box is a record in a replicated
// key-value bucket; its recipients are work items on a JetStream
// work-queue stream. Every box pulls items for its own SIMs, only as many
// as they can start next (a small window per SIM: "pull, don't push"),
// and hands each to its local SMS pool.
//
// Why every recipient leaves a modem at most once across the boxes:
//
//  1. Before a box hands an item to its pool it creates the item's claim
//     in the replicated bucket pbxgate_work_claims (key <campaign>.<seq>,
//     Create: only if no claim exists). The write needs the cluster's
//     quorum; a box cut off from the majority therefore hands nothing new
//     to its modems.
//  2. The box holds the work item un-acknowledged while the pool has it,
//     telling JetStream it is still working on it (InProgress) every
//     AckWait/3. It acknowledges the item when the pool reports it sent,
//     failed or unknown, after writing that outcome into the claim.
//  3. When a box dies or is cut off, its held items come back after
//     AckWait (10 s) to another box. That box finds the claim: an item
//     that has none was never handed to a modem and is sent; an item
//     whose claim says another box handed it to its pool is recorded
//     "unknown" (it may have left that box's modem) and never sent again.
//  4. A box that comes back (the partition healed) writes its pool's real
//     outcome over an "unknown" the others recorded for its items: only
//     the box that handed an item to a modem knows whether it left.
package clusterwork

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// Names of the replicated stream and buckets.
const (
	StreamName     = "PBXGATE_WORK"
	CampaignBucket = "pbxgate_campaigns"
	ClaimBucket    = "pbxgate_work_claims"
	subjectPrefix  = "pbxgate.work."
	msgIDPrefix    = "cluster-"
)

// ErrUnknownStatus: the status event is not of a shared campaign's
// message (the events router passes it on).
var ErrUnknownStatus = errors.New("clusterwork: not a shared campaign's message")

// ErrNotFound: no shared campaign has that ID.
var ErrNotFound = errors.New("no shared campaign with that ID")

// ErrInvalid: the campaign as given cannot be created; nothing is stored.
var ErrInvalid = errors.New("invalid shared campaign")

// Sender is a box's SMS channel as the shared campaigns use it (the SMS
// pool's channel has this method set). Send must be idempotent by
// message ID and store the message before it returns; its status events
// come back through Work.HandleStatus.
type Sender interface {
	Send(ctx context.Context, m message.Outbound) error
	// Capacity is how many SIMs can start a message next.
	Capacity() int
}

// Blocker is the shared consent register (opt-outs, blacklist).
type Blocker interface {
	Blocked(ctx context.Context, number string) (string, bool)
}

// Rejected reports whether a Send error concerns that message only (an
// invalid number): the recipient fails instead of being retried.
type Rejected func(error) bool

// Config wires a Work.
type Config struct {
	Node    *cluster.Node
	Senders map[string]Sender // by channel name; a box pulls only for channels it has
	Blocker Blocker           // nil: none
	// Rejected classifies Send errors; nil: every error is retried later.
	Rejected Rejected
	Logger   *slog.Logger
	// AckWait is how long a held item may go without a sign of life
	// before JetStream gives it to another box (default 10 s; the cluster
	// issue's takeover bound is 30 s).
	AckWait time.Duration
	// WindowPerSender is how many items per ready SIM a box holds (3, as
	// campaign.WindowPerSender).
	WindowPerSender int
}

// State of a shared campaign.
type State string

// A shared campaign is running, stopped or deleted.
const (
	Running State = "running"
	Stopped State = "stopped"
	Deleted State = "deleted"
)

// Campaign is a shared campaign's record in the cluster.
type Campaign struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Channel    string    `json:"channel"`
	Text       string    `json:"text"`
	Recipients int       `json:"recipients"`
	State      State     `json:"state"`
	CreatedBy  string    `json:"created_by"` // box
	CreatedAt  time.Time `json:"created_at"`
	UpdatedBy  string    `json:"updated_by,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ClaimState is a recipient's state in its claim.
type ClaimState string

// Claim states: sending (handed to a box's pool), then final.
const (
	CSending   ClaimState = "sending"
	CSent      ClaimState = "sent"
	CDelivered ClaimState = "delivered"
	CFailed    ClaimState = "failed"
	CUnknown   ClaimState = "unknown"
	CExcluded  ClaimState = "excluded"
)

// Final reports whether s is an outcome (not "sending").
func (s ClaimState) Final() bool { return s != CSending && s != "" }

// Claim is one recipient's record: which box handed it to a modem and
// what became of it.
type Claim struct {
	State  ClaimState `json:"state"`
	Box    string     `json:"box"`
	To     string     `json:"to"`
	Reason string     `json:"reason,omitempty"`
	// TakenBy is the box that recorded "unknown" for Box's item.
	TakenBy string    `json:"taken_by,omitempty"`
	At      time.Time `json:"at"`
}

type item struct {
	Seq int    `json:"seq"`
	To  string `json:"to"`
}

// held is an item this box handed to its pool and holds un-acknowledged.
type held struct {
	camp string
	key  string
	msg  jetstream.Msg
	rev  uint64 // the claim's revision when this box created it
	to   string
}

// Work runs the shared campaigns on one box.
type Work struct {
	cfg  Config
	log  *slog.Logger
	node *cluster.Node
	js   jetstream.JetStream

	mu      sync.Mutex
	camps   map[string]Campaign
	held    map[string]*held // by message ID
	perCamp map[string]int   // held items per campaign
	pending map[string]Claim // final outcomes not yet written (no quorum)
	unsent  map[string]bool  // claims whose creation failed here: never handed over
	pullers map[string]context.CancelFunc
	freed   chan struct{}
	ready   chan struct{} // closed once the buckets are open
	claims  jetstream.KeyValue
	cbucket jetstream.KeyValue
	taken   int // items of a lost box this box recorded unknown
}

// New makes a Work; Run runs it.
func New(cfg Config) *Work {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 10 * time.Second
	}
	if cfg.WindowPerSender <= 0 {
		cfg.WindowPerSender = 3
	}
	return &Work{cfg: cfg, log: cfg.Logger, node: cfg.Node, js: cfg.Node.JetStream(),
		camps: map[string]Campaign{}, held: map[string]*held{}, perCamp: map[string]int{},
		pending: map[string]Claim{}, unsent: map[string]bool{}, pullers: map[string]context.CancelFunc{},
		freed: make(chan struct{}, 1), ready: make(chan struct{})}
}

// Run opens the stream and buckets once the cluster has a leader, follows
// the campaign records (starting and stopping this box's pullers) and
// keeps held items alive, until ctx ends. A lost cluster is waited for.
func (w *Work) Run(ctx context.Context) error {
	go w.heartbeat(ctx)
	for {
		err := w.session(ctx)
		if ctx.Err() != nil {
			w.stopPullers()
			return nil
		}
		w.log.Warn("shared campaigns: cluster connection interrupted; retrying", "err", err)
		select {
		case <-ctx.Done():
			w.stopPullers()
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (w *Work) open(ctx context.Context) error {
	if _, err := w.node.WaitLeader(ctx); err != nil {
		return err
	}
	r := w.node.Replicas()
	if _, err := w.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamName, Description: "pbxgate shared campaign recipients (work queue)",
		Subjects: []string{subjectPrefix + ">"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Replicas: r, Duplicates: 10 * time.Minute,
	}); err != nil {
		return fmt.Errorf("clusterwork: stream: %w", err)
	}
	cb, err := w.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: CampaignBucket,
		Description: "pbxgate shared campaigns", History: 1, Replicas: r, Storage: jetstream.FileStorage})
	if err != nil {
		return fmt.Errorf("clusterwork: bucket %s: %w", CampaignBucket, err)
	}
	cl, err := w.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ClaimBucket,
		Description: "pbxgate shared campaign recipients: who sent what", History: 1, Replicas: r, Storage: jetstream.FileStorage})
	if err != nil {
		return fmt.Errorf("clusterwork: bucket %s: %w", ClaimBucket, err)
	}
	w.mu.Lock()
	w.cbucket, w.claims = cb, cl
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
	w.mu.Unlock()
	return nil
}

func (w *Work) session(ctx context.Context) error {
	if err := w.open(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := w.cbucket.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("clusterwork: watch campaigns: %w", err)
	}
	defer func() { _ = watch.Stop() }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			w.flushPending(ctx)
		case e, ok := <-watch.Updates():
			if !ok {
				return errors.New("clusterwork: campaign watch ended")
			}
			if e == nil {
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				w.apply(ctx, Campaign{ID: e.Key(), State: Deleted})
				continue
			}
			var c Campaign
			if err := json.Unmarshal(e.Value(), &c); err != nil {
				w.log.Warn("shared campaign record unreadable", "key", e.Key(), "err", err)
				continue
			}
			w.apply(ctx, c)
		}
	}
}

// apply follows a campaign record: a puller while it runs and this box
// has its channel, none otherwise. Stop therefore reaches every box as
// fast as the bucket's watch (sub-second on a LAN).
func (w *Work) apply(ctx context.Context, c Campaign) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.State == Deleted {
		delete(w.camps, c.ID)
	} else {
		w.camps[c.ID] = c
	}
	cancel, pulling := w.pullers[c.ID]
	switch {
	case c.State == Running && !pulling:
		if s := w.cfg.Senders[c.Channel]; s != nil {
			pctx, cancel := context.WithCancel(ctx)
			w.pullers[c.ID] = cancel
			go w.pull(pctx, c, s)
		}
	case c.State != Running && pulling:
		cancel()
		delete(w.pullers, c.ID)
		w.log.Info("shared campaign: this box stops pulling", "campaign", c.Name, "id", c.ID, "state", c.State, "by", c.UpdatedBy)
	}
}

func (w *Work) stopPullers() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, cancel := range w.pullers {
		cancel()
		delete(w.pullers, id)
	}
}

func consumerName(id string) string { return "work-" + id }

// pull takes items of campaign c for this box's SIMs while it runs.
func (w *Work) pull(ctx context.Context, c Campaign, s Sender) {
	log := w.log.With("campaign", c.Name, "id", c.ID)
	var cons jetstream.Consumer
	for cons == nil {
		var err error
		cons, err = w.js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
			Durable: consumerName(c.ID), FilterSubject: subjectPrefix + c.ID,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: w.cfg.AckWait, MaxDeliver: -1,
			MaxAckPending: 100000, Replicas: w.node.Replicas(),
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("shared campaign: consumer not available yet", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
		}
	}
	log.Info("shared campaign: this box pulls for its SIMs")
	for ctx.Err() == nil {
		free := w.cfg.WindowPerSender*max(1, s.Capacity()) - w.heldCount(c.ID)
		if free <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-w.freed:
			case <-time.After(500 * time.Millisecond): // capacity may have grown
			}
			continue
		}
		batch, err := cons.Fetch(free, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("shared campaign: fetch", "err", err)
				sleep(ctx, 500*time.Millisecond)
			}
			continue
		}
		// The claims of a batch are written in parallel: each is a
		// replicated write, and the SIMs wait for the batch.
		n := 0
		var wg sync.WaitGroup
		for m := range batch.Messages() {
			n++
			if ctx.Err() != nil {
				// Stopped between fetch and hand-over: give it back now.
				_ = m.Nak()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.take(ctx, c, s, m)
			}()
		}
		wg.Wait()
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && n == 0 && ctx.Err() == nil {
			log.Debug("shared campaign: fetch", "err", err)
			sleep(ctx, 500*time.Millisecond)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (w *Work) heldCount(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.perCamp[id]
}

func claimKey(id string, seq int) string { return id + "." + strconv.Itoa(seq) }

// MsgID is the pool message ID of a shared campaign's recipient: the same
// on every box (each pool dedupes its own).
func MsgID(id string, seq int) string { return msgIDPrefix + id + "-" + strconv.Itoa(seq) }

func parseMsgID(s string) (id string, seq int, ok bool) {
	rest, found := strings.CutPrefix(s, msgIDPrefix)
	if !found {
		return "", 0, false
	}
	id, n, found := strings.Cut(rest, "-")
	if !found {
		return "", 0, false
	}
	seq, err := strconv.Atoi(n)
	return id, seq, err == nil
}

// take settles one item: send it (no claim yet), or record what a lost
// box left (its claim), then hand it to the pool. See the package comment.
func (w *Work) take(ctx context.Context, c Campaign, s Sender, m jetstream.Msg) {
	var it item
	if err := json.Unmarshal(m.Data(), &it); err != nil {
		w.log.Error("shared campaign: damaged work item dropped", "campaign", c.ID, "err", err)
		_ = m.Term()
		return
	}
	key := claimKey(c.ID, it.Seq)
	me := w.node.Name()
	now := time.Now().UTC()
	if b := w.cfg.Blocker; b != nil {
		if why, blocked := b.Blocked(ctx, it.To); blocked {
			v, _ := json.Marshal(Claim{State: CExcluded, Box: me, To: it.To, Reason: why, At: now})
			_, err := w.claims.Create(ctx, key, v)
			switch {
			case errors.Is(err, jetstream.ErrKeyExists):
				w.settle(ctx, c, s, it, key, m)
			case err != nil:
				_ = m.NakWithDelay(time.Second)
			default:
				_ = m.Ack()
			}
			return
		}
	}
	// The claim first (one round trip in the usual case: nobody has it).
	// A Stop cancelling ctx must not cut the write off half-way.
	v, _ := json.Marshal(Claim{State: CSending, Box: me, To: it.To, At: now})
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	rev, err := w.claims.Create(cctx, key, v)
	cancel()
	if errors.Is(err, jetstream.ErrKeyExists) {
		w.settle(ctx, c, s, it, key, m)
		return
	}
	if err != nil {
		// No quorum (or no answer): nothing is sent; it comes back. The
		// claim may have been written all the same: remember that this
		// box did not hand it over (settle).
		w.mu.Lock()
		w.unsent[key] = true
		w.mu.Unlock()
		_ = m.NakWithDelay(time.Second)
		return
	}
	w.handOver(ctx, c, s, it, key, rev, m)
}

// handOver gives a claimed item to this box's pool and holds it.
func (w *Work) handOver(ctx context.Context, c Campaign, s Sender, it item, key string, rev uint64, m jetstream.Msg) {
	me := w.node.Name()
	id := MsgID(c.ID, it.Seq)
	w.mu.Lock()
	w.held[id] = &held{camp: c.ID, key: key, msg: m, rev: rev, to: it.To}
	w.perCamp[c.ID]++
	w.mu.Unlock()
	out := message.Outbound{ID: id, Channel: c.Channel, To: it.To, Text: c.Text, DeliveryReport: true,
		Ref: "cluster-campaign/" + c.ID, Class: message.Bulk}
	if ctx.Err() != nil {
		// Stopped while the claim was written: not handed over.
		w.giveBack(ctx, id, key, rev, m)
		return
	}
	if err := s.Send(ctx, out); err != nil {
		if w.cfg.Rejected != nil && w.cfg.Rejected(err) {
			w.finish(id, key, Claim{State: CFailed, Box: me, To: it.To, Reason: err.Error(), At: time.Now().UTC()})
			return
		}
		// Not accepted by the pool (or stopped just now): nothing left
		// this box. Give the item back.
		w.giveBack(ctx, id, key, rev, m)
		if ctx.Err() == nil {
			w.log.Warn("shared campaign: the SMS channel did not take the message; it goes back to the queue", "key", key, "err", err)
		}
	}
}

// giveBack returns an item this box claimed and did not hand over: the
// claim goes (guarded by its revision), the item goes back to the queue.
// A claim that cannot be removed stays marked as never handed over here.
func (w *Work) giveBack(ctx context.Context, id, key string, rev uint64, m jetstream.Msg) {
	w.release(id)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.claims.Delete(dctx, key, jetstream.LastRevision(rev)); err != nil {
		w.mu.Lock()
		w.unsent[key] = true
		w.mu.Unlock()
	}
	_ = m.NakWithDelay(time.Second)
}

// settle handles an item that already has a claim: final (acknowledge),
// still in this box's pool (hold the new delivery), or handed to a modem
// by a box that went away (record unknown, never send again).
func (w *Work) settle(ctx context.Context, c Campaign, s Sender, it item, key string, m jetstream.Msg) {
	me := w.node.Name()
	e, err := w.claims.Get(ctx, key)
	if err != nil {
		_ = m.NakWithDelay(time.Second)
		return
	}
	var cl Claim
	if err := json.Unmarshal(e.Value(), &cl); err != nil {
		w.log.Error("shared campaign: damaged claim", "key", key, "err", err)
		return // held until AckWait; logged each time
	}
	id := MsgID(c.ID, it.Seq)
	switch {
	case cl.State.Final():
		_ = m.Ack()
	case cl.Box == me && cl.State == CSending && w.wasUnsent(key):
		// This box's claim whose write it did not see succeed: it never
		// handed the item over, so it does now.
		v, _ := json.Marshal(Claim{State: CSending, Box: me, To: it.To, At: time.Now().UTC()})
		rev, err := w.claims.Update(ctx, key, v, e.Revision())
		if err != nil {
			_ = m.NakWithDelay(time.Second)
			return
		}
		w.mu.Lock()
		delete(w.unsent, key)
		w.mu.Unlock()
		w.handOver(ctx, c, s, it, key, rev, m)
	case cl.Box == me && w.isHeld(id):
		// Redelivered to this box while its pool still has it (the
		// heartbeat did not get through): hold the new delivery.
		w.mu.Lock()
		if h := w.held[id]; h != nil {
			h.msg = m
		}
		w.mu.Unlock()
	default:
		// Another box (or this one before a restart) handed it to a
		// modem and went away: it may have left. Never sent again.
		taken := cl
		taken.State, taken.TakenBy, taken.At = CUnknown, me, time.Now().UTC()
		taken.Reason = "box " + cl.Box + " handed it to its modems and stopped answering; it may or may not have been sent"
		v, _ := json.Marshal(taken)
		if _, err := w.claims.Update(ctx, key, v, e.Revision()); err != nil {
			w.log.Warn("shared campaign: recording a lost box's item failed; retried", "key", key, "err", err)
			_ = m.NakWithDelay(time.Second)
			return
		}
		w.mu.Lock()
		w.taken++
		w.mu.Unlock()
		w.log.Warn("shared campaign: item of a lost box recorded unknown", "key", key, "box", cl.Box)
		_ = m.Ack()
	}
}

func (w *Work) wasUnsent(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.unsent[key]
}

func (w *Work) isHeld(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held[id] != nil
}

func (w *Work) release(id string) *held {
	w.mu.Lock()
	h := w.held[id]
	if h != nil {
		delete(w.held, id)
		w.perCamp[h.camp]--
		if w.perCamp[h.camp] <= 0 {
			delete(w.perCamp, h.camp)
		}
	}
	w.mu.Unlock()
	select {
	case w.freed <- struct{}{}:
	default:
	}
	return h
}

// heartbeat tells JetStream every AckWait/3 that this box still has the
// items it holds (their pool has not reported them yet).
func (w *Work) heartbeat(ctx context.Context) {
	t := time.NewTicker(w.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		msgs := make([]jetstream.Msg, 0, len(w.held))
		for _, h := range w.held {
			msgs = append(msgs, h.msg)
		}
		w.mu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}

// HandleStatus records a pool's report on a shared campaign's message in
// its claim and lets go of the item. Other events return
// ErrUnknownStatus. A claim that cannot be written now (no quorum) is
// kept and written when the cluster is back.
func (w *Work) HandleStatus(ctx context.Context, ev message.StatusEvent) error {
	id, seq, ok := parseMsgID(ev.ID)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownStatus, ev.ID)
	}
	var st ClaimState
	switch ev.Status {
	case message.Sent:
		st = CSent
	case message.Delivered, message.Read:
		st = CDelivered
	case message.Failed:
		st = CFailed
	case message.Unknown:
		st = CUnknown
	default:
		return nil
	}
	at := ev.At.UTC()
	if ev.At.IsZero() {
		at = time.Now().UTC()
	}
	w.finish(ev.ID, claimKey(id, seq), Claim{State: st, Box: w.node.Name(), Reason: ev.Reason, At: at})
	return nil
}

// finish writes an outcome and acknowledges the held item.
func (w *Work) finish(msgID, key string, cl Claim) {
	h := w.release(msgID)
	w.mu.Lock()
	if prev, ok := w.pending[key]; ok && rank(prev.State) > rank(cl.State) {
		cl = prev
	}
	w.pending[key] = cl
	claims := w.claims
	w.mu.Unlock()
	// The caller (the pool's report) does not wait for the cluster: the
	// slot is free now, the outcome and the acknowledgement follow.
	go w.writeAndAck(claims, h, key, cl)
}

func (w *Work) writeAndAck(claims jetstream.KeyValue, h *held, key string, cl Claim) {
	if claims != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := errors.New("no revision")
		if h != nil && h.rev != 0 && cl.State.Final() {
			// The usual case: nobody touched the claim since this box
			// created it, so one compare-and-set writes the outcome.
			nw := cl
			nw.To = h.to
			v, _ := json.Marshal(nw)
			_, err = claims.Update(ctx, key, v, h.rev)
		}
		if err != nil {
			err = w.writeOutcome(ctx, key, cl)
		}
		cancel()
		if err == nil {
			w.mu.Lock()
			if cur, ok := w.pending[key]; ok && cur.State == cl.State {
				delete(w.pending, key)
			}
			w.mu.Unlock()
		}
	}
	if h != nil {
		_ = h.msg.Ack()
	}
}

func rank(s ClaimState) int {
	switch s {
	case CDelivered:
		return 3
	case CSent, CFailed:
		return 2
	case CUnknown:
		return 1
	}
	return 0
}

// writeOutcome puts this box's outcome into the claim unless the claim
// already holds a better one (delivered after sent), compare-and-set on
// the revision. An "unknown" recorded by another box for this box's item
// is overwritten: this box's pool knows.
func (w *Work) writeOutcome(ctx context.Context, key string, cl Claim) error {
	for range 3 {
		e, err := w.claims.Get(ctx, key)
		if err != nil {
			return err
		}
		var cur Claim
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			return err
		}
		if cur.Box != cl.Box || (cur.State != CSending && rank(cl.State) <= rank(cur.State)) {
			return nil
		}
		nw := cur
		nw.State, nw.At, nw.Reason = cl.State, cl.At, cl.Reason
		v, _ := json.Marshal(nw)
		if _, err = w.claims.Update(ctx, key, v, e.Revision()); err == nil {
			return nil
		}
	}
	return fmt.Errorf("clusterwork: claim %s changed under this box", key)
}

func (w *Work) flushPending(ctx context.Context) {
	w.mu.Lock()
	batch := make(map[string]Claim, len(w.pending))
	for k, v := range w.pending {
		batch[k] = v
	}
	w.mu.Unlock()
	for key, cl := range batch {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := w.writeOutcome(cctx, key, cl)
		cancel()
		if err != nil {
			continue
		}
		w.mu.Lock()
		if cur, ok := w.pending[key]; ok && cur.State == cl.State {
			delete(w.pending, key)
		}
		w.mu.Unlock()
	}
}

// Pending is how many outcomes wait for the cluster (written when it is
// back).
func (w *Work) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// Taken is how many items of lost boxes this box recorded unknown.
func (w *Work) Taken() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.taken
}

// Ready is closed once this box has opened the cluster's stream and
// buckets (it needs a leader).
func (w *Work) Ready() <-chan struct{} { return w.ready }

func (w *Work) await(ctx context.Context) error {
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the cluster has no leader yet: %w", ctx.Err())
	}
}

func newID() string { return strings.ToLower(rand.Text()[:12]) }
