package modemsim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/warthog618/sms/encoding/tpdu"
)

// Config describes one simulated modem and its SIM. Zero values get
// defaults that look like a real device on a German network.
type Config struct {
	// Model selects identity strings and dialect: "EC25" (default),
	// "SIM7600", "E3372", "SIM800".
	Model string
	// Identity. Number is the SIM's own E.164 number; the network delivers
	// SMS addressed to it. Empty values are generated.
	IMEI, ICCID, IMSI, Number, Operator string
	// PIN: empty means no PIN is required; otherwise AT+CPIN? answers
	// "SIM PIN" until it is entered and three wrong tries lock to "SIM PUK".
	PIN string
	// PUK unlocks a PUK-locked SIM (default "12345678"); ten wrong PUKs
	// block the SIM for good.
	PUK string
	// StorageCapacity is the number of slots of each memory (SM, ME, SR),
	// default 20.
	StorageCapacity int
	// SendLatency and SendJitter shape the +CMGS answer delay: latency plus
	// a uniform random part in [0, jitter).
	SendLatency, SendJitter time.Duration
	// DeliveryReportDelay is how long after a part reached its recipient a
	// requested status report arrives.
	DeliveryReportDelay time.Duration
	// RegistrationDelay is how long the modem searches (+CREG stat 2)
	// after boot, PIN entry or AT+CFUN=1 before it is registered.
	RegistrationDelay time.Duration
	// ResetDowntime is how long the port is gone after AT+CFUN=1,1
	// (default 200ms; real modems take 10-20s).
	ResetDowntime time.Duration
	// AckTimeout applies with AT+CSMS=1: a routed +CMT/+CDS must be
	// acknowledged with AT+CNMA within it (default 10s). Otherwise, as
	// 27.005 prescribes, the network gets an error and retries later and the
	// modem turns routing off (AT+CNMI <mt> and <ds> become 0).
	AckTimeout time.Duration
	// RetryDelay is how long the network waits before it delivers again a
	// message or report the TE refused with AT+CNMA=2 (RP-ERROR); default
	// 1s. (One left unacknowledged past AckTimeout is offered again at
	// once, to a modem that has switched routing off.)
	RetryDelay time.Duration
	// USSDDelay is the gap between OK and the +CUSD answer (default 20ms).
	USSDDelay time.Duration
	// CNMI overrides the model's power-on AT+CNMI setting.
	CNMI *[5]int
	// CNMIDS lists the <ds> values AT+CNMI takes (3GPP TS 27.005 §3.4.1
	// lets a modem support a subset; AT+CNMI=? shows it); others get
	// +CMS ERROR: 303. Empty means 0, 1 and 2.
	CNMIDS []int
	// StoreReportsUnannounced: with <ds>=0 status reports are still stored
	// (in the model's status memory) but not announced, as some firmware
	// does; without it they are discarded.
	StoreReportsUnannounced bool
	// UnlistedSR: AT+CPMS=? does not list "SR" although status reports are
	// stored there, announced as +CDSI: "SR",<index>, and AT+CPMS="SR"
	// selects it.
	UnlistedSR bool
	// RSSI is the +CSQ signal value (0..31, 99 unknown); 0 means 20.
	RSSI int
	// BootURCs makes the modem print its firmware's start-up lines ("RDY",
	// "+CPIN: READY", "SMS DONE" …) to the first opener after a reboot, as
	// real modems do to a driver that reopens the port quickly.
	BootURCs bool
	// PeriodicURCInterval paces the status lines some firmware repeats on
	// its own (E3372 "^RSSI: n" until AT^CURC=0); 0 means 5s, negative off.
	PeriodicURCInterval time.Duration
	// Link, when set, is kept as a symlink to the current pty and removed
	// while the port is gone, like udev's /dev/serial/by-id/ names: a path
	// a driver can be configured with that survives reboots.
	Link string
	// OnPathChange, when set, is called with the new pty path after the port
	// vanished ("" ) and when it came back.
	OnPathChange func(path string)
}

