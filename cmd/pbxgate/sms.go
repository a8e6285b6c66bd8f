package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// smsStack is the daemon's SMS side: the modems (real or simulated), their
// supervisors and the pool that queues and paces messages over them.
type smsStack struct {
	pool *smspool.Pool
	sim  *modemsim.Network // nil without simulated modems

	mms *mmsSide // MMS settings, the simulated MMSC (mms.go)

	mu     sync.Mutex
	modems map[string]*modem.Modem
	// unconfigured are known modems' AT ports that discovery found but no
	// modems.devices entry uses: shown so the installer can add them.
	unconfigured []modem.Candidate
}

// simNumber is the phone number of the i-th simulated SIM (1-based).
func simNumber(i int) string { return fmt.Sprintf("+491520000%04d", i) }

// startSMS builds the pool and starts a supervisor per modem. Simulated
// modems (modems.simulate) are named sim1, sim2 …
func (d *daemon) startSMS(ctx context.Context, sink smspool.Sink, inbox smspool.Inbox) (*smsStack, error) {
	mc := d.cfg.Modems
	s := &smsStack{modems: map[string]*modem.Modem{}}
	pacing := map[string]config.Pacing{}
	devices := append([]config.ModemDevice(nil), mc.Devices...)

	locate := map[string]func(context.Context) (string, error){}
	if mc.Simulate > 0 {
		s.sim = modemsim.NewNetwork()
		for i := 1; i <= mc.Simulate; i++ {
			m, err := s.sim.AddModem(ctx, modemsim.Config{
				Model:               "EC25",
				Number:              simNumber(i),
				SendLatency:         300 * time.Millisecond,
				SendJitter:          200 * time.Millisecond,
				DeliveryReportDelay: 2 * time.Second,
			})
			if err != nil {
				s.sim.Close()
				return nil, fmt.Errorf("simulated modem %d: %w", i, err)
			}
			name := "sim" + strconv.Itoa(i)
			devices = append(devices, config.ModemDevice{Name: name, Device: m.Path(), DeliveryReports: true})
			// The simulator's pty changes path when the modem reboots.
			locate[name] = func(context.Context) (string, error) {
				if p := m.Path(); p != "" {
					return p, nil
				}
				return "", modem.ErrOffline
			}
		}
		d.log.Info("simulated modems started", "count", mc.Simulate)
		if err := d.simulateMMS(s, devices); err != nil {
			s.sim.Close()
			return nil, err
		}
	}
	mmsSide, err := d.newMMSSide(devices, inbox, s)
	if err != nil {
		if s.sim != nil {
			s.sim.Close()
		}
		return nil, err
	}
	s.mms = mmsSide
	channels := d.cfg.Channels
	for _, dev := range devices {
		pacing[dev.Name] = dev.Pacing
	}
	d.applyPortalPacing(pacing)

	pool, err := smspool.New(smspool.Config{
		Store:      d.store,
		Channels:   channels,
		Pacing:     pacing,
		Location:   d.cfg.Location(),
		Logger:     d.log.With("component", "smspool"),
		Registerer: d.reg,
		Sink:       sink,
		Inbox:      inbox,
		Journal:    d.msglog,
		// Shared campaigns claim an item when a SIM takes it
		// (cluster_campaigns.go).
		BeforeTransmit: d.beforeTransmit,
	})
	if err != nil {
		if s.sim != nil {
			s.sim.Close()
		}
		return nil, err
	}
	s.pool = pool
	d.reg.MustRegister(newModemCollector(s))

	for _, dev := range devices {
		mcfg := modem.ConfigFor(mc, dev, s.inUse, d.log.With("component", "modem"))
		// Skip ahead of the saved reference: up to a minute of references
		// may have been used after the last save before a crash, and a SIM
		// sends far fewer than 64 long messages a minute.
		mcfg.ConcatRef = d.loadConcatRef(dev.Name) + 64
		mcfg.Hold = d.disk // inbound SMS stay on the SIM while the disk is almost full
		if l, ok := locate[dev.Name]; ok {
			mcfg.Locate = l
		}
		m := modem.New(mcfg, modem.Handlers{
			PDU:          pool.HandlePDU,
			StatusReport: pool.HandleStatusReport,
			State:        pool.HandleState,
			MMS:          s.mms.inbound,
		})
		s.mms.attach(dev.Name, m)
		s.mu.Lock()
		s.modems[dev.Name] = m
		s.mu.Unlock()
		if err := pool.Attach(m); err != nil {
			return nil, fmt.Errorf("modem %s: %w", dev.Name, err)
		}
		name := dev.Name
		d.component("modem "+name+" concat-ref", func(ctx context.Context) error {
			// Saved every minute and at the end, so a crash repeats at
			// most a minute's worth of references.
			t := time.NewTicker(time.Minute)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					d.saveConcatRef(name, m)
					return nil
				case <-t.C:
					d.saveConcatRef(name, m)
				}
			}
		})
		d.component("modem "+name, func(ctx context.Context) error {
			err := m.Run(ctx)
			if errors.Is(err, modem.ErrWrongPIN) || errors.Is(err, modem.ErrPUKLocked) || errors.Is(err, modem.ErrPINRequired) {
				return fmt.Errorf("modem %s needs the administrator: %w (set modems.devices[].pin or %s)", name, err, config.ModemPINEnv(name))
			}
			return err
		})
	}
	d.component("smspool", pool.Run)
	if mc.Discover {
		d.component("modem discovery", func(ctx context.Context) error { return d.discover(ctx, s, devices) })
	}
	return s, nil
}

