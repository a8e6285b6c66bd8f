package smspool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
)

// Why a SIM does not send right now. The channel's Blocked text is built
// from these, so they read well after "on all SIMs".
const (
	blockOffline    = "offline"
	blockQuiet      = "quiet hours"
	blockDailyCap   = "daily cap reached"
	blockMonthlyCap = "monthly cap reached"
	blockDetached   = "not connected"
)

// quietHours is a daily window in local time in which nothing is sent. The
// window may cross midnight ("22:00-07:00").
type quietHours struct {
	set        bool
	start, end int // minutes after local midnight
}

func parseQuietHours(s string) (quietHours, error) {
	if s == "" {
		return quietHours{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return quietHours{}, fmt.Errorf("quiet hours %q must look like 22:00-07:00", s)
	}
	a, err := parseClock(from)
	if err != nil {
		return quietHours{}, fmt.Errorf("quiet hours %q: %w", s, err)
	}
	b, err := parseClock(to)
	if err != nil {
		return quietHours{}, fmt.Errorf("quiet hours %q: %w", s, err)
	}
	if a == b {
		return quietHours{}, fmt.Errorf("quiet hours %q start and end at the same time; leave quiet_hours empty to send around the clock", s)
	}
	return quietHours{set: true, start: a, end: b}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return hh*60 + mm, nil
}

// until returns the end of the quiet window containing t, or the zero time
// when t is outside quiet hours.
func (q quietHours) until(t time.Time) time.Time {
	if !q.set {
		return time.Time{}
	}
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	min := t.Hour()*60 + t.Minute()
	at := func(day time.Time, minutes int) time.Time {
		return time.Date(day.Year(), day.Month(), day.Day(), minutes/60, minutes%60, 0, 0, t.Location())
	}
	if q.start < q.end { // same day, e.g. 12:00-14:00
		if min >= q.start && min < q.end {
			return at(midnight, q.end)
		}
		return time.Time{}
	}
	// Across midnight, e.g. 22:00-07:00.
	switch {
	case min >= q.start:
		return at(midnight.AddDate(0, 0, 1), q.end)
	case min < q.end:
		return at(midnight, q.end)
	}
	return time.Time{}
}

// pacer holds one SIM's sending limits and the state they need. Its fields
// are guarded by the Pool's mutex; the cap counters are persisted by the
// pool in the same transaction that marks a message sending.
type pacer struct {
	cfg   config.Pacing
	quiet quietHours
	rnd   *rand.Rand

	// Token bucket for per_minute, in parts. tokens may go negative when a
	// long message takes more parts than are available: the debt is paid
	// back before the next send, so the rate holds for long messages too.
	tokens   float64
	refilled time.Time
	// nextAt is the earliest time of the next send (random delay).
	nextAt time.Time

	day, month   string // local date keys the counters belong to
	dayN, monthN int
}

func newPacer(cfg config.Pacing, seed uint64) (*pacer, error) {
	q, err := parseQuietHours(cfg.QuietHours)
	if err != nil {
		return nil, err
	}
	if cfg.DelayMax < cfg.DelayMin {
		return nil, fmt.Errorf("delay_max %s is shorter than delay_min %s", cfg.DelayMax, cfg.DelayMin)
	}
	// Capacity 1 (refill per_minute/60 s): carriers flag bursts, so a SIM
	// sends evenly spaced rather than per_minute messages at once.
	return &pacer{cfg: cfg, quiet: q, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), tokens: 1}, nil
}

func dayKey(t time.Time) string   { return t.Format("2006-01-02") }
func monthKey(t time.Time) string { return t.Format("2006-01") }

// blocked reports a reason this SIM must not send at local time now that
// lasts longer than normal pacing (quiet hours, caps), and until when.
func (pc *pacer) blocked(now time.Time) (reason string, until time.Time) {
	if u := pc.quiet.until(now); !u.IsZero() {
		return fmt.Sprintf("%s until %s", blockQuiet, u.Format("15:04")), u
	}
	if pc.cfg.DailyCap > 0 && pc.day == dayKey(now) && pc.dayN >= pc.cfg.DailyCap {
		d := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, now.Location())
		return fmt.Sprintf("%s (%d/%d)", blockDailyCap, pc.dayN, pc.cfg.DailyCap), d
	}
	if pc.cfg.MonthlyCap > 0 && pc.month == monthKey(now) && pc.monthN >= pc.cfg.MonthlyCap {
		m := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, now.Location())
		return fmt.Sprintf("%s (%d/%d)", blockMonthlyCap, pc.monthN, pc.cfg.MonthlyCap), m
	}
	return "", time.Time{}
}