// HangMode says what brings a hung modem back.
type HangMode string

// Hang modes.
const (
	// HangUntilReset: no answers, but AT+CFUN=1,1 is still taken (OK, reboot).
	HangUntilReset HangMode = "reset"
	// HangUntilReopen: nothing answers; closing and reopening the port
	// (what a driver does after re-enumeration) or Reboot recovers it.
	HangUntilReopen HangMode = "reopen"
	// HangUntilReplug: only Reboot (someone pulls the stick) recovers it.
	HangUntilReplug HangMode = "replug"
)

// Fault is run-time misbehaviour. The zero Fault is a healthy modem.
type Fault struct {
	// Hang stops the modem answering AT commands; see HangMode. A recovered
	// hang clears Hang.
	Hang     bool     `json:"hang,omitempty"`
	HangMode HangMode `json:"hang_mode,omitempty"`
	// CMSErrors maps a +CMS ERROR code to the probability that a send fails
	// with it (e.g. 38 network out of order, 21 rejected, 28 unidentified
	// subscriber, 500 unknown).
	CMSErrors map[int]float64 `json:"cms_errors,omitempty"`
	// Deregistered: +CREG/+CEREG stat 2 (searching), no operator, sends fail
	// with +CMS ERROR: 331 and nothing is received until it is cleared.
	Deregistered bool `json:"deregistered,omitempty"`
	// StorageFull: inbound messages are not stored; the network keeps them
	// and delivers when the fault is cleared.
	StorageFull bool `json:"storage_full,omitempty"`
	// URCMidCommand holds unsolicited lines back and emits them in the middle
	// of the next command response (after its first info line or before its
	// result code). MidCommandURC is an extra line emitted there every time
	// (e.g. "RING"); empty means only real pending URCs.
	URCMidCommand bool   `json:"urc_mid_command,omitempty"`
	MidCommandURC string `json:"mid_command_urc,omitempty"`
	// RouteDirect delivers inbound SMS as +CMT whatever AT+CNMI says.
	RouteDirect bool `json:"route_direct,omitempty"`
	// NoSIM: the SIM is missing (+CME ERROR: 10, +CMS ERROR: 310, not
	// registered).
	NoSIM bool `json:"no_sim,omitempty"`
	// NoPrompt: AT+CMGS gets neither the "> " prompt nor an error (a stuck
	// SMS stack); every other command still answers. ESC ends the wait.
	NoPrompt bool `json:"no_prompt,omitempty"`
	// HangAfterPDU: the next message typed after the prompt goes out, but
	// the modem hangs before answering +CMGS (Hang with HangMode from then
	// on). It clears itself once it has struck.
	HangAfterPDU bool `json:"hang_after_pdu,omitempty"`
	// RefuseMemories: AT+CPMS selecting one of these memories fails with
	// +CMS ERROR: 302 (e.g. the SIM is busy) while the fault lasts.
	RefuseMemories []string `json:"refuse_memories,omitempty"`
	// ReportStatus is the TP-ST of status reports for this modem's sends:
	// 0 delivered (default), e.g. 0x41 (65) incompatible destination or
	// 0x46 (70) validity period expired for permanent failures.
	ReportStatus uint8 `json:"report_status,omitempty"`
}

// SentPart is one SMS-SUBMIT a modem accepted.
type SentPart struct {
	MR                    int       `json:"mr"`
	ConcatRef             int       `json:"concat_ref,omitempty"`
	Seq                   int       `json:"seq"`
	Total                 int       `json:"total"`
	Encoding              Encoding  `json:"encoding"`
	StatusReportRequested bool      `json:"status_report_requested"`
	Text                  string    `json:"text"`
	PDU                   string    `json:"pdu"` // TPDU hex
	Time                  time.Time `json:"time"`
}

