package modemsim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"strings"
	"sync"
	"time"

	"github.com/warthog618/sms/encoding/tpdu"
)

// Network is a simulated carrier shared by simulated modems: it delivers
// what one modem sends to another modem's SIM number, holds messages for
// modems that cannot take them (hung, deregistered, storage full, port
// closed for routed delivery) and sends status reports.
type Network struct {
	log  *slog.Logger
	smsc string
	ussd map[string]string

	mu      sync.Mutex
	rng     *rand.Rand
	modems  []*Modem
	ref     byte
	serial  int
	timers  map[*time.Timer]struct{}
	closed  bool
	started time.Time
	mmsc    *MMSC // StartMMSC
}

// NetworkOption configures a Network.
type NetworkOption func(*Network)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) NetworkOption { return func(n *Network) { n.log = l } }

// WithSeed makes random choices (jitter, CMS error rolls, generated
// identities) reproducible.
func WithSeed(seed int64) NetworkOption {
	return func(n *Network) { n.rng = rand.New(rand.NewSource(seed)) }
}

// WithUSSD sets the network's answer to a USSD code (e.g. "*100#").
func WithUSSD(code, answer string) NetworkOption {
	return func(n *Network) { n.ussd[code] = answer }
}

// WithSMSC sets the service centre number modems report (AT+CSCA?).
func WithSMSC(number string) NetworkOption { return func(n *Network) { n.smsc = number } }

// NewNetwork creates an empty simulated network.
func NewNetwork(opts ...NetworkOption) *Network {
	n := &Network{
		log:  slog.New(slog.DiscardHandler),
		smsc: "+491710760000",
		ussd: map[string]string{
			"*100#": "Ihr Guthaben beträgt 12,34 EUR",
			"*101#": "Ihre Rufnummer: %NUMBER%",
		},
		rng:     rand.New(rand.NewSource(1)),
		timers:  map[*time.Timer]struct{}{},
		started: time.Now(),
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func (n *Network) ussdAnswer(code string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.ussd[code]
	return a, ok
}

// afterFunc runs f after d unless the network is closed first. The
// returned func cancels it.
func (n *Network) afterFunc(d time.Duration, f func()) (stop func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return func() {}
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		n.mu.Lock()
		_, live := n.timers[t]
		delete(n.timers, t)
		n.mu.Unlock()
		if live {
			f()
		}
	})
	n.timers[t] = struct{}{}
	return func() {
		if t.Stop() {
			n.mu.Lock()
			delete(n.timers, t)
			n.mu.Unlock()
		}
	}
}

// AddModem creates a modem and serves AT commands on a new pty until ctx
// ends or the modem (or network) is closed.
func (n *Network) AddModem(ctx context.Context, cfg Config) (*Modem, error) {
	mdl, err := lookupModel(cfg.Model)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	n.fillDefaultsLocked(&cfg)
	if err := n.checkUniqueLocked(cfg); err != nil {
		n.mu.Unlock()
		return nil, err
	}
	seed := n.rng.Int63()
	n.mu.Unlock()
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	m := &Modem{
		net:       n,
		cfg:       cfg,
		model:     mdl,
		log:       n.log.With("modem", cfg.IMEI),
		rebootReq: make(chan time.Duration, 1),
		resetReq:  make(chan bool, 1),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		pathCh:    make(chan struct{}),
		rng:       rand.New(rand.NewSource(seed)),
		mems:      map[string]*memory{},
		concat:    map[string]*SentSMS{},
		pin:       cfg.PIN,
		pinTries:  3,
		pukTries:  10,
	}
	for _, name := range mdl.memories {
		m.mems[name] = newMemory(name, cfg.StorageCapacity)
	}
	if cfg.PIN != "" {
		m.sim = simPIN
	}
	m.bootLocked()

	p, err := openPort()
	if err != nil {
		return nil, err
	}
	m.path = p.path
	if err := m.updateLink(p.path); err != nil {
		p.close()
		return nil, fmt.Errorf("modemsim: link %s -> %s: %w", cfg.Link, p.path, err)
	}
	mctx, cancel := context.WithCancel(ctx)
	m.cancel = cancel

	n.mu.Lock()
	err = ErrClosed
	if !n.closed {
		err = n.checkUniqueLocked(cfg) // again: AddModem may run concurrently
	}
	if err != nil {
		n.mu.Unlock()
		cancel()
		p.close()
		_ = m.updateLink("")
		return nil, err
	}
	n.modems = append(n.modems, m)
	n.mu.Unlock()

	go m.run(mctx, p)
	return m, nil
}

func (n *Network) checkUniqueLocked(cfg Config) error {
	for _, o := range n.modems {
		if o.cfg.IMEI == cfg.IMEI || sameNumber(o.cfg.Number, cfg.Number) {
			return fmt.Errorf("%w: number %s / IMEI %s", ErrDuplicate, cfg.Number, cfg.IMEI)
		}
	}
	return nil
}

