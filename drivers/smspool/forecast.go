package smspool

import (
	"container/heap"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// Reason codes of a forecast's wait (translated as "reason.<code>").
var (
	rWaitQuiet      = message.NewCode("sms.wait_quiet_hours", 0)
	rWaitDailyCap   = message.NewCode("sms.wait_daily_cap", 0)
	rWaitMonthlyCap = message.NewCode("sms.wait_monthly_cap", 0)
)

// Forecast says when the channel's SIMs will have sent n more messages
// (gateway/campaign's Forecaster). It plays the SIMs' pacing forward from
// now: per-minute rate, the mean random delay, daily and monthly caps with
// today's counts, quiet hours, and each SIM's measured time per send.
// Messages pinned to a SIM and interactive traffic are not foreseen.
func (c *SMSChannel) Forecast(n int) campaign.Forecast { return c.p.forecast(c.ch, n) }

// simPlan is one SIM in the forecast.
type simPlan struct {
	next         time.Time // earliest next start
	pc           pacer     // copy: counters advance in the plan
	send, gap    time.Duration
	day, month   string
	dayN, monthN int
}

type planHeap []*simPlan

func (h planHeap) Len() int           { return len(h) }
func (h planHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h planHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *planHeap) Push(x any)        { *h = append(*h, x.(*simPlan)) }
func (h *planHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// defaultSend is the time per send assumed for a SIM that has not sent yet.
const defaultSend = 3 * time.Second

func (p *Pool) forecast(ch *channel, n int) campaign.Forecast {
	type cand struct {
		m    Modem
		plan *simPlan
	}
	loc := p.cfg.Location
	p.mu.Lock()
	now := p.cfg.Now().In(loc)
	var cands []cand
	for _, name := range ch.sims {
		s := p.sims[name]
		if s == nil || s.modem == nil {
			continue
		}
		pc := *s.pc
		pl := &simPlan{pc: pc, send: s.sendAvg, day: pc.day, month: pc.month, dayN: pc.dayN, monthN: pc.monthN}
		if pl.send <= 0 {
			pl.send = defaultSend
		}
		pl.gap = (pc.cfg.DelayMin + pc.cfg.DelayMax) / 2
		if pc.cfg.PerMinute > 0 {
			pl.gap = max(pl.gap, time.Minute/time.Duration(pc.cfg.PerMinute))
		}
		pl.next = now
		if w := s.pc.wait(now); w > 0 {
			pl.next = now.Add(w)
		}
		if s.busy != "" {
			pl.next = maxTime(pl.next, now.Add(pl.send/2))
		}
		cands = append(cands, cand{s.modem, pl})
	}
	p.mu.Unlock()
	var h planHeap
	for _, c := range cands {
		if c.m.Ready() {
			h = append(h, c.plan)
		}
	}
	var f campaign.Forecast
	if len(h) == 0 || n <= 0 {
		return f
	}
	// Why sending waits now: the SIM that may send first says.
	first := time.Time{}
	var firstWhy string
	var firstCode message.Reason
	for _, pl := range h {
		at, why, code := pl.allowed(pl.next, loc)
		if first.IsZero() || at.Before(first) {
			first, firstWhy, firstCode = at, why, code
		}
	}
	if first.After(now.Add(time.Minute)) && firstWhy != "" {
		f.ResumeAt, f.Wait, f.WaitCode = first, firstWhy, firstCode
	}
	heap.Init(&h)
	var last time.Time
	for range n {
		pl := h[0]
		start, _, _ := pl.allowed(pl.next, loc)
		pl.take(start, loc)
		last = start.Add(pl.send)
		pl.next = start.Add(max(pl.send, pl.gap))
		heap.Fix(&h, 0)
	}
	f.Finish = last
	return f
}

// allowed returns the earliest time from t at which the SIM's quiet hours
// and caps let it send, and what held it back (empty: nothing).
func (pl *simPlan) allowed(t time.Time, loc *time.Location) (time.Time, string, message.Reason) {
	why, code := "", message.Reason{}
	for range 64 { // each step crosses a window or a period: bounded
		t = t.In(loc)
		if u := pl.pc.quiet.until(t); !u.IsZero() {
			if why == "" {
				why, code = blockQuiet, rWaitQuiet.R()
			}
			t = u
			continue
		}
		d, m := dayKey(t), monthKey(t)
		if pl.pc.cfg.DailyCap > 0 && pl.day == d && pl.dayN >= pl.pc.cfg.DailyCap {
			if why == "" {
				why, code = blockDailyCap, rWaitDailyCap.R()
			}
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
			continue
		}
		if pl.pc.cfg.MonthlyCap > 0 && pl.month == m && pl.monthN >= pl.pc.cfg.MonthlyCap {
			if why == "" {
				why, code = blockMonthlyCap, rWaitMonthlyCap.R()
			}
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
			continue
		}
		return t, why, code
	}
	return t, why, code
}

// take counts one single-part message started at t against the plan's caps.
func (pl *simPlan) take(t time.Time, loc *time.Location) {
	t = t.In(loc)
	if d := dayKey(t); d != pl.day {
		pl.day, pl.dayN = d, 0
	}
	if m := monthKey(t); m != pl.month {
		pl.month, pl.monthN = m, 0
	}
	pl.dayN++
	pl.monthN++
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
