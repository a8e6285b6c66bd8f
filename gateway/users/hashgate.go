package users

import (
	"context"
	"errors"
	"sync"
)

// ErrBusy: more password checks are waiting than the gate queues; the
// caller should answer "try again in a few seconds" (503 + Retry-After).
var ErrBusy = errors.New("too many password checks at once: try again in a few seconds")

// Defaults of the Service's HashGate. Each argon2id hash holds its memory
// parameter (7 MiB with DefaultParams) while it runs, so at most
// DefaultMaxHashes run at a time; DefaultHashQueue more wait (a burst of
// portal logins at once is served, slower), and the next is refused
// instead of growing memory or latency without bound.
const (
	DefaultMaxHashes = 1
	DefaultHashQueue = 16
)

// HashGate bounds how many password hashes (argon2id) run at once and how
// many wait for a turn. All of a Service's hashing goes through it: logins
// of existing and unknown users, password changes, new users.
type HashGate struct {
	slots    chan struct{}
	maxQueue int

	mu       sync.Mutex
	waiting  int
	inFlight int
	peak     int
	rejected uint64
}

// NewHashGate lets n hashes run at once (at least 1) and queue more wait
// (at least 0).
func NewHashGate(n, queue int) *HashGate {
	return &HashGate{slots: make(chan struct{}, max(n, 1)), maxQueue: max(queue, 0)}
}

// HashStats describe a HashGate now.
type HashStats struct {
	Limit, QueueLimit int // NewHashGate's arguments
	InFlight          int // hashes running now
	Peak              int // most hashes that ever ran at once
	Waiting           int // callers queued for a turn
	Rejected          uint64
}

// Stats returns the gate's counters.
func (g *HashGate) Stats() HashStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return HashStats{Limit: cap(g.slots), QueueLimit: g.maxQueue, InFlight: g.inFlight, Peak: g.peak,
		Waiting: g.waiting, Rejected: g.rejected}
}

// Do runs fn when a slot is free. It returns ErrBusy at once when the
// queue is full, or ctx's error when ctx ends while waiting (fn did not
// run then).
func (g *HashGate) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case g.slots <- struct{}{}:
	default:
		g.mu.Lock()
		if g.waiting >= g.maxQueue {
			g.rejected++
			g.mu.Unlock()
			return ErrBusy
		}
		g.waiting++
		g.mu.Unlock()
		select {
		case g.slots <- struct{}{}:
			g.mu.Lock()
			g.waiting--
			g.mu.Unlock()
		case <-ctx.Done():
			g.mu.Lock()
			g.waiting--
			g.mu.Unlock()
			return ctx.Err()
		}
	}
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
		<-g.slots
	}()
	fn()
	return nil
}