// SentSMS is a message a modem sent, reassembled from its parts.
type SentSMS struct {
	To       string     `json:"to"`
	Text     string     `json:"text"`
	Complete bool       `json:"complete"`
	Parts    []SentPart `json:"parts"` // ordered by Seq
	Time     time.Time  `json:"time"`  // first part
	// Duplicates are parts sent again while the message was incomplete
	// (same recipient, reference and sequence number): a driver bug or a
	// retry after a lost +CMGS answer.
	Duplicates []SentPart `json:"duplicates,omitempty"`
}

// Modem states reported by Status.
const (
	StateOnline       = "online"
	StateHung         = "hung"
	StateRebooting    = "rebooting"
	StateDeregistered = "deregistered"
	StatePINRequired  = "pin-required"
	StatePUKRequired  = "puk-required"
	StateSIMBlocked   = "sim-blocked"
	StateNoSIM        = "no-sim"
	StateClosed       = "closed"
)

// Errors.
var (
	ErrClosed        = errors.New("modemsim: modem closed")
	ErrUnknownNumber = errors.New("modemsim: no simulated modem has this number")
	ErrDuplicate     = errors.New("modemsim: number or IMEI already in use")
)

type simState int

const (
	simReady simState = iota
	simPIN
	simPUK
	simBlocked
)

// pendingPart is an SMS-DELIVER or status report the network holds for a
// modem until it can take it.
type pendingPart struct {
	pdu      *tpdu.TPDU
	report   bool
	accepted func() // called (outside locks) once the modem took it
	// hex and hexLen are the PDU as the modem shows it, encoded once:
	// a part may wait through many delivery passes (the SIM's memory
	// full), and encoding it on each pass made the simulator, not the
	// gateway, the bottleneck of long runs.
	hex    string
	hexLen int
	// stopAck cancels the AT+CNMA timer of a routed part (nil: none).
	stopAck func()
}

// encoded is p's PDU in hex with its TPDU length (pduHex), encoded on
// first use.
func (p *pendingPart) encoded(smsc string) (string, int, error) {
	if p.hex == "" {
		h, l, err := pduHex(smsc, p.pdu)
		if err != nil {
			return "", 0, err
		}
		p.hex, p.hexLen = h, l
	}
	return p.hex, p.hexLen, nil
}

// Modem is a simulated modem serving AT commands on a pty.
type Modem struct {
	net   *Network
	cfg   Config
	model model
	log   *slog.Logger

	rebootReq chan time.Duration
	resetReq  chan bool
	wake      chan struct{}
	cancel    context.CancelFunc
	done      chan struct{}

	mu        sync.Mutex
	path      string
	pathCh    chan struct{}
	attached  func() bool
	closed    bool
	rebooting bool
	boots     int
	rng       *rand.Rand

	// AT session settings (reset on boot)
	echo, verbose bool
	cmee, cmgf    int
	cscs          string
	cnmi          [5]int
	mem           [3]string
	csms          int
	creg, cereg   int
	cfun          int
	lastReg       int
	cusd          int
	curc          bool // periodic status URCs on (Huawei ^CURC)
	cmms          int
	searchUntil   time.Time      // registered only from then on
	unacked       []*pendingPart // routed +CMT/+CDS awaiting AT+CNMA (AT+CSMS=1)

	sim      simState
	pin      string
	pinTries int
	pukTries int

	mems    map[string]*memory
	pending []*pendingPart
	urcs    []string

	sent   []*SentSMS
	concat map[string]*SentSMS
	mr     int

	fault Fault

	mms mmsState // MMS settings, message being edited, uploaded files (mms.go)
}

// Path is the pty slave a driver opens ("" while the modem reboots).
func (m *Modem) Path() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.path
}

// PathChanged returns a channel closed at the next change of Path.
func (m *Modem) PathChanged() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pathCh
}

// WaitPath waits until Path is neither "" nor old and returns it. After a
// reboot the kernel may hand out the same /dev/pts number again (when no
// one held the old one open): use WaitBoot to wait for the reboot itself.
func (m *Modem) WaitPath(ctx context.Context, old string) (string, error) {
	return m.wait(ctx, func() bool { return m.path != "" && m.path != old })
}

