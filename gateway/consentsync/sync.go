// Package consentsync shares opt-outs and the blacklist between the boxes
// of a cluster: every box keeps its own durable copy (gateway/consent on
// Badger) and exchanges changes through a replicated bucket, so a box
// keeps honouring and recording opt-outs while it is cut off, and catches
// up when the cluster heals.
package consentsync

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/consent"
)

// BucketName is the replicated bucket of consent changes.
const BucketName = "pbxgate_consent"

// Sync passes this box's consent changes to the cluster and applies the
// others'. It implements consent.Replicator.
type Sync struct {
	node *cluster.Node
	log  *slog.Logger

	mu      sync.Mutex
	c       *consent.Consent
	pending map[string]consent.Change // by bucket key, newest wins
	kick    chan struct{}
	// rounds and creates count the reconciliations at the start of each
	// session and the create requests they made (Reconciled).
	rounds, creates atomic.Int64
}

// New makes a Sync for node; Attach gives it the consent register
// (which needs the Sync as its Replicator when it is built).
func New(node *cluster.Node, log *slog.Logger) *Sync {
	return &Sync{node: node, log: log, pending: map[string]consent.Change{}, kick: make(chan struct{}, 1)}
}

// Attach sets the register that changes are read from and applied to.
func (s *Sync) Attach(c *consent.Consent) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
}

// Replicate queues a local change; Run sends it when the cluster has a
// leader. It never blocks on the network.
func (s *Sync) Replicate(_ context.Context, ch consent.Change) {
	s.mu.Lock()
	s.pending[bucketKey(ch.Kind, ch.Key)] = ch
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Pending is the number of local changes not yet in the cluster's bucket.
func (s *Sync) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Reconciled is how many reconciliations the sessions with the cluster
// made and how many entries they asked the bucket to create.
func (s *Sync) Reconciled() (rounds, creates int) {
	return int(s.rounds.Load()), int(s.creates.Load())
}

// Run keeps the box in sync until ctx ends: it waits for a leader,
// pushes what this box has that the bucket lacks, applies the bucket's
// entries and changes, and sends local changes as they happen. When the
// cluster goes away it starts over.
func (s *Sync) Run(ctx context.Context) error {
	for {
		err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("consent sync with the cluster interrupted; opt-outs are kept locally and sent when it is back", "err", err, "pending", s.Pending())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (s *Sync) session(ctx context.Context) error {
	s.mu.Lock()
	c := s.c
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("consentsync: no consent register attached")
	}
	if _, err := s.node.WaitLeader(ctx); err != nil {
		return err
	}
	b, err := s.node.Bucket(ctx, BucketName, "pbxgate opt-outs and blacklist")
	if err != nil {
		return err
	}
	// What this box has that the bucket lacks (written while cut off, or
	// before the box joined): Create never overwrites another box's. The
	// bucket's keys are listed first, so a reconnect creates only what is
	// missing instead of asking once per entry (each create is a write
	// through the cluster's quorum).
	lctx, cancelList := context.WithTimeout(ctx, 10*time.Second)
	have, err := b.Keys(lctx)
	cancelList()
	if err != nil {
		return fmt.Errorf("consentsync: reconcile: %w", err)
	}
	pushed := 0
	for _, ch := range c.Changes() {
		if have[bucketKey(ch.Kind, ch.Key)] {
			continue
		}
		s.creates.Add(1)
		v, err := json.Marshal(ch)
		if err != nil {
			return err
		}
		ok, err := b.Create(ctx, bucketKey(ch.Kind, ch.Key), v)
		if err != nil {
			return fmt.Errorf("consentsync: reconcile: %w", err)
		}
		if ok {
			pushed++
		}
	}
	if pushed > 0 {
		s.log.Info("consent entries of this box sent to the cluster", "entries", pushed)
	}
	s.rounds.Add(1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- b.Watch(wctx, func(u cluster.Update) error {
			ch, err := decode(u)
			if err != nil {
				s.log.Warn("consent change from the cluster ignored", "key", u.Key, "err", err)
				return nil
			}
			if err := c.Apply(wctx, ch); err != nil {
				s.log.Warn("consent change from the cluster not applied", "key", u.Key, "err", err)
			}
			return nil
		})
	}()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		if err := s.flush(ctx, b); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-watchErr:
			return err
		case <-s.kick:
		case <-tick.C:
		}
	}
}

// flush sends the pending changes; one that fails stays pending.
func (s *Sync) flush(ctx context.Context, b *cluster.Bucket) error {
	s.mu.Lock()
	batch := make(map[string]consent.Change, len(s.pending))
	for k, ch := range s.pending {
		batch[k] = ch
	}
	s.mu.Unlock()
	for k, ch := range batch {
		var err error
		if ch.Deleted {
			err = b.Delete(ctx, k)
		} else {
			var v []byte
			if v, err = json.Marshal(ch); err == nil {
				err = b.Put(ctx, k, v)
			}
		}
		if err != nil {
			return fmt.Errorf("consentsync: send %s: %w", k, err)
		}
		s.mu.Lock()
		if cur, ok := s.pending[k]; ok && string(cur.Value) == string(ch.Value) && cur.Deleted == ch.Deleted {
			delete(s.pending, k)
		}
		s.mu.Unlock()
	}
	return nil
}

// bucketKey is kind.base64url(key): bucket keys allow only
// [-/_=.a-zA-Z0-9], and a key may be a channel's user id.
func bucketKey(kind consent.ChangeKind, key string) string {
	return string(kind) + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
}

func decode(u cluster.Update) (consent.Change, error) {
	kind, enc, ok := strings.Cut(u.Key, ".")
	if !ok {
		return consent.Change{}, fmt.Errorf("key %q is not kind.key", u.Key)
	}
	key, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return consent.Change{}, fmt.Errorf("key %q: %w", u.Key, err)
	}
	if u.Deleted {
		return consent.Change{Kind: consent.ChangeKind(kind), Key: string(key), Deleted: true}, nil
	}
	var ch consent.Change
	if err := json.Unmarshal(u.Value, &ch); err != nil {
		return consent.Change{}, err
	}
	if string(ch.Kind) != kind || ch.Key != string(key) {
		return consent.Change{}, fmt.Errorf("value of %q names %s %q", u.Key, ch.Kind, ch.Key)
	}
	return ch, nil
}
