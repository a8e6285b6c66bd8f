// Package logsync replicates the message log and the chat sessions
// between the boxes of a cluster. Every box keeps the whole log and every
// session in its own store (Badger) and works on it while the cluster is
// partitioned; the boxes exchange what they write through one JetStream
// stream.
//
// The way of one change:
//
//  1. A box writes an entry of its message log, a session or a chat-log
//     entry. In the same Badger transaction the writer's Replicator hook
//     (msglog.Replicator, session.Replicator: this package) puts the new
//     version into the box's outbox, keyed by what it is a version of, so
//     a later change replaces an earlier one not yet sent:
//
//     logsync/o/m/<message id>          → envelope (message-log entry)
//     logsync/o/s/<session id>          → envelope (session)
//     logsync/o/e/<session id>/<seq>    → envelope (chat-log entry)
//
//  2. Run publishes the outbox to the stream PBXGATE_LOG (subjects
//     pbxgate.log.m|s|e) with a message ID made of the box, the key and a
//     hash of the version (Nats-Msg-Id: JetStream drops a repeated
//     publish within its duplicate window), and deletes an outbox record
//     once JetStream acknowledged it, unless it changed meanwhile. A box
//     without quorum keeps its outbox until the cluster is back.
//
//  3. Every box reads the stream through its own durable consumer
//     (logsync_<box>), skips its own changes, merges the others' into its
//     store (msglog.Log.MergeTxn, session.MergeSessionTxn,
//     session.MergeEntryTxn: deterministic, idempotent) and acknowledges
//     them. After a partition or a restart it resumes at its consumer's
//     acknowledged position: nothing is pushed again in full.
package logsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Stream and subjects.
const (
	StreamName = "PBXGATE_LOG"
	subjectAll = "pbxgate.log.>"
	subjectPfx = "pbxgate.log."
	headerBox  = "Pbxgate-Box"
	outbox     = "logsync/o/"
	// kinds of records
	kindMessage = "m"
	kindSession = "s"
	kindEntry   = "e"
)

// Stream limits: a box cut off for longer than MaxAge misses what was
// written meanwhile (docs/cluster.md).
const (
	MaxAge          = 7 * 24 * time.Hour
	MaxBytes        = 256 << 20
	DuplicateWindow = 10 * time.Minute
	batchSize       = 256
	// ackWait: a change fetched but not acknowledged (the box died while
	// applying it) comes again after this long.
	ackWait = 30 * time.Second
)

// envelope is one version of a record as it travels.
type envelope struct {
	Kind    string          `json:"k"`
	Session string          `json:"s,omitempty"` // the session of a chat-log entry
	Data    json.RawMessage `json:"d"`
}

// MessageLog is the message log that changes from other boxes are merged
// into (*msglog.Log).
type MessageLog interface {
	MergeTxn(txn *store.Txn, e msglog.Entry) (bool, error)
}

// Sync replicates this box's message log and sessions. It implements
// msglog.Replicator and session.Replicator.
type Sync struct {
	node *cluster.Node
	st   *store.Store
	box  string
	log  *slog.Logger

	mu sync.Mutex
	ml MessageLog

	kick      chan struct{}
	published atomic.Uint64
	applied   atomic.Uint64
	received  atomic.Uint64
}

// New makes a Sync of node on st; Attach gives it the message log (which
// needs the Sync as its Replicator when it is built).
func New(node *cluster.Node, st *store.Store, log *slog.Logger) *Sync {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sync{node: node, st: st, box: node.Name(), log: log, kick: make(chan struct{}, 1)}
}

// Attach sets the message log that other boxes' entries are merged into.
func (s *Sync) Attach(ml MessageLog) {
	s.mu.Lock()
	s.ml = ml
	s.mu.Unlock()
}

// Box is this box's name (session.Replicator).
func (s *Sync) Box() string { return s.box }

// Replicate puts a message-log entry into the outbox (msglog.Replicator).
func (s *Sync) Replicate(txn *store.Txn, e *msglog.Entry) error {
	e.Box = s.box
	return s.put(txn, kindMessage+"/"+e.ID, envelope{Kind: kindMessage}, e)
}

// SessionChanged puts a session into the outbox (session.Replicator).
func (s *Sync) SessionChanged(txn *store.Txn, ses *session.Session) error {
	return s.put(txn, kindSession+"/"+ses.ID, envelope{Kind: kindSession}, ses)
}