// Boots is the number of completed reboots (AT+CFUN=1,1, Reboot).
func (m *Modem) Boots() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.boots
}

// WaitBoot waits until more than boots reboots completed and the port is
// back, and returns its path:
//
//	b := m.Boots(); m.Reboot(time.Second); path, err := m.WaitBoot(ctx, b)
func (m *Modem) WaitBoot(ctx context.Context, boots int) (string, error) {
	return m.wait(ctx, func() bool { return m.boots > boots && m.path != "" })
}

func (m *Modem) wait(ctx context.Context, done func() bool) (string, error) {
	for {
		m.mu.Lock()
		ok, p, ch, closed := done(), m.path, m.pathCh, m.closed
		m.mu.Unlock()
		if ok {
			return p, nil
		}
		if closed {
			return "", ErrClosed
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-ch:
		}
	}
}

// setPath publishes a new path; notify calls Config.OnPathChange (not done
// for the final close, which is no path change a user waits for).
func (m *Modem) setPath(p string, notify bool) {
	if err := m.updateLink(p); err != nil {
		m.log.Error("modemsim: cannot update the stable link", "link", m.cfg.Link, "err", err)
	}
	m.mu.Lock()
	m.path = p
	close(m.pathCh)
	m.pathCh = make(chan struct{})
	cb := m.cfg.OnPathChange
	m.mu.Unlock()
	if cb != nil && notify {
		cb(p)
	}
}

// updateLink points Config.Link at the pty (like a udev
// /dev/serial/by-id/ name) or removes it while the port is gone.
func (m *Modem) updateLink(p string) error {
	if m.cfg.Link == "" {
		return nil
	}
	if err := os.Remove(m.cfg.Link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if p == "" {
		return nil
	}
	return os.Symlink(p, m.cfg.Link)
}

// Link is Config.Link: a path that stays the same across reboots.
func (m *Modem) Link() string { return m.cfg.Link }

// Number is the SIM's own number.
func (m *Modem) Number() string { return m.cfg.Number }

// IMEI is the modem's IMEI.
func (m *Modem) IMEI() string { return m.cfg.IMEI }

// ICCID is the SIM's ICCID.
func (m *Modem) ICCID() string { return m.cfg.ICCID }

// IMSI is the SIM's IMSI.
func (m *Modem) IMSI() string { return m.cfg.IMSI }

// Model is the simulated model name.
func (m *Modem) Model() string { return m.model.name }

// Sent returns copies of the messages this modem sent, oldest first.
func (m *Modem) Sent() []SentSMS {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SentSMS, len(m.sent))
	for i, s := range m.sent {
		out[i] = *s
		out[i].Parts = append([]SentPart(nil), s.Parts...)
		out[i].Duplicates = append([]SentPart(nil), s.Duplicates...)
	}
	return out
}

// SetFault replaces the modem's faults.
func (m *Modem) SetFault(f Fault) {
	if f.Hang && f.HangMode == "" {
		f.HangMode = HangUntilReset
	}
	m.mu.Lock()
	m.fault = f
	m.fault.RefuseMemories = slices.Clone(f.RefuseMemories)
	if f.CMSErrors != nil {
		m.fault.CMSErrors = make(map[int]float64, len(f.CMSErrors))
		for k, v := range f.CMSErrors {
			m.fault.CMSErrors[k] = v
		}
	}
	m.mu.Unlock()
	m.kick()
}

// Fault returns the current faults.
func (m *Modem) Fault() Fault {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fault
}

// Reboot makes the port vanish (pty closed, path gone) for downFor and
// come back, usually under a new path. It also recovers any hang.
func (m *Modem) Reboot(downFor time.Duration) {
	select {
	case m.rebootReq <- downFor:
	default: // a reboot is already on its way
	}
}

