package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/settings"
	"github.com/pbxgate/pbxgate/web"
)

// applyPortalPacing puts the pacing admins saved in the portal in place of
// the configuration file's, in pacing (by modem name: the configured and
// the simulated modems) before the SMS pool is built from it. Pacing saved
// for a modem the configuration no longer has (renamed or removed) is
// ignored with a log line, as is pacing that no longer validates; the
// file's applies to those.
func (d *daemon) applyPortalPacing(pacing map[string]config.Pacing) {
	recs, err := settings.LoadPacing(d.store)
	if err != nil {
		d.log.Error("reading the modem pacing saved in the portal; using the configuration file's", "err", err)
		return
	}
	names := make([]string, 0, len(recs))
	for n := range recs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := recs[n]
		if _, ok := pacing[n]; !ok {
			d.log.Warn("pacing saved in the portal for a modem the configuration does not have (renamed or removed); ignored — set the renamed modem's pacing in the portal again",
				"modem", n, "by", r.By, "at", r.At.Format(time.RFC3339))
			continue
		}
		if err := config.ValidatePacing("pacing", r.Pacing); err != nil {
			d.log.Error("pacing saved in the portal is not valid; using the configuration file's", "modem", n, "err", err)
			continue
		}
		pacing[n] = r.Pacing
		d.log.Info("modem pacing from the portal", "modem", n, "by", r.By, "at", r.At.Format(time.RFC3339))
	}
}

// modemPacing implements web.ModemPacing: changes go to the running SMS
// pool at once and to the store for the next start.
type modemPacing struct{ d *daemon }

// pacingMu keeps two admins' changes of the same SIM from interleaving
// between the pool and the store.
var pacingMu sync.Mutex

func (m modemPacing) pool() *smspool.Pool { return m.d.sms.pool }

func (m modemPacing) ModemPacing(ctx context.Context) ([]web.SIMPacing, error) {
	recs, err := settings.LoadPacing(m.d.store)
	if err != nil {
		return nil, err
	}
	var out []web.SIMPacing
	for _, st := range m.pool().SIMStates() {
		p, ok := m.pool().Pacing(st.Name)
		if !ok {
			continue
		}
		file, _ := m.d.fileCfg.ModemPacing(st.Name)
		sp := web.SIMPacing{Modem: st.Name, Pacing: p, File: file, SentToday: st.SentToday, SentMonth: st.SentMonth,
			Blocked: pacingBlock(st.Blocked)}
		// Saved pacing counts as the portal's only while it is what runs
		// (start-up ignores pacing that no longer validates).
		if r, ok := recs[st.Name]; ok && r.Pacing == p {
			sp.Changed, sp.By, sp.At = true, r.By, r.At
		}
		out = append(out, sp)
	}
	return out, nil
}

// pacingBlock names the pacing reason in a SIM's Blocked text (see
// smspool.SIMState); offline and detached SIMs are the status table's.
func pacingBlock(blocked string) string {
	switch {
	case strings.HasPrefix(blocked, "daily cap reached"):
		return "daily_cap"
	case strings.HasPrefix(blocked, "monthly cap reached"):
		return "monthly_cap"
	case strings.HasPrefix(blocked, "quiet hours"):
		return "quiet"
	}
	return ""
}

func (m modemPacing) SetModemPacing(ctx context.Context, name string, p config.Pacing, by string) error {
	pacingMu.Lock()
	defer pacingMu.Unlock()
	prev, ok := m.pool().Pacing(name)
	if !ok {
		return web.ErrUnknownModem
	}
	if err := config.ValidatePacing("pacing", p); err != nil {
		return err
	}
	if err := m.pool().SetPacing(name, p); err != nil {
		if errors.Is(err, smspool.ErrUnknownSIM) {
			return web.ErrUnknownModem
		}
		return err
	}
	if err := settings.SavePacing(m.d.store, settings.PacingRecord{Modem: name, Pacing: p, By: by, At: time.Now().UTC()}); err != nil {
		// Not kept for the next start: do not run it either.
		if rerr := m.pool().SetPacing(name, prev); rerr != nil {
			m.d.log.Error("restoring the modem's pacing after a failed save", "modem", name, "err", rerr)
		}
		return err
	}
	m.d.log.Info("modem pacing changed in the portal", "modem", name, "by", by, "per_minute", p.PerMinute,
		"delay_min", p.DelayMin.String(), "delay_max", p.DelayMax.String(), "daily_cap", p.DailyCap,
		"monthly_cap", p.MonthlyCap, "quiet_hours", p.QuietHours)
	return nil
}

func (m modemPacing) ResetModemPacing(ctx context.Context, name, by string) error {
	pacingMu.Lock()
	defer pacingMu.Unlock()
	if _, ok := m.pool().Pacing(name); !ok {
		return web.ErrUnknownModem
	}
	file, _ := m.d.fileCfg.ModemPacing(name)
	if err := settings.ResetPacing(m.d.store, name); err != nil {
		return err
	}
	if err := m.pool().SetPacing(name, file); err != nil {
		return err
	}
	m.d.log.Info("modem pacing reset to the configuration file's", "modem", name, "by", by)
	return nil
}
