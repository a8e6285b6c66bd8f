// Package clusterwork shares SMS campaigns between the boxes of a
// cluster. A campaign created on any box is a record in a replicated
// key-value bucket; its recipients are work items on a JetStream
// work-queue stream. Every box pulls items for its own SIMs, only as many
// as they can start next (a small window per SIM: "pull, don't push"),
// and hands each to its local SMS pool.
//
// Why every recipient leaves a modem at most once across the boxes:
//
//  1. A box pulls a small window of items per SIM and hands them to its
//     SMS pool under a pool ID unique to that delivery. It holds each
//     item un-acknowledged while the pool has it, telling JetStream it is
//     still working on it (InProgress) every AckWait/3.
//  2. Right before a SIM transmits an item (AT+CMGS) the pool asks
//     BeforeTransmit, which creates the item's claim in the replicated
//     bucket pbxgate_work_claims (key <campaign>.<seq>, Create: only if no
//     claim exists). The write needs the cluster's quorum. Without the
//     claim the item does not reach the modem: the pool drops it (it is
//     recorded failed there, "withdrawn") and the box gives it back to the
//     queue. A box cut off from the majority therefore transmits nothing
//     new, and a stopped campaign's items wait in the queue, not in a pool.
//  3. The box acknowledges the item when the pool reports it sent, failed
//     or unknown, after writing that outcome into the claim.
//  4. When a box dies or is cut off, its held items come back after
//     AckWait (10 s) to another box. An item without a claim never reached
//     a modem (it sat in the lost box's pool queue): it is sent. An item
//     whose claim says another box handed it to a modem is recorded
//     "unknown" (it may have left that box's modem) and never sent again.
//  5. A box that comes back (the partition healed, or restarted) finds the
//     items of its pool queue no longer its own: BeforeTransmit withdraws
//     them. It writes its pool's real outcome over an "unknown" the others
//     recorded for its claimed items: only the box whose modem had an
//     item knows whether it left.
package clusterwork

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
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
	// Resync is how often the campaign watch is checked against a fresh
	// reading of the bucket (default 15 s). A KV watch can stop
	// delivering without ending (nats-io/nats.go#1094, nats-io/nats.rs#1596:
	// its ordered consumer not recreated after a server or leader
	// change); a watch found behind at two checks in a row is replaced,
	// so a box misses a campaign's start, stop or deletion for at most
	// twice this long plus the reconnection (Run waits 1 s, then opens
	// the buckets and the new watch).
	Resync time.Duration
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
	rev  uint64 // the claim's revision when this box created it; 0: not claimed (not at a modem yet)
	to   string
}

// ErrWithdrawn: BeforeTransmit keeps an item off the modem (no claim:
// another box has it, the campaign stopped, or the cluster has no
// quorum). The pool drops the message; the item is not this box's.
var ErrWithdrawn = errors.New("shared campaign item withdrawn from this box")