// SilentReset restarts the firmware behind an open port, as a brown-out or
// watchdog does on a UART board: every setting returns to its power-on
// value (echo on, AT+CMEE=0, indications off, storage SM, a PIN-protected
// SIM asks for its PIN again) while the port and its path stay. announce
// prints the model's start-up lines ("RDY", "+CPIN: READY" …); without it
// the reset is silent. Stored messages stay.
func (m *Modem) SilentReset(announce bool) {
	select {
	case m.resetReq <- announce:
	default: // one is already on its way
	}
}

// Close stops the modem and removes its port. Stored messages are lost.
func (m *Modem) Close() error {
	m.cancel()
	<-m.done
	m.net.remove(m)
	return nil
}

// MemoryUse is the occupancy of one message memory.
type MemoryUse struct {
	Used  int `json:"used"`
	Total int `json:"total"`
}

// Status is a snapshot of a modem for the control API.
type Status struct {
	IMEI     string               `json:"imei"`
	ICCID    string               `json:"iccid"`
	IMSI     string               `json:"imsi"`
	Number   string               `json:"number"`
	Model    string               `json:"model"`
	Operator string               `json:"operator"`
	Path     string               `json:"path"`
	State    string               `json:"state"`
	Attached bool                 `json:"attached"` // a driver has the port open
	Storage  map[string]MemoryUse `json:"storage"`
	Pending  int                  `json:"pending"` // held by the network
	Sent     int                  `json:"sent"`
	Fault    Fault                `json:"fault"`
}

// Status returns a snapshot of identity, state and storage use.
func (m *Modem) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{
		IMEI: m.cfg.IMEI, ICCID: m.cfg.ICCID, IMSI: m.cfg.IMSI, Number: m.cfg.Number,
		Model: m.model.name, Operator: m.cfg.Operator, Path: m.path, State: m.stateLocked(),
		Storage: map[string]MemoryUse{}, Pending: len(m.pending), Sent: len(m.sent), Fault: m.fault,
	}
	if m.attached != nil {
		st.Attached = m.attached()
	}
	for name, mem := range m.mems {
		st.Storage[name] = MemoryUse{Used: mem.used(), Total: mem.total()}
	}
	return st
}

func (m *Modem) stateLocked() string {
	switch {
	case m.closed:
		return StateClosed
	case m.rebooting:
		return StateRebooting
	case m.fault.Hang:
		return StateHung
	case m.fault.NoSIM:
		return StateNoSIM
	case m.sim == simPIN:
		return StatePINRequired
	case m.sim == simPUK:
		return StatePUKRequired
	case m.sim == simBlocked:
		return StateSIMBlocked
	case !m.registeredLocked():
		return StateDeregistered
	}
	return StateOnline
}

func (m *Modem) registeredLocked() bool {
	return m.cfun == 1 && m.sim == simReady && !m.fault.NoSIM && !m.fault.Deregistered && !time.Now().Before(m.searchUntil)
}

// startSearchLocked begins a network search that takes
// Config.RegistrationDelay (after boot, PIN entry, AT+CFUN=1).
func (m *Modem) startSearchLocked() {
	if m.cfg.RegistrationDelay <= 0 {
		return
	}
	m.searchUntil = time.Now().Add(m.cfg.RegistrationDelay)
	m.net.afterFunc(m.cfg.RegistrationDelay, m.kick) // announce +CREG, deliver what waits
}

// regStatLocked is the <stat> of +CREG/+CEREG.
func (m *Modem) regStatLocked() int {
	switch {
	case m.registeredLocked():
		return 1
	case m.cfun == 1 && m.sim == simReady && !m.fault.NoSIM:
		return 2 // searching
	}
	return 0
}

func (m *Modem) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// bootLocked puts the session state to power-on values.
func (m *Modem) bootLocked() {
	m.echo, m.verbose = true, true
	m.cmee, m.cmgf, m.csms = 0, 0, 0
	m.cscs = "GSM"
	m.cnmi = m.model.cnmiDefault
	if m.cfg.CNMI != nil {
		m.cnmi = *m.cfg.CNMI
	}
	m.mem = [3]string{"SM", "SM", "SM"}
	m.creg, m.cereg = 0, 0
	m.cfun = 1
	m.curc = true
	m.cmms = 0
	m.urcs = nil
	if m.sim == simReady && m.pin != "" {
		m.sim = simPIN
	}
	m.startSearchLocked()
	m.lastReg = m.regStatLocked()
}