// discover looks for known USB modems every poll interval and reports the
// ones no modems.devices entry uses (configured modems are bound by path
// or IMEI in their own supervisors).
func (d *daemon) discover(ctx context.Context, s *smsStack, devices []config.ModemDevice) error {
	configured := map[string]bool{}
	for _, dev := range devices {
		if dev.Device != "" {
			configured[dev.Device] = true
		}
	}
	reported := map[string]bool{}
	t := time.NewTicker(d.cfg.Modems.PollInterval)
	defer t.Stop()
	for {
		cands, err := modem.Discover(ctx)
		if err != nil {
			d.log.Debug("modem discovery", "err", err)
		}
		var found []modem.Candidate
		for _, c := range cands {
			if !c.ATPort || configured[c.Path] || s.inUse(c.Path) {
				continue
			}
			found = append(found, c)
			if !reported[c.Path] {
				reported[c.Path] = true
				d.log.Info("found a modem that is not configured; add it under modems.devices (by imei) to use it",
					"path", c.Path, "model", c.Model, "vid", c.VID, "pid", c.PID, "serial", c.Serial)
			}
		}
		s.mu.Lock()
		s.unconfigured = found
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *smsStack) unconfiguredModems() []modem.Candidate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]modem.Candidate(nil), s.unconfigured...)
}

// inUse reports whether a port is open by one of our modems, so IMEI
// discovery never writes to it.
func (s *smsStack) inUse(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.modems {
		if m.Info().Device == path {
			return true
		}
	}
	return false
}

func (s *smsStack) close() {
	if s.sim != nil {
		s.sim.Close()
	}
}

// modemView is one modem as the CLI, the portal and /metrics show it.
type modemView struct {
	Name  string      `json:"name"`
	State modem.State `json:"state"`
	Info  modem.Info  `json:"info"`
}

func (s *smsStack) modemViews() []modemView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]modemView, 0, len(s.modems))
	for name, m := range s.modems {
		out = append(out, modemView{Name: name, State: m.State(), Info: m.Info()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *smsStack) modem(name string) (*modem.Modem, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.modems[name]
	return m, ok
}

// The concatenation reference of long SMS must not repeat soon after a
// restart (a recipient's phone would mix two messages' parts), so each
// modem's last reference is kept in the store.
func concatRefKey(name string) string { return "modem/" + name + "/concat_ref" }

func (d *daemon) loadConcatRef(name string) uint8 {
	var ref uint8
	err := d.store.View(func(txn *store.Txn) error { return store.GetJSON(txn, concatRefKey(name), &ref) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		d.log.Warn("reading concatenation reference", "modem", name, "err", err)
	}
	return ref
}

func (d *daemon) saveConcatRef(name string, m *modem.Modem) {
	ref := m.LastConcatRef()
	if err := d.store.Update(func(txn *store.Txn) error { return store.SetJSON(txn, concatRefKey(name), ref) }); err != nil {
		d.log.Warn("saving concatenation reference", "modem", name, "err", err)
	}
}

// modemCollector exports each modem's state and signal at scrape time.
type modemCollector struct {
	s              *smsStack
	online, signal *prometheus.Desc
}

func newModemCollector(s *smsStack) *modemCollector {
	return &modemCollector{s: s,
		online: prometheus.NewDesc("pbxgate_modem_online",
			"1 when the modem is online (registered, answering), else 0.", []string{"modem", "state", "operator"}, nil),
		signal: prometheus.NewDesc("pbxgate_modem_signal_dbm",
			"Received signal strength of the modem in dBm.", []string{"modem"}, nil),
	}
}

func (c *modemCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.online
	ch <- c.signal
}

func (c *modemCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.s.modemViews() {
		up := 0.0
		if v.State == modem.StateOnline {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.online, prometheus.GaugeValue, up, v.Name, string(v.State), v.Info.Operator)
		if v.Info.SignalDBm != 0 {
			ch <- prometheus.MustNewConstMetric(c.signal, prometheus.GaugeValue, float64(v.Info.SignalDBm), v.Name)
		}
	}
}

// USSD runs a USSD code on the named modem (portal's USSD console).
func (s *smsStack) USSD(ctx context.Context, name, code string) (string, error) {
	m, ok := s.modem(name)
	if !ok {
		return "", fmt.Errorf("no modem named %q", name)
	}
	return m.USSD(ctx, code)
}