// wait returns how long normal pacing (per-minute rate, random delay)
// holds the next send back at now; 0 means send now.
func (pc *pacer) wait(now time.Time) time.Duration {
	var w time.Duration
	if now.Before(pc.nextAt) {
		w = pc.nextAt.Sub(now)
	}
	if pc.cfg.PerMinute > 0 {
		pc.refill(now)
		if pc.tokens < 1 {
			need := time.Duration((1 - pc.tokens) * float64(time.Minute) / float64(pc.cfg.PerMinute))
			w = max(w, need)
		}
	}
	return w
}

func (pc *pacer) refill(now time.Time) {
	if pc.refilled.IsZero() {
		pc.refilled = now
		return
	}
	if el := now.Sub(pc.refilled); el > 0 {
		pc.tokens = min(1, pc.tokens+el.Minutes()*float64(pc.cfg.PerMinute))
		pc.refilled = now
	}
}

// took records that a message of parts SMS parts is handed to the modem at
// now. The cap counters are counted by the caller's transaction (see
// Pool.markSending) and mirrored here with count.
func (pc *pacer) took(now time.Time, parts int) {
	if pc.cfg.PerMinute > 0 {
		pc.refill(now)
		pc.tokens -= float64(parts)
	}
	d := pc.cfg.DelayMin
	if span := pc.cfg.DelayMax - pc.cfg.DelayMin; span > 0 {
		d += time.Duration(pc.rnd.Int64N(int64(span) + 1))
	}
	pc.nextAt = now.Add(d)
}

// count mirrors the persisted cap counters after a send was recorded.
func (pc *pacer) count(day, month string, dayN, monthN int) {
	pc.day, pc.month, pc.dayN, pc.monthN = day, month, dayN, monthN
}

// ErrUnknownSIM: SetPacing names no SIM the pool knows.
var ErrUnknownSIM = errors.New("no such SIM")

// SetPacing replaces the pacing of SIM name while the pool runs (an
// administrator changed it in the portal). What the SIM already sent today
// and this month still counts against the new caps, and a send already
// held back by the old random delay waits at most the new delay_max. A SIM
// that now may send (a cap was raised, quiet hours removed) starts at once.
func (p *Pool) SetPacing(name string, cfg config.Pacing) error {
	q, err := parseQuietHours(cfg.QuietHours)
	if err != nil {
		return fmt.Errorf("pacing of modem %q: %w", name, err)
	}
	if cfg.PerMinute < 0 || cfg.DailyCap < 0 || cfg.MonthlyCap < 0 || cfg.DelayMin < 0 {
		return fmt.Errorf("pacing of modem %q: limits and delays must not be negative", name)
	}
	if cfg.DelayMax < cfg.DelayMin {
		return fmt.Errorf("pacing of modem %q: delay_max %s is shorter than delay_min %s", name, cfg.DelayMax, cfg.DelayMin)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sims[name]
	if s == nil {
		return fmt.Errorf("%w: %q", ErrUnknownSIM, name)
	}
	pc := s.pc
	if pc.cfg.PerMinute > 0 {
		// Settle the bucket at the old rate before the new one applies.
		pc.refill(p.cfg.Now())
	}
	pc.cfg, pc.quiet = cfg, q
	if cfg.PerMinute == 0 {
		pc.tokens, pc.refilled = 1, time.Time{}
	}
	if lim := p.cfg.Now().Add(cfg.DelayMax); pc.nextAt.After(lim) {
		pc.nextAt = lim
	}
	p.broadcastLocked()
	return nil
}

// Pacing returns the pacing SIM name runs with now.
func (p *Pool) Pacing(name string) (config.Pacing, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sims[name]
	if s == nil {
		return config.Pacing{}, false
	}
	return s.pc.cfg, true
}
