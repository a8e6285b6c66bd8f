package whatsapp

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// ErrWithdrawn: the message was taken back (Withdraw) while it waited for
// its slot. Nothing went to Meta and nothing is recorded for its ID, so it
// may be sent again later; it is not a failure.
var ErrWithdrawn = errors.New("WhatsApp message withdrawn before it was sent")

// class orders the requests waiting for a slot: every interactive request
// goes before any bulk one; within a class the order of arrival is kept.
type class int

const (
	interactive class = iota // replies, automatic answers, single sends
	bulk                     // campaign sends
	numClasses
)

// classOf maps the message's scheduling class (message.Outbound.Class,
// Bulk for campaign sends, the zero value Interactive for everything else)
// onto the pacer's.
func classOf(o message.Outbound) class {
	if o.Class == message.Bulk {
		return bulk
	}
	return interactive
}

// wireMargin is kept free at the end of each second beyond the pacing: the
// HTTP server sees a request a little later than it was written (its
// handler runs when the server's goroutine is scheduled), and a request
// delayed there must not share a window with one written a second after
// it. 2 ms let 1,009 requests into one second at 1,000/s on an idle 2-core
// machine (docs/benchmarks.md, "WhatsApp pacer"); 8 ms still leaves the
// slots of the GCRA (99 %: 1,000 requests in 1.0101 s) as what paces a
// saturated channel, so the guard costs no throughput.
const wireMargin = 8 * time.Millisecond

// wireHeadroom paces 1 % below the limit, so scheduling jitter between the
// release of a request and its arrival at Meta does not push a second
// over the limit.
const wireHeadroom = 0.99

// wirePacer hands out the channel's send slots: at most limit requests in
// any one-second window on the wire, spaced evenly (GCRA at 99 % of the
// limit), interactive requests before bulk ones. A request waits in it
// after its record is stored and is written to Meta right when released,
// so no store latency sits between the slot and the wire.
//
// Besides the spacing it keeps the times the last limit requests were
// written (httptrace WroteRequest): a request is released only when the
// one limit requests before it left more than a second (plus wireMargin)
// ago. A sender goroutine that was scheduled late therefore cannot bunch
// requests up into one second.
type wirePacer struct {
	clk      Clock
	limit    int
	interval time.Duration
	maxLag   time.Duration // see maxLag

	mu      sync.Mutex
	queues  [numClasses][]*ticket
	byID    map[string]*ticket
	next    time.Time // earliest release of the next request (GCRA)
	recent  []*ticket // ring of the last limit released requests
	pos     int       // next ring position to overwrite
	running bool      // the release loop is running
}

type ticket struct {
	id    string
	cls   class
	ready chan struct{} // closed on release or withdrawal
	state ticketState
	wire  time.Time // release time, then when it was written
	seen  time.Time // when its response began to arrive (zero: not yet, or not reported)
}

type ticketState int

const (
	claimed ticketState = iota // ID reserved, record being stored
	waiting                    // queued for a slot
	released
	withdrawn
	abandoned
)

func newWirePacer(clk Clock, limit int) *wirePacer {
	interval := time.Duration(float64(time.Second) / (float64(limit) * wireHeadroom))
	return &wirePacer{
		clk: clk, limit: limit,
		interval: interval,
		maxLag:   min(maxLag, maxCatchUp*interval),
		byID:     map[string]*ticket{},
		recent:   make([]*ticket, limit),
	}
}

// errBusyID: the same message ID already waits for a slot.
var errBusyID = errors.New("message is already waiting to be sent")