// validate rejects identities a real SIM or modem cannot have.
func (cfg Config) validate() error {
	allDigits := func(s string) bool { return s != "" && digits(s) == s }
	switch {
	case !isDialable(cfg.Number):
		return fmt.Errorf("modemsim: number %q: use digits with an optional leading + (E.164, e.g. +4915112345678)", cfg.Number)
	case !allDigits(cfg.IMEI) || len(cfg.IMEI) < 14 || len(cfg.IMEI) > 16:
		return fmt.Errorf("modemsim: IMEI %q: use 15 digits", cfg.IMEI)
	case !allDigits(cfg.IMSI) || len(cfg.IMSI) < 6 || len(cfg.IMSI) > 15:
		return fmt.Errorf("modemsim: IMSI %q: use 6 to 15 digits (MCC, MNC, MSIN)", cfg.IMSI)
	case !allDigits(cfg.ICCID) || len(cfg.ICCID) < 18 || len(cfg.ICCID) > 20:
		return fmt.Errorf("modemsim: ICCID %q: use 18 to 20 digits", cfg.ICCID)
	case cfg.StorageCapacity > 255:
		return fmt.Errorf("modemsim: storage capacity %d: at most 255 slots per memory", cfg.StorageCapacity)
	case cfg.RSSI < 0 || (cfg.RSSI > 31 && cfg.RSSI != 99):
		return fmt.Errorf("modemsim: RSSI %d: use 0..31 or 99 (unknown)", cfg.RSSI)
	case cfg.PIN != "" && (!allDigits(cfg.PIN) || len(cfg.PIN) < 4 || len(cfg.PIN) > 8):
		return fmt.Errorf("modemsim: PIN %q: use 4 to 8 digits", cfg.PIN)
	}
	return nil
}

func (n *Network) fillDefaultsLocked(cfg *Config) {
	n.serial++
	k := n.serial
	if cfg.IMEI == "" {
		cfg.IMEI = luhn(fmt.Sprintf("86%06d%06d", 123456, k))
	}
	if cfg.ICCID == "" {
		cfg.ICCID = luhn(fmt.Sprintf("894902000%010d", k))
	}
	if cfg.IMSI == "" {
		cfg.IMSI = fmt.Sprintf("26201%010d", k)
	}
	if cfg.Number == "" {
		cfg.Number = fmt.Sprintf("+4915100%06d", k)
	}
	if cfg.Operator == "" {
		cfg.Operator = "Telekom.de"
	}
	if cfg.PUK == "" {
		cfg.PUK = "12345678"
	}
	if cfg.StorageCapacity <= 0 {
		cfg.StorageCapacity = 20
	}
	if cfg.ResetDowntime <= 0 {
		cfg.ResetDowntime = 200 * time.Millisecond
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.USSDDelay <= 0 {
		cfg.USSDDelay = 20 * time.Millisecond
	}
	if cfg.RSSI == 0 {
		cfg.RSSI = 20
	}
}

// luhn appends the Luhn check digit (IMEI, ICCID).
func luhn(digits string) string {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return digits + string(rune('0'+(10-sum%10)%10))
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func sameNumber(a, b string) bool {
	da, db := digits(a), digits(b)
	return da != "" && da == db
}

// run is the modem's life: serve the port, and on a reboot close it, wait,
// and come back on a new pty.
func (m *Modem) run(ctx context.Context, p *ptyPort) {
	defer close(m.done)
	defer m.net.remove(m) // a closed modem has no number on the network
	for booted := false; ; booted = true {
		down, reboot := m.serve(ctx, p, booted)
		p.close()
		if !reboot {
			m.mu.Lock()
			m.closed = true
			m.mu.Unlock()
			m.setPath("", false)
			return
		}
		m.mu.Lock()
		m.rebooting = true
		m.fault.Hang = false // a power cycle revives any hang
		m.mu.Unlock()
		m.setPath("", true)
		if !sleep(ctx, down) {
			m.mu.Lock()
			m.closed = true
			m.mu.Unlock()
			m.setPath("", false) // wake WaitPath callers
			return
		}
		np, err := openPort()
		if err != nil {
			m.log.Error("modemsim: cannot reopen pty after reboot", "err", err)
			m.mu.Lock()
			m.closed = true
			m.mu.Unlock()
			m.setPath("", false)
			return
		}
		p = np
		select {
		case <-m.rebootReq: // asked for while it was down: already done
		default:
		}
		m.mu.Lock()
		m.rebooting = false
		m.boots++
		m.bootLocked()
		m.mu.Unlock()
		m.setPath(p.path, true)
	}
}

func (n *Network) remove(m *Modem) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, o := range n.modems {
		if o == m {
			n.modems = append(n.modems[:i], n.modems[i+1:]...)
			return
		}
	}
}

// Modems returns the network's modems in the order they were added.
func (n *Network) Modems() []*Modem {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Modem(nil), n.modems...)
}

