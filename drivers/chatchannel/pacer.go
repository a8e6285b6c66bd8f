package chatchannel

import (
	"context"
	"sync"
	"time"
)

// Pacer keeps a channel under its platform's rate: an even gap between
// any two messages (perSecond) and, when perKey is set, a gap between two
// messages to one chat. A rate-limit answer holds everything back (Hold).
type Pacer struct {
	mu     sync.Mutex
	gap    time.Duration
	perKey time.Duration
	next   time.Time
	keys   map[string]time.Time
}

// NewPacer paces at perSecond messages (at least 1) and, with perKey > 0,
// one message per perKey to each key (chat).
func NewPacer(perSecond int, perKey time.Duration) *Pacer {
	p := &Pacer{gap: time.Second / time.Duration(max(perSecond, 1)), perKey: perKey}
	if perKey > 0 {
		p.keys = map[string]time.Time{}
	}
	return p
}

// Reserve books the next slot for key and returns when it is.
func (p *Pacer) Reserve(key string, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := now
	if p.next.After(at) {
		at = p.next
	}
	if p.keys == nil {
		p.next = at.Add(p.gap)
		return at
	}
	if c := p.keys[key]; c.After(at) {
		at = c
	}
	p.next = at.Add(p.gap)
	p.keys[key] = at.Add(p.perKey)
	if len(p.keys) > 4096 {
		for k, t := range p.keys {
			if t.Before(now) {
				delete(p.keys, k)
			}
		}
	}
	return at
}

// Wait returns when a message to key may go. Interactive messages
// (replies, confirmations) book the next free slot at once; bulk
// (campaign) messages book one only when it is free now, so an
// interactive message waits behind at most one campaign message, never
// behind the campaign's backlog (ARCHITECTURE: interactive first).
func (p *Pacer) Wait(ctx context.Context, key string, bulk bool) error {
	if !bulk {
		if d := time.Until(p.Reserve(key, time.Now())); d > 0 && !Sleep(ctx, d) {
			return ctx.Err()
		}
		return nil
	}
	for {
		d, ok := p.tryReserve(key, time.Now())
		if ok {
			return nil
		}
		if !Sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// tryReserve books a slot for key if one is free at now; otherwise it
// says how long to wait before trying again.
func (p *Pacer) tryReserve(key string, now time.Time) (time.Duration, bool) {
	p.mu.Lock()
	at := p.next
	if c := p.keys[key]; c.After(at) {
		at = c
	}
	if at.After(now) {
		p.mu.Unlock()
		return max(at.Sub(now), time.Millisecond), false
	}
	p.mu.Unlock()
	p.Reserve(key, now)
	return 0, true
}

// Hold keeps every message back for d (a rate-limit answer's wait).
func (p *Pacer) Hold(d time.Duration) {
	p.mu.Lock()
	if t := time.Now().Add(d); t.After(p.next) {
		p.next = t
	}
	p.mu.Unlock()
}
