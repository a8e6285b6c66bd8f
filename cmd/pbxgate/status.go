package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/web"
)

// dashboardStatus assembles the portal's dashboard from the live parts of
// the daemon; every call answers from memory.
type dashboardStatus struct{ d *daemon }

func (s dashboardStatus) Status(ctx context.Context) web.Status {
	st := web.Status{}
	for _, b := range s.d.traffic.History(time.Now()) {
		st.History = append(st.History, web.TrafficBucket{Start: b.Start, Sent: b.Sent, Delivered: b.Delivered, Failed: b.Failed})
	}
	sims := map[string]struct{ sent, cap int }{}
	for _, c := range s.d.sms.pool.ChannelStates() {
		st.QueueDepth += c.Queued
		for _, sim := range c.SIMs {
			sims[sim.Name] = struct{ sent, cap int }{sim.SentToday, sim.DailyCap}
		}
	}
	for _, m := range s.d.sms.modemViews() {
		ms := web.ModemStatus{
			ID:           m.Name,
			Model:        m.Info.Model,
			State:        modemStateWord(m.State),
			SignalBars:   m.Info.SignalBars,
			Operator:     m.Info.Operator,
			Registration: m.Info.Registration,
			SIM:          m.Info.Number,
			SentToday:    sims[m.Name].sent,
			DailyCap:     sims[m.Name].cap,
		}
		if ms.SIM == "" && len(m.Info.ICCID) > 6 {
			ms.SIM = "…" + m.Info.ICCID[len(m.Info.ICCID)-6:]
		}
		switch m.State {
		case modem.StateOnline:
			ms.Health = web.HealthOK
		case modem.StateOffline, modem.StatePUKLocked, modem.StateNoSIM:
			ms.Health = web.HealthDown
		default:
			ms.Health = web.HealthDegraded
		}
		st.Modems = append(st.Modems, ms)
	}
	if p := s.d.pbx; p != nil {
		reg := p.gw.Registration()
		ss := web.SIPStatus{Name: "PBX", Server: reg.Registrar, State: reg.State, Detail: reg.LastError}
		switch reg.State {
		case "registered", "disabled": // disabled: peer mode, nothing to register
			ss.Health = web.HealthOK
		case "failed":
			ss.Health = web.HealthDown
		default:
			ss.Health = web.HealthDegraded
		}
		st.SIP = append(st.SIP, ss)
		st.QueueDepth += p.sessions.Pending()
	}
	st.WhatsApp = append(st.WhatsApp, s.d.whatsappStatuses()...)
	return st
}

// tierName is Meta's name of a messaging-limit tier.
func tierName(limit int) string {
	switch limit {
	case 0:
		return "TIER_UNLIMITED"
	case 50:
		return "TIER_50"
	case 250:
		return "TIER_250"
	case 1000:
		return "TIER_1K"
	case 2000:
		return "TIER_2K"
	case 10000:
		return "TIER_10K"
	case 100000:
		return "TIER_100K"
	}
	return fmt.Sprint(limit)
}

// modemStateWord maps the driver's states onto the portal's words.
func modemStateWord(s modem.State) string {
	if s == modem.StateOnline {
		return "ready"
	}
	return string(s)
}