// ModemByNumber finds the modem whose SIM has number.
func (n *Network) ModemByNumber(number string) *Modem {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.modems {
		if sameNumber(m.cfg.Number, number) {
			return m
		}
	}
	return nil
}

// ModemByIMEI finds a modem by IMEI.
func (n *Network) ModemByIMEI(imei string) *Modem {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.modems {
		if m.cfg.IMEI == imei {
			return m
		}
	}
	return nil
}

// Close stops every modem and pending timer.
func (n *Network) Close() error {
	n.mu.Lock()
	n.closed = true
	for t := range n.timers {
		t.Stop()
	}
	n.timers = map[*time.Timer]struct{}{}
	ms := append([]*Modem(nil), n.modems...)
	mmsc := n.mmsc
	n.mu.Unlock()
	for _, m := range ms {
		m.Close()
	}
	if mmsc != nil {
		_ = mmsc.Close()
	}
	return nil
}

// InboundSMS is a message from outside the simulated network.
type InboundSMS struct {
	From string `json:"from"` // number ("+49…") or alphanumeric sender
	Text string `json:"text"`
	// UCS2 forces UCS-2 even when GSM-7 would do.
	UCS2 bool `json:"ucs2,omitempty"`
	// Parts forces a split into exactly this many concatenated parts
	// (0: as few as needed).
	Parts int `json:"parts,omitempty"`
	// Order is the delivery order of the parts by 0-based index, e.g.
	// [2,0,1]; empty means all in order. Parts left out are not delivered:
	// send them with a second Inject of the same text and Ref, e.g. to
	// split a message across a driver restart.
	Order []int `json:"order,omitempty"`
	// Ref is the concatenation reference (1..255); 0 lets the network pick.
	Ref int `json:"ref,omitempty"`
	// Class0 marks a flash message (DCS class 0).
	Class0 bool `json:"class0,omitempty"`
	// Time is the service centre time stamp (default now).
	Time time.Time `json:"time,omitempty"`
}

// Inject delivers a message from outside to the modem whose number is to.
// It returns once the network holds the parts; the modem takes them when
// it can.
func (n *Network) Inject(ctx context.Context, to string, msg InboundSMS) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if msg.From == "" {
		return fmt.Errorf("modemsim: inbound SMS needs a sender (from)")
	}
	m := n.ModemByNumber(to)
	if m == nil {
		return fmt.Errorf("%w: %q", ErrUnknownNumber, to)
	}
	if msg.Ref < 0 || msg.Ref > 255 {
		return fmt.Errorf("modemsim: ref %d: a concatenation reference is 1..255", msg.Ref)
	}
	ref := byte(msg.Ref)
	if ref == 0 {
		n.mu.Lock()
		n.ref++
		if n.ref == 0 {
			n.ref++
		}
		ref = n.ref
		n.mu.Unlock()
	}
	scts := msg.Time
	if scts.IsZero() {
		scts = time.Now()
	}
	ts, err := encodeDeliver(deliverSpec{from: msg.From, text: msg.Text, ucs2: msg.UCS2, parts: msg.Parts,
		class0: msg.Class0, ref: ref, scts: scts})
	if err != nil {
		return err
	}
	order, err := deliveryOrder(msg.Order, len(ts))
	if err != nil {
		return err
	}
	parts := make([]*pendingPart, 0, len(ts))
	for _, i := range order {
		parts = append(parts, &pendingPart{pdu: ts[i]})
	}
	return m.enqueue(parts...)
}

func deliveryOrder(order []int, n int) ([]int, error) {
	if len(order) == 0 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	seen := make([]bool, n)
	for _, i := range order {
		if i < 0 || i >= n || seen[i] {
			return nil, fmt.Errorf("modemsim: order %v: part indices must be distinct and within 0..%d", order, n-1)
		}
		seen[i] = true
	}
	return order, nil
}

// routeSubmit carries a part a modem sent: to another simulated SIM as
// SMS-DELIVER, and back to the sender as a status report when requested.
func (n *Network) routeSubmit(from *Modem, t *tpdu.TPDU, mr int, at time.Time) {
	to := t.DA.Number()
	delay := from.cfg.DeliveryReportDelay
	var report func()
	if t.FirstOctet.SRR() {
		report = func() {
			n.afterFunc(delay, func() {
				st := from.Fault().ReportStatus
				sr, err := statusReport(byte(mr), to, at, time.Now(), st)
				if err != nil {
					n.log.Error("modemsim: status report", "err", err)
					return
				}
				_ = from.enqueue(&pendingPart{pdu: sr, report: true})
			})
		}
	}
	target := n.ModemByNumber(to)
	if target == nil {
		if report != nil {
			report()
		}
		return
	}
	d, err := deliverFromSubmit(t, from.cfg.Number, at)
	if err != nil {
		n.log.Error("modemsim: cannot build DELIVER", "err", err)
		return
	}
	_ = target.enqueue(&pendingPart{pdu: d, accepted: report})
}
