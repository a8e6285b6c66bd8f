package campaign

import (
	"context"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Forecaster is optionally implemented by a channel that can tell, from
// its senders' pacing, caps and quiet hours, when it will have sent n more
// messages (an SMS channel over its SIMs).
type Forecaster interface {
	Forecast(n int) Forecast
}

// Forecast is a channel's answer to Forecaster.
type Forecast struct {
	// Finish is when the n-th message is expected to have gone out; zero
	// when no sender can send (all offline or detached).
	Finish time.Time
	// ResumeAt is set when no sender may send now (quiet hours, caps): the
	// time sending continues, with the reason (Wait, WaitCode).
	ResumeAt time.Time
	Wait     string
	WaitCode message.Reason
}

// Progress is what a campaign's view shows beyond its counts (which are
// what the channel reported): the send rate measured from the channel's
// reports and when the campaign will be done.
type Progress struct {
	// RatePerMinute is the measured rate of "sent" reports over the last
	// reports (0 until two arrived).
	RatePerMinute float64 `json:"rate_per_minute"`
	// Remaining recipients: queued in the campaign or in the channel.
	Remaining int `json:"remaining"`
	// ETA is when the last remaining recipient is expected to be sent
	// (zero: unknown, or nothing remains).
	ETA time.Time `json:"eta,omitzero"`
	// ResumeAt, Wait and WaitCode: sending is held back until ResumeAt
	// (e.g. "daily cap reached"); zero when it is not.
	ResumeAt time.Time      `json:"resume_at,omitzero"`
	Wait     string         `json:"wait,omitempty"`
	WaitCode message.Reason `json:"wait_code,omitzero"`
}

// rates keeps the times of the last "sent" reports per campaign.
type rates struct {
	mu sync.Mutex
	by map[string]*ring
}

const rateWindow = 32

type ring struct {
	at [rateWindow]time.Time
	n  int // total recorded
}

func (r *rates) add(id string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by = map[string]*ring{}
	}
	g := r.by[id]
	if g == nil {
		g = &ring{}
		r.by[id] = g
	}
	g.at[g.n%rateWindow] = at
	g.n++
}

// perMinute is the rate over the recorded reports, counted until now (a
// campaign that stopped sending slows down in the figure).
func (r *rates) perMinute(id string, now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.by[id]
	if g == nil || g.n < 2 {
		return 0
	}
	k := min(g.n, rateWindow)
	oldest := g.at[(g.n-k)%rateWindow]
	newest := g.at[(g.n-1)%rateWindow]
	end := newest
	if now.Sub(newest) > newest.Sub(oldest)/time.Duration(k-1)*2 {
		end = now // no report for longer than two usual gaps
	}
	span := end.Sub(oldest)
	if span <= 0 {
		return 0
	}
	return float64(k-1) / span.Minutes()
}

func (r *rates) forget(id string) {
	r.mu.Lock()
	delete(r.by, id)
	r.mu.Unlock()
}

// Progress returns campaign id's measured send rate and expected end.
// The ETA comes from the channel's Forecast (its senders' pacing, caps and
// quiet hours), bounded by the campaign's throttle; for a channel without
// one, from the measured rate.
func (e *Engine) Progress(ctx context.Context, id string) (Progress, error) {
	c, err := e.Get(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	now := e.clock.Now()
	p := Progress{RatePerMinute: e.rates.perMinute(id, now), Remaining: c.Counts.Queued + c.Counts.Sending}
	if p.Remaining == 0 || (!sending(c.State) && c.State != Pending) {
		return p, nil
	}
	ch := e.cfg.Channels[c.Spec.Channel]
	if f, ok := ch.(Forecaster); ok {
		fc := f.Forecast(p.Remaining)
		p.ETA, p.ResumeAt, p.Wait, p.WaitCode = fc.Finish, fc.ResumeAt, fc.Wait, fc.WaitCode
	} else if p.RatePerMinute > 0 {
		p.ETA = now.Add(time.Duration(float64(p.Remaining) / p.RatePerMinute * float64(time.Minute)))
	}
	rate := c.Spec.Throttle
	if rate == 0 && ch != nil {
		rate = ch.MaxPerMinute()
	}
	if rate > 0 && !p.ETA.IsZero() {
		if t := now.Add(time.Duration(p.Remaining) * time.Minute / time.Duration(rate)); t.After(p.ETA) {
			p.ETA = t
		}
	}
	return p, nil
}