// EntryChanged puts a chat-log entry into the outbox (session.Replicator).
func (s *Sync) EntryChanged(txn *store.Txn, ses string, e *session.Entry) error {
	return s.put(txn, fmt.Sprintf("%s/%s/%08d", kindEntry, ses, e.Seq), envelope{Kind: kindEntry, Session: ses}, e)
}

func (s *Sync) put(txn *store.Txn, key string, env envelope, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// The envelope written by hand: json.Marshal would check and copy
	// the raw data once more, on the writer's path.
	b := make([]byte, 0, len(data)+len(env.Session)+24)
	b = append(b, `{"k":"`...)
	b = append(b, env.Kind...)
	b = append(b, '"')
	if env.Session != "" {
		q, err := json.Marshal(env.Session)
		if err != nil {
			return err
		}
		b = append(b, `,"s":`...)
		b = append(b, q...)
	}
	b = append(b, `,"d":`...)
	b = append(b, data...)
	b = append(b, '}')
	if err := txn.Set([]byte(outbox+key), b); err != nil {
		return err
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// Stats are the counters `pbxgate cluster status` and the tests read.
type Stats struct {
	Box string `json:"box"`
	// Pending: changes of this box not yet in the cluster's stream.
	Pending int `json:"pending"`
	// Published: changes this box sent; Received: other boxes' changes
	// it read; Applied: those that changed its store (the others it had).
	Published uint64 `json:"published"`
	Received  uint64 `json:"received"`
	Applied   uint64 `json:"applied"`
}

// Stats counts the outbox and what went through since the start.
func (s *Sync) Stats() (Stats, error) {
	st := Stats{Box: s.box, Published: s.published.Load(), Received: s.received.Load(), Applied: s.applied.Load()}
	err := s.st.View(func(txn *store.Txn) error {
		it := txn.NewIterator(store.Prefix(outbox, true, false))
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			st.Pending++
		}
		return nil
	})
	return st, err
}

// Run keeps the box in sync until ctx ends: it waits for a leader,
// publishes the outbox and merges what the other boxes publish. When the
// cluster goes away it starts over, resuming where its consumer stood.
func (s *Sync) Run(ctx context.Context) error {
	for {
		err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		pending := -1
		if st, serr := s.Stats(); serr == nil {
			pending = st.Pending
		}
		s.log.Warn("message log and sessions: replication interrupted; this box keeps its own copy and sends its changes when the cluster is back",
			"err", err, "pending", pending)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// EnsureStream creates (or updates) the stream the boxes exchange their
// changes on.
func EnsureStream(ctx context.Context, node *cluster.Node) (jetstream.Stream, error) {
	st, err := node.JetStream().CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "pbxgate message log and sessions: every box's changes",
		Subjects:    []string{subjectAll},
		Storage:     jetstream.FileStorage,
		Replicas:    node.Replicas(),
		MaxAge:      MaxAge,
		MaxBytes:    MaxBytes,
		Discard:     jetstream.DiscardOld,
		Duplicates:  DuplicateWindow,
	})
	if err != nil {
		return nil, fmt.Errorf("logsync: stream %s: %w", StreamName, err)
	}
	return st, nil
}

// consumer finds this box's durable consumer, making the stream and the
// consumer the first time. After a partition the lookups are answered by
// the stream's leader as soon as the routes are back, while a create or
// update would wait for this box's own copy of the stream to catch up.
func (s *Sync) consumer(ctx context.Context) (jetstream.Consumer, error) {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	name := consumerName(s.box)
	stream, err := s.node.JetStream().Stream(lctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = EnsureStream(lctx, s.node)
	}
	if err != nil {
		return nil, fmt.Errorf("logsync: stream %s: %w", StreamName, err)
	}
	cons, err := stream.Consumer(lctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = stream.CreateOrUpdateConsumer(lctx, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "changes of the other boxes applied on " + s.box,
			AckPolicy:     jetstream.AckExplicitPolicy, // applyLoop
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckWait:       ackWait,
			MaxAckPending: 4 * batchSize,
			Replicas:      s.node.Replicas(),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("logsync: consumer %s: %w", name, err)
	}
	return cons, nil
}

// consumerName is this box's durable consumer (names allow no dots).
func consumerName(box string) string {
	return "logsync_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, box)
}

func (s *Sync) session(ctx context.Context) error {
	s.mu.Lock()
	ml := s.ml
	s.mu.Unlock()
	if ml == nil {
		return errors.New("logsync: no message log attached")
	}
	if _, err := s.node.WaitLeader(ctx); err != nil {
		return err
	}
	cons, err := s.consumer(ctx)
	if err != nil {
		return err
	}
	js, err := jetstream.New(s.node.Conn(), jetstream.WithPublishAsyncTimeout(5*time.Second),
		jetstream.WithPublishAsyncMaxPending(batchSize))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- s.publishLoop(sctx, js) }()
	go func() { errc <- s.applyLoop(sctx, cons, ml) }()
	err = <-errc
	cancel()
	<-errc
	return err
}

// publishLoop sends the outbox whenever a change is written (and every
// second, for a change whose kick came before its transaction committed).
func (s *Sync) publishLoop(ctx context.Context, js jetstream.JetStream) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := s.flush(ctx, js); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.kick:
			// The hook runs inside the writer's transaction: give it
			// the moment to commit, and let a burst gather.
			select {
			case <-time.After(2 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-tick.C:
		}
	}
}