// claim reserves id in the pacer (one request per ID at a time) before
// its record is stored; await then queues it.
func (p *wirePacer) claim(id string, cls class) (*ticket, error) {
	t := &ticket{id: id, cls: cls, ready: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.byID[id]; dup {
		return nil, errBusyID
	}
	p.byID[id] = t
	return t, nil
}

// drop gives up a claimed ticket that was never queued.
func (p *wirePacer) drop(t *ticket) {
	p.mu.Lock()
	t.state = abandoned
	p.removeLocked(t)
	p.mu.Unlock()
}

// await queues t and waits until it is released (nil), withdrawn
// (ErrWithdrawn) or ctx ends (ctx.Err(); the ticket is dropped). A ticket
// released as ctx ended still counts as released: its slot is used.
func (p *wirePacer) await(ctx context.Context, t *ticket) error {
	p.mu.Lock()
	t.state = waiting
	p.queues[t.cls] = append(p.queues[t.cls], t)
	if !p.running {
		// Idle until now: no credit saved up, the first slot is now.
		if now := p.clk.Now(); p.next.Before(now) {
			p.next = now
		}
		p.running = true
		go p.loop()
	}
	p.mu.Unlock()
	select {
	case <-t.ready:
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch t.state {
	case released:
		return nil
	case withdrawn:
		return ErrWithdrawn
	}
	t.state = abandoned
	p.removeLocked(t)
	return ctx.Err()
}

// wrote records when t's request was written to the connection.
func (p *wirePacer) wrote(t *ticket, at time.Time) {
	p.mu.Lock()
	if at.After(t.wire) {
		t.wire = at
	}
	p.mu.Unlock()
}

// responded records when the response to t's request began to arrive
// (httptrace GotFirstResponseByte). The server saw the request before
// that, so a request released a second after it can never share a
// one-second window with it at the server, however late the server's
// clock read the first one; the write time alone leaves that to
// wireMargin.
func (p *wirePacer) responded(t *ticket, at time.Time) {
	p.mu.Lock()
	if at.After(t.seen) {
		t.seen = at
	}
	p.mu.Unlock()
}

// withdraw takes the waiting requests among ids out of the queue and
// returns their IDs. Their waiters get ErrWithdrawn.
func (p *wirePacer) withdraw(ids []string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, id := range ids {
		t := p.byID[id]
		if t == nil || t.state != waiting {
			continue
		}
		t.state = withdrawn
		p.removeLocked(t)
		close(t.ready)
		out = append(out, id)
	}
	return out
}

// queued is how many requests wait for a slot.
func (p *wirePacer) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, q := range p.queues {
		n += len(q)
	}
	return n
}

func (p *wirePacer) removeLocked(t *ticket) {
	delete(p.byID, t.id)
	q := p.queues[t.cls]
	for i, x := range q {
		if x == t {
			p.queues[t.cls] = append(q[:i:i], q[i+1:]...)
			return
		}
	}
}

// slotLocked is the earliest time the next request may be released: its
// GCRA slot, and a second after the request limit requests before it
// reached the server — bounded by when its response arrived, if that was
// reported, else by its write time plus wireMargin.
func (p *wirePacer) slotLocked() time.Time {
	at := p.next
	if old := p.recent[p.pos]; old != nil {
		g := old.wire.Add(time.Second + wireMargin)
		if !old.seen.IsZero() {
			g = old.seen.Add(time.Second + seenMargin)
		}
		if g.After(at) {
			at = g
		}
	}
	return at
}

// seenMargin is the margin after a reported response time: the server
// saw the request before it answered, so only clock granularity is left.
const seenMargin = time.Millisecond

// maxLag bounds how far the schedule may fall behind the clock while
// requests wait and still catch up (the release loop was scheduled late on
// a busy machine), so the average stays at the rate. The catch-up never
// breaks the one-second window: the guard on write times holds it.
//
// At high rates the catch-up is bounded to maxCatchUp slots as well: 50 ms
// at 1,000/s released 50 requests at once, and such a burst reaches the
// HTTP server's handlers spread over several milliseconds, which is what
// pushed a window over the limit.
const (
	maxLag     = 50 * time.Millisecond
	maxCatchUp = 10
)

// loop releases waiting requests at their slots; it ends when none wait.
func (p *wirePacer) loop() {
	ctx := context.Background()
	for {
		p.mu.Lock()
		now := p.clk.Now()
		if lag := now.Sub(p.next); lag > p.maxLag {
			p.next = now.Add(-p.maxLag)
		}
		for {
			t := p.headLocked()
			if t == nil {
				p.running = false
				p.mu.Unlock()
				return
			}
			if p.slotLocked().After(now) {
				break
			}
			p.removeLocked(t)
			t.state, t.wire = released, now
			p.recent[p.pos] = t
			p.pos = (p.pos + 1) % len(p.recent)
			p.next = p.next.Add(p.interval)
			if p.next.Before(now.Add(-p.maxLag)) {
				p.next = now.Add(-p.maxLag)
			}
			close(t.ready)
		}
		wait := p.slotLocked().Sub(now)
		p.mu.Unlock()
		_ = p.clk.Sleep(ctx, wait)
	}
}

func (p *wirePacer) headLocked() *ticket {
	for _, q := range p.queues {
		if len(q) > 0 {
			return q[0]
		}
	}
	return nil
}