// Work runs the shared campaigns on one box.
type Work struct {
	cfg  Config
	log  *slog.Logger
	node *cluster.Node
	js   jetstream.JetStream

	mu    sync.Mutex
	camps map[string]Campaign
	// revs: the bucket revision of each campaign key the watch delivered
	// last (puts and deletes), for the resync check.
	revs    map[string]uint64
	held    map[string]*held  // by message ID
	heldKey map[string]string // claim key -> message ID of held items
	// withdrawn are pool message IDs BeforeTransmit kept off the modem;
	// the pool's "failed" report on them is not an outcome.
	withdrawn map[string]bool
	perCamp   map[string]int   // held items per campaign
	pending   map[string]Claim // final outcomes not yet written (no quorum)
	unsent    map[string]bool  // claims whose creation failed here: never handed over
	pullers   map[string]context.CancelFunc
	freed     chan struct{}
	ready     chan struct{} // closed once the buckets are open
	claims    jetstream.KeyValue
	cbucket   jetstream.KeyValue
	taken     int // items of a lost box this box recorded unknown
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
	if cfg.Resync <= 0 {
		cfg.Resync = 15 * time.Second
	}
	return &Work{cfg: cfg, log: cfg.Logger, node: cfg.Node, js: cfg.Node.JetStream(),
		camps: map[string]Campaign{}, revs: map[string]uint64{}, held: map[string]*held{}, heldKey: map[string]string{}, withdrawn: map[string]bool{}, perCamp: map[string]int{},
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
	resync := time.NewTicker(w.cfg.Resync)
	defer resync.Stop()
	var lagging map[string]uint64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			w.flushPending(ctx)
		case <-resync.C:
			var still []string
			lagging, still = w.behind(ctx, lagging)
			if len(still) > 0 {
				return fmt.Errorf("clusterwork: the campaign watch missed updates of %s; watching again", strings.Join(still, ", "))
			}
		case e, ok := <-watch.Updates():
			if !ok {
				return errors.New("clusterwork: campaign watch ended")
			}
			if e == nil {
				continue
			}
			w.mu.Lock()
			w.revs[e.Key()] = e.Revision()
			w.mu.Unlock()
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

// behind reads the campaign keys' revisions from a fresh watch of the
// bucket and returns the keys whose revision the session's watch has not
// delivered yet (lagging), and those of them that were lagging at the
// previous check (prev) already, with no newer delivery since (still): a
// watch a moment behind (an update on its way) catches up by the next
// check, a stalled one does not. A bucket that cannot be read now is not
// held against the watch.
func (w *Work) behind(ctx context.Context, prev map[string]uint64) (lagging map[string]uint64, still []string) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fresh, err := w.cbucket.WatchAll(rctx, jetstream.MetaOnly())
	if err != nil {
		return nil, nil
	}
	defer func() { _ = fresh.Stop() }()
	lagging = map[string]uint64{}
	updates := fresh.Updates()
	for {
		select {
		case <-rctx.Done():
			return nil, nil
		case e, ok := <-updates:
			if !ok {
				return nil, nil
			}
			if e == nil {
				w.mu.Lock()
				defer w.mu.Unlock()
				for k, rev := range lagging {
					if w.revs[k] >= rev {
						delete(lagging, k)
					} else if p, ok := prev[k]; ok && p <= rev && w.revs[k] < p {
						still = append(still, k)
					}
				}
				sort.Strings(still)
				return lagging, still
			}
			lagging[e.Key()] = e.Revision()
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

// MsgID is the pool message ID of a shared campaign's recipient in its
// delivery-th delivery from the queue: a pool that dropped an earlier
// delivery (withdrawn) takes a later one as a new message.
func MsgID(id string, seq int, delivery uint64) string {
	return msgIDPrefix + id + "-" + strconv.Itoa(seq) + "-" + strconv.FormatUint(delivery, 10)
}

func parseMsgID(s string) (id string, seq int, ok bool) {
	rest, found := strings.CutPrefix(s, msgIDPrefix)
	if !found {
		return "", 0, false
	}
	id, n, found := strings.Cut(rest, "-")
	if !found {
		return "", 0, false
	}
	n, _, _ = strings.Cut(n, "-")
	seq, err := strconv.Atoi(n)
	return id, seq, err == nil
}

// take settles one item: hand it to the pool (nobody claimed it), or
// record what a lost box left (its claim). See the package comment.
func (w *Work) take(ctx context.Context, c Campaign, s Sender, m jetstream.Msg) {
	var it item
	if err := json.Unmarshal(m.Data(), &it); err != nil {
		w.log.Error("shared campaign: damaged work item dropped", "campaign", c.ID, "err", err)
		_ = m.Term()
		return
	}
	key := claimKey(c.ID, it.Seq)
	me := w.node.Name()
	w.mu.Lock()
	if id, ok := w.heldKey[key]; ok {
		// Redelivered to this box while its pool still has it (the
		// heartbeat did not get through): hold the new delivery.
		w.held[id].msg = m
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	if b := w.cfg.Blocker; b != nil {
		if why, blocked := b.Blocked(ctx, it.To); blocked {
			v, _ := json.Marshal(Claim{State: CExcluded, Box: me, To: it.To, Reason: why, At: time.Now().UTC()})
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
	var delivery uint64 = 1
	if md, err := m.Metadata(); err == nil {
		delivery = md.NumDelivered
	}
	if delivery != 1 {
		// Delivered before: a box that went away may have claimed it.
		w.settle(ctx, c, s, it, key, m)
		return
	}
	w.handOver(ctx, c, s, it, key, m)
}

// handOver gives an item to this box's pool and holds it; its claim
// follows when a SIM takes it (BeforeTransmit).
func (w *Work) handOver(ctx context.Context, c Campaign, s Sender, it item, key string, m jetstream.Msg) {
	var delivery uint64 = 1
	if md, err := m.Metadata(); err == nil {
		delivery = md.NumDelivered
	}
	id := MsgID(c.ID, it.Seq, delivery)
	w.mu.Lock()
	w.held[id] = &held{camp: c.ID, key: key, msg: m, to: it.To}
	w.heldKey[key] = id
	w.perCamp[c.ID]++
	w.mu.Unlock()
	out := message.Outbound{ID: id, Channel: c.Channel, To: it.To, Text: c.Text, DeliveryReport: true,
		Ref: "cluster-campaign/" + c.ID, Class: message.Bulk}
	if ctx.Err() != nil {
		// Stopped meanwhile: not handed over.
		w.giveBack(id, m)
		return
	}
	if err := s.Send(ctx, out); err != nil {
		if w.cfg.Rejected != nil && w.cfg.Rejected(err) {
			w.finish(id, key, Claim{State: CFailed, Box: w.node.Name(), To: it.To, Reason: err.Error(), At: time.Now().UTC()})
			return
		}
		// Not accepted by the pool (or stopped just now): nothing left
		// this box. Give the item back.
		w.giveBack(id, m)
		if ctx.Err() == nil {
			w.log.Warn("shared campaign: the SMS channel did not take the message; it goes back to the queue", "key", key, "err", err)
		}
	}
}

// giveBack returns an item this box holds and did not claim to the queue.
func (w *Work) giveBack(id string, m jetstream.Msg) {
	w.release(id)
	_ = m.NakWithDelay(time.Second)
}

// BeforeTransmit is the SMS pool's last question before a SIM transmits
// message id (smspool.Config.BeforeTransmit): for a shared campaign's
// item it creates the item's claim, which makes the item this box's for
// good. It returns an error wrapping ErrWithdrawn when the item must not
// reach the modem (the pool then drops it); other messages pass.
func (w *Work) BeforeTransmit(ctx context.Context, id string) error {
	camp, _, ok := parseMsgID(id)
	if !ok {
		return nil
	}
	w.mu.Lock()
	h := w.held[id]
	c, known := w.camps[camp]
	claims := w.claims
	if h != nil && h.rev != 0 {
		w.mu.Unlock()
		return nil // claimed on an earlier attempt (another SIM retries it)
	}
	if h == nil || claims == nil {
		w.withdrawn[id] = true
		w.mu.Unlock()
		return fmt.Errorf("%w: no longer this box's (taken over by another box after a restart or an interruption)", ErrWithdrawn)
	}
	w.mu.Unlock()
	if !known || c.State != Running {
		w.withdraw(id, h, true)
		return fmt.Errorf("%w: the campaign is %s; the recipient waits in the cluster's queue", ErrWithdrawn, cmp.Or(c.State, Deleted))
	}
	me := w.node.Name()
	v, _ := json.Marshal(Claim{State: CSending, Box: me, To: h.to, At: time.Now().UTC()})
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rev, err := claims.Create(cctx, h.key, v)
	if errors.Is(err, jetstream.ErrKeyExists) && w.wasUnsent(h.key) {
		// Perhaps this box's own earlier claim whose write it did not see
		// succeed (it did not transmit then): take it over.
		if e, gerr := claims.Get(cctx, h.key); gerr == nil {
			var cl Claim
			if json.Unmarshal(e.Value(), &cl) == nil && cl.Box == me && cl.State == CSending {
				rev, err = claims.Update(cctx, h.key, v, e.Revision())
			}
		}
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		// Another box took it over (this box's hold lapsed).
		w.withdraw(id, h, false)
		return fmt.Errorf("%w: another box has it", ErrWithdrawn)
	case err != nil:
		// No quorum (or no answer): it goes back to the queue. The claim
		// may have been written all the same: remember that this box did
		// not transmit it.
		w.mu.Lock()
		w.unsent[h.key] = true
		w.mu.Unlock()
		w.withdraw(id, h, true)
		return fmt.Errorf("%w: the cluster did not confirm the claim: %w", ErrWithdrawn, err)
	}
	w.mu.Lock()
	h.rev = rev
	delete(w.unsent, h.key)
	w.mu.Unlock()
	return nil
}

// withdraw lets go of a held item the pool drops; with nak it goes back
// to the queue at once (this box's delivery is still valid).
func (w *Work) withdraw(id string, h *held, nak bool) {
	w.mu.Lock()
	w.withdrawn[id] = true
	m := h.msg
	w.mu.Unlock()
	w.release(id)
	if nak {
		_ = m.NakWithDelay(time.Second)
	}
}

// settle handles an item delivered before: no claim (it never reached a
// modem: hand it over), final (acknowledge), this box's own unconfirmed
// claim (hand it over), or handed to a modem by a box that went away
// (record unknown, never send again).
func (w *Work) settle(ctx context.Context, c Campaign, s Sender, it item, key string, m jetstream.Msg) {
	me := w.node.Name()
	e, err := w.claims.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		w.handOver(ctx, c, s, it, key, m)
		return
	}
	if err != nil {
		_ = m.NakWithDelay(time.Second)
		return
	}
	var cl Claim
	if err := json.Unmarshal(e.Value(), &cl); err != nil {
		w.log.Error("shared campaign: damaged claim", "key", key, "err", err)
		return // held until AckWait; logged each time
	}
	switch {
	case cl.State.Final():
		_ = m.Ack()
	case cl.Box == me && cl.State == CSending && w.wasUnsent(key):
		// This box's claim whose write it did not see succeed: it never
		// transmitted the item; BeforeTransmit takes the claim over.
		w.handOver(ctx, c, s, it, key, m)
	default:
		// Another box (or this one before a restart) handed it to a
		// modem and went away: it may have left. Never sent again.
		taken := cl
		taken.State, taken.TakenBy, taken.At = CUnknown, me, time.Now().UTC()
		taken.Reason = "box " + cl.Box + " handed it to a modem and stopped answering; it may or may not have been sent"
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

func (w *Work) release(id string) *held {
	w.mu.Lock()
	h := w.held[id]
	if h != nil {
		delete(w.held, id)
		if w.heldKey[h.key] == id {
			delete(w.heldKey, h.key)
		}
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
	w.mu.Lock()
	withdrawn := w.withdrawn[ev.ID]
	if withdrawn && ev.Status.IsFinal() {
		delete(w.withdrawn, ev.ID)
	}
	w.mu.Unlock()
	if withdrawn {
		return nil // dropped before its modem: not an outcome
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
	if h != nil && cl.To == "" {
		cl.To = h.to
	}
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
		if h != nil && h.rev == 0 && cl.State.Final() {
			// Final before a SIM took it (the pool refused the number):
			// the outcome is the claim.
			v, _ := json.Marshal(cl)
			_, err = claims.Create(ctx, key, v)
		}
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
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			// Never claimed (final before a SIM took it): the outcome is
			// the claim, unless another box claims it first.
			v, _ := json.Marshal(cl)
			if _, err = w.claims.Create(ctx, key, v); err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
				return err
			}
			continue
		}
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