type outRecord struct {
	key, val []byte
	env      envelope
}

// flush publishes the outbox in batches until it is empty.
func (s *Sync) flush(ctx context.Context, js jetstream.JetStream) error {
	for {
		var recs []outRecord
		err := s.st.View(func(txn *store.Txn) error {
			it := txn.NewIterator(store.Prefix(outbox, false, false))
			defer it.Close()
			for it.Rewind(); it.Valid() && len(recs) < batchSize; it.Next() {
				r := outRecord{key: it.Item().KeyCopy(nil)}
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				r.val = v
				if err := json.Unmarshal(v, &r.env); err != nil {
					s.log.Warn("logsync: damaged outbox record dropped", "key", string(r.key), "err", err)
					r.env.Kind = ""
				}
				recs = append(recs, r)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("logsync: read outbox: %w", err)
		}
		if len(recs) == 0 {
			return nil
		}
		futures := make([]jetstream.PubAckFuture, len(recs))
		for i, r := range recs {
			if r.env.Kind == "" {
				continue
			}
			msg := nats.NewMsg(subjectPfx + r.env.Kind)
			msg.Header.Set(headerBox, s.box)
			msg.Data = r.val
			f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(s.msgID(r)))
			if err != nil {
				return fmt.Errorf("logsync: publish: %w", err)
			}
			futures[i] = f
		}
		var done [][]byte
		var failed error
		for i, f := range futures {
			if f == nil {
				done = append(done, recs[i].key)
				continue
			}
			select {
			case <-f.Ok():
				done = append(done, recs[i].key)
			case err := <-f.Err():
				if failed == nil {
					failed = fmt.Errorf("logsync: publish: %w", err)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// Sent: out of the outbox, unless a newer version replaced it
		// meanwhile (it goes in the next round).
		if len(done) > 0 {
			vals := map[string][]byte{}
			for _, r := range recs {
				vals[string(r.key)] = r.val
			}
			err := s.st.UpdateNoSync(func(txn *store.Txn) error {
				for _, k := range done {
					item, err := txn.Get(k)
					if errors.Is(err, store.ErrNotFound) {
						continue
					}
					if err != nil {
						return err
					}
					cur, err := item.ValueCopy(nil)
					if err != nil {
						return err
					}
					if bytes.Equal(cur, vals[string(k)]) {
						if err := txn.Delete(k); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("logsync: clear outbox: %w", err)
			}
			s.published.Add(uint64(len(done)))
		}
		if failed != nil {
			return failed
		}
		if len(recs) < batchSize {
			return nil
		}
	}
}

// msgID is the JetStream message ID of a record's version: the same
// version published twice (a crash between the acknowledgement and the
// outbox delete) is stored once.
func (s *Sync) msgID(r outRecord) string {
	h := fnv.New64a()
	_, _ = h.Write(r.val)
	return s.box + "/" + strings.TrimPrefix(string(r.key), outbox) + "/" + strconv.FormatUint(h.Sum64(), 36)
}

// applyLoop merges the other boxes' changes, a fetched batch per store
// transaction, and acknowledges the batch once stored. A change applied
// but not acknowledged (the box died in between) comes again and merges
// to nothing.
func (s *Sync) applyLoop(ctx context.Context, cons jetstream.Consumer, ml MessageLog) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := cons.Fetch(batchSize, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("logsync: fetch: %w", err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("logsync: fetch: %w", err)
		}
		if len(msgs) == 0 {
			continue
		}
		// The batch is stored before it is acknowledged. A store that
		// refuses (a full disk) is asked again until it takes it.
		for {
			err := s.apply(ml, msgs)
			if err == nil {
				break
			}
			s.log.Warn("logsync: changes from the cluster not stored; trying again", "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		// Each change is acknowledged on its own (AckExplicit): changes a
		// box fetched but never stored (it died in between) come again
		// after ackWait, even if the box meanwhile stored and
		// acknowledged later ones — an acknowledgement of "everything up
		// to here" (AckAll) would have covered and lost them. The merge
		// does not depend on the order changes arrive in (peer.go). The
		// last acknowledgement is confirmed by the server; the earlier
		// ones went before it on the same connection.
		for _, m := range msgs[:len(msgs)-1] {
			if err := m.Ack(); err != nil {
				return fmt.Errorf("logsync: ack: %w", err)
			}
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = msgs[len(msgs)-1].DoubleAck(actx)
		cancel()
		if err != nil {
			return fmt.Errorf("logsync: ack: %w", err)
		}
	}
}

// applyChunk bounds the changes merged in one store transaction: a
// message-log entry writes some twenty index keys, and Badger refuses a
// transaction bigger than 15 % of its memtable (300 KiB on a Pi).
const applyChunk = 16

// apply merges a fetched batch into the store, applyChunk changes per
// transaction (one at a time if a chunk fails). A change that does not
// decode is logged and skipped; a store error stops the batch, which is
// not acknowledged and comes again.
func (s *Sync) apply(ml MessageLog, msgs []jetstream.Msg) error {
	var recs []record
	for _, m := range msgs {
		if m.Headers().Get(headerBox) == s.box {
			continue
		}
		r, err := decodeRecord(m.Data())
		if err != nil {
			seq := uint64(0)
			if md, _ := m.Metadata(); md != nil {
				seq = md.Sequence.Stream
			}
			s.log.Warn("logsync: a change from the cluster does not decode; skipped", "stream_seq", seq, "err", err)
			continue
		}
		recs = append(recs, r)
	}
	total := uint64(len(recs))
	for len(recs) > 0 {
		chunk := recs[:min(applyChunk, len(recs))]
		recs = recs[len(chunk):]
		n, err := s.merge(ml, chunk)
		if err != nil && len(chunk) > 1 {
			n, err = 0, nil
			for i := range chunk {
				var k uint64
				if k, err = s.merge(ml, chunk[i:i+1]); err != nil {
					break
				}
				n += k
			}
		}
		s.applied.Add(n)
		if err != nil {
			return fmt.Errorf("logsync: apply: %w", err)
		}
	}
	s.received.Add(total)
	return nil
}

// merge applies recs in one transaction; it returns how many changed the
// store.
func (s *Sync) merge(ml MessageLog, recs []record) (uint64, error) {
	var n uint64
	err := s.st.Update(func(txn *store.Txn) error {
		n = 0
		for _, r := range recs {
			wrote, err := r.merge(txn, ml)
			if err != nil {
				return err
			}
			if wrote {
				n++
			}
		}
		return nil
	})
	return n, err
}

// record is one decoded change.
type record struct {
	kind    string
	session string
	message msglog.Entry
	ses     session.Session
	entry   session.Entry
}

func decodeRecord(data []byte) (record, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return record{}, err
	}
	r := record{kind: env.Kind, session: env.Session}
	var err error
	switch env.Kind {
	case kindMessage:
		err = json.Unmarshal(env.Data, &r.message)
	case kindSession:
		err = json.Unmarshal(env.Data, &r.ses)
	case kindEntry:
		err = json.Unmarshal(env.Data, &r.entry)
	default:
		err = fmt.Errorf("unknown record kind %q", env.Kind)
	}
	return r, err
}

func (r record) merge(txn *store.Txn, ml MessageLog) (bool, error) {
	switch r.kind {
	case kindMessage:
		return ml.MergeTxn(txn, r.message)
	case kindSession:
		return session.MergeSessionTxn(txn, r.ses)
	default:
		return session.MergeEntryTxn(txn, r.session, r.entry)
	}
}