// enqueue hands parts to the modem; they are delivered when it can take them.
func (m *Modem) enqueue(parts ...*pendingPart) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.pending = append(m.pending, parts...)
	m.mu.Unlock()
	m.kick()
	return nil
}

// recordSent files a submitted part under its message, reassembling
// concatenated messages by (recipient, reference, total).
func (m *Modem) recordSentLocked(to string, t *tpdu.TPDU, mr int, pduHex string, now time.Time) {
	part := SentPart{
		MR: mr, Seq: 1, Total: 1, Encoding: encodingOf(t),
		StatusReportRequested: t.FirstOctet.SRR(), Text: textOf(t), PDU: pduHex, Time: now,
	}
	total, seq, ref, ok := t.UDH.ConcatInfo()
	if !ok || total <= 1 {
		m.sent = append(m.sent, &SentSMS{To: to, Text: part.Text, Complete: true, Parts: []SentPart{part}, Time: now})
		return
	}
	part.ConcatRef, part.Seq, part.Total = ref, seq, total
	key := fmt.Sprintf("%s/%d/%d", to, ref, total)
	msg := m.concat[key]
	if msg == nil {
		msg = &SentSMS{To: to, Time: now}
		m.concat[key] = msg
		m.sent = append(m.sent, msg)
	}
	for _, p := range msg.Parts {
		if p.Seq == seq {
			msg.Duplicates = append(msg.Duplicates, part)
			return
		}
	}
	msg.Parts = append(msg.Parts, part)
	sort.SliceStable(msg.Parts, func(i, j int) bool { return msg.Parts[i].Seq < msg.Parts[j].Seq })
	if len(msg.Parts) == total {
		delete(m.concat, key) // the reference may be reused by a later message
		msg.Complete = true
		segs := make([]*tpdu.TPDU, 0, total)
		for _, p := range msg.Parts {
			if t, err := decodeTPDUHex(p.PDU); err == nil {
				segs = append(segs, t)
			}
		}
		msg.Text = textOf(segs...)
		return
	}
	msg.Text = ""
	for _, p := range msg.Parts {
		msg.Text += p.Text
	}
}

// StoredSMS is one occupied slot of a modem's message memory.
type StoredSMS struct {
	Memory string `json:"memory"`
	Index  int    `json:"index"` // as AT+CMGR takes it
	Status string `json:"status"`
	Type   string `json:"type"` // "deliver" or "status-report"
	From   string `json:"from,omitempty"`
	Text   string `json:"text,omitempty"`
	// Concatenation info of a part of a long message.
	ConcatRef int `json:"concat_ref,omitempty"`
	Seq       int `json:"seq,omitempty"`
	Total     int `json:"total,omitempty"`
	// Status report fields.
	MR        int    `json:"mr,omitempty"`
	Recipient string `json:"recipient,omitempty"`
	ST        int    `json:"st,omitempty"`
}

// Stored lists the messages in the modem's memories (SM, ME, SR).
func (m *Modem) Stored() []StoredSMS {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StoredSMS
	for _, name := range m.model.memories {
		for slot, st := range m.mems[name].slots {
			if st == nil {
				continue
			}
			e := StoredSMS{Memory: name, Index: slot + m.model.firstIndex, Status: statText[st.stat]}
			t := st.pdu
			if t.SmsType() == tpdu.SmsStatusReport {
				e.Type, e.MR, e.Recipient, e.ST = "status-report", int(t.MR), t.RA.Number(), int(t.ST)
			} else {
				e.Type, e.From, e.Text = "deliver", t.OA.Number(), textOf(t)
				if total, seq, ref, ok := t.UDH.ConcatInfo(); ok {
					e.ConcatRef, e.Seq, e.Total = ref, seq, total
				}
			}
			out = append(out, e)
		}
	}
	return out
}
