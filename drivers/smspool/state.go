package smspool

import (
	"strings"
)

// SIMState is one SIM as the portal, the CLI and campaigns see it.
type SIMState struct {
	Name      string `json:"name"`
	Number    string `json:"number,omitempty"`
	Connected bool   `json:"connected"` // a modem with this name is attached
	Ready     bool   `json:"ready"`     // the modem says it can send
	Sending   string `json:"sending,omitempty"`
	// Blocked says why the SIM does not send for a while: "offline",
	// "not connected", "quiet hours until 07:00", "daily cap reached
	// (500/500)", "monthly cap reached (…)". Empty when it may send.
	Blocked    string `json:"blocked,omitempty"`
	SentToday  int    `json:"sent_today"` // parts, as counted against the caps
	DailyCap   int    `json:"daily_cap,omitempty"`
	SentMonth  int    `json:"sent_month"`
	MonthlyCap int    `json:"monthly_cap,omitempty"`
	LastError  string `json:"last_error,omitempty"`
}

// ChannelState is one SMS channel: its queue and its SIMs.
type ChannelState struct {
	Name         string `json:"name"`
	Queued       int    `json:"queued"`
	MaxPerMinute int    `json:"max_per_minute,omitempty"`
	// Blocked is set when no SIM of the channel can send, and says why
	// ("daily cap reached on all SIMs", "quiet hours on all SIMs until
	// 07:00" …). Queued work waits; it does not fail.
	Blocked string     `json:"blocked,omitempty"`
	SIMs    []SIMState `json:"sims"`
}

// ChannelStates reports every configured channel, in configuration order.
func (p *Pool) ChannelStates() []ChannelState {
	sims := p.SIMStates()
	byName := make(map[string]SIMState, len(sims))
	for _, s := range sims {
		byName[s.Name] = s
	}
	p.mu.Lock()
	out := make([]ChannelState, len(p.channels))
	for i, ch := range p.channels {
		out[i] = ChannelState{Name: ch.name, Queued: ch.queued(), MaxPerMinute: ch.maxPerMinute}
		for _, n := range ch.sims {
			out[i].SIMs = append(out[i].SIMs, byName[n])
		}
	}
	p.mu.Unlock()
	for i := range out {
		out[i].Blocked = channelBlocked(out[i].SIMs)
	}
	return out
}

// SIMStates reports every SIM the pool knows (configured or attached),
// sorted by name.
func (p *Pool) SIMStates() []SIMState {
	type snap struct {
		st    SIMState
		modem Modem
	}
	p.mu.Lock()
	now := p.cfg.Now().In(p.cfg.Location)
	day, month := dayKey(now), monthKey(now)
	snaps := make([]snap, 0, len(p.sims))
	for _, s := range p.sims {
		st := SIMState{Name: s.name, Connected: s.modem != nil, Sending: s.busy, LastError: s.lastErr,
			DailyCap: s.pc.cfg.DailyCap, MonthlyCap: s.pc.cfg.MonthlyCap}
		if s.pc.day == day {
			st.SentToday = s.pc.dayN
		}
		if s.pc.month == month {
			st.SentMonth = s.pc.monthN
		}
		st.Blocked, _ = s.pc.blocked(now)
		snaps = append(snaps, snap{st, s.modem})
	}
	p.mu.Unlock()
	out := make([]SIMState, len(snaps))
	for i, sn := range snaps {
		st := sn.st
		switch {
		case sn.modem == nil:
			st.Blocked = blockDetached
		case !sn.modem.Ready():
			st.Ready = false
			st.Blocked = blockOffline
		default:
			st.Ready = true
		}
		if sn.modem != nil {
			if n, ok := sn.modem.(interface{ Number() string }); ok {
				st.Number = n.Number()
			}
		}
		out[i] = st
	}
	sortSIMs(out)
	return out
}

func sortSIMs(s []SIMState) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Name < s[j-1].Name; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// channelBlocked says why no SIM can send, or "" when one can.
func channelBlocked(sims []SIMState) string {
	if len(sims) == 0 {
		return "no SIMs configured for this channel"
	}
	kinds := map[string]bool{}
	var parts []string
	for _, s := range sims {
		if s.Blocked == "" {
			return ""
		}
		kinds[blockKind(s.Blocked)] = true
		parts = append(parts, s.Name+": "+s.Blocked)
	}
	if len(kinds) == 1 {
		kind := blockKind(sims[0].Blocked)
		switch kind {
		case blockDetached:
			return "no SIM connected"
		case blockOffline, blockOffline + "/" + blockDetached:
			return "no SIM online"
		case blockQuiet:
			// Same end time everywhere reads best; otherwise list them.
			same := true
			for _, s := range sims[1:] {
				same = same && s.Blocked == sims[0].Blocked
			}
			if same {
				return "quiet hours on all SIMs (" + strings.TrimPrefix(sims[0].Blocked, blockQuiet+" ") + ")"
			}
		default:
			return kind + " on all SIMs"
		}
	}
	if len(kinds) == 2 && kinds[blockOffline] && kinds[blockDetached] {
		return "no SIM online"
	}
	return "no SIM can send: " + strings.Join(parts, "; ")
}

func blockKind(reason string) string {
	for _, k := range []string{blockQuiet, blockDailyCap, blockMonthlyCap, blockOffline, blockDetached} {
		if strings.HasPrefix(reason, k) {
			return k
		}
	}
	return reason
}
