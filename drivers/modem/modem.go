// Package modem drives one USB (or UART) GSM/LTE modem over AT commands:
// initialisation (PIN, registration, PDU mode, storage, indications),
// sending SMS in PDU mode with fresh concatenation references, receiving
// routed (+CMT) and stored (+CMTI, AT+CMGL) messages and delivery reports,
// USSD, signal/operator polling, recovery of hung or unplugged modems and
// of modems that restarted by themselves (their start-up lines, echo back
// on, or a probe of settings only pbxgate makes), and an AT trace.
//
// It is built on warthog618/modem's at package over a port opened with
// go.bug.st/serial, working around that package's quirks: unsolicited lines
// leaking into command replies are filtered out, and indications (which
// it hands to handlers on goroutines, in no order) are queued and processed
// one at a time by Run.
package modem

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxgate/pbxgate/gateway/sms"
)

// Config configures one modem.
type Config struct {
	// Name is the configured modem name (modems.devices[].name); it is
	// passed to every handler.
	Name string
	// Device is the AT port, e.g. /dev/ttyUSB2 or a udev symlink.
	Device string
	// Locate, when set, finds the current AT port before every (re)open,
	// e.g. by IMEI through Discover after the modem re-enumerated under a
	// new ttyUSB number. It overrides Device.
	Locate func(ctx context.Context) (string, error)
	// IMEI, when set, is the modem expected on the port: a port answering
	// with another IMEI (the ttyUSB numbers moved) is closed again with
	// ErrWrongModem, and Locate is asked again on the next attempt.
	IMEI string
	// Baud is the UART speed (default 115200; USB modems ignore it).
	Baud int
	// FlowControl of a UART: FlowNone (default) or FlowRTSCTS.
	FlowControl string
	// OpenPort opens the port (default OpenPort, go.bug.st/serial).
	OpenPort PortOpener
	// InitCommands run (each must answer OK) after pbxgate's own settings
	// at every initialisation, also after a reset, e.g. "AT+IFC=2,2".
	InitCommands []string
	// ResetCommand restarts a modem that stopped answering (default
	// "AT+CFUN=1,1").
	ResetCommand string
	// PIN is entered when the SIM asks for one. A PIN the SIM rejects is
	// never entered again by this Modem.
	PIN string
	// CommandTimeout bounds every AT command (default 10s). A command that
	// does not answer in time starts recovery.
	CommandTimeout time.Duration
	// InitTimeout bounds initialisation including waiting for network
	// registration (default 90s).
	InitTimeout time.Duration
	// SendTimeout bounds one AT+CMGS (one part) from the command to the
	// modem's answer, and a USSD answer (default 60s, at least
	// CommandTimeout). The "> " prompt must come within CommandTimeout:
	// without it the message was not sent and the send fails at once
	// (ErrNotSent); a timeout after the PDU was written leaves it unknown
	// (SendError.MaybeSent).
	SendTimeout time.Duration
	// PollInterval paces signal, registration and operator polling
	// (default 30s).
	PollInterval time.Duration
	// DrainInterval paces reading messages left in storage with AT+CMGL
	// (default 5m). Messages announced by +CMTI are read at once.
	DrainInterval time.Duration
	// Hold, when set, can keep received messages on the SIM (hold.go).
	Hold Hold
	// ReopenBackoff is the first delay between attempts to reopen a
	// vanished port; it doubles up to MaxReopenBackoff (defaults 1s, 30s).
	ReopenBackoff, MaxReopenBackoff time.Duration
	// DeliveryReports makes the modem store delivery reports and announce
	// them (+CDSI); otherwise the network's reports are not requested from
	// the modem's side. Send's statusReport asks the network per message.
	DeliveryReports bool
	// RouteDirect asks the modem to hand over SMS and reports directly
	// (+CMT/+CDS, acknowledged with AT+CNMA once stored) instead of storing
	// them first (+CMTI/+CDSI). Storing is the default: it survives a
	// crash between reception and processing.
	RouteDirect bool
	// StoredReports keeps delivery reports in the modem's storage (+CDSI,
	// then AT+CMGR and AT+CMGD) also on Quectel and SIM800 modems, whose
	// reports are otherwise routed (+CDS, acknowledged with AT+CNMA once
	// stored: one command per report instead of two). README.md,
	// "Delivery reports", says what each way risks.
	StoredReports bool
	// TraceLines is how many lines of the AT trace (both ways) are kept
	// for Trace (default 200).
	TraceLines int
	// ConcatRef seeds the concatenation reference (persist LastConcatRef).
	ConcatRef uint8
	Logger    *slog.Logger
}

func (c *Config) defaults() {
	if c.Baud == 0 {
		c.Baud = 115200
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 10 * time.Second
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = 90 * time.Second
	}
	if c.InitTimeout < c.CommandTimeout {
		c.InitTimeout = c.CommandTimeout
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 60 * time.Second
	}
	if c.SendTimeout < c.CommandTimeout {
		c.SendTimeout = c.CommandTimeout
	}
	if c.ResetCommand == "" {
		c.ResetCommand = "AT+CFUN=1,1"
	}
	if c.FlowControl == "" {
		c.FlowControl = FlowNone
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.DrainInterval <= 0 {
		c.DrainInterval = 5 * time.Minute
	}
	if c.ReopenBackoff <= 0 {
		c.ReopenBackoff = time.Second
	}
	if c.MaxReopenBackoff < c.ReopenBackoff {
		c.MaxReopenBackoff = max(30*time.Second, c.ReopenBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Handlers receive what the modem gets. They are called from Run's
// goroutine, one at a time.
type Handlers struct {
	// PDU receives every SMS-DELIVER (raw TPDU, SMSC address removed; decode
	// with sms.DecodeDeliver). The message is deleted from the modem (or
	// acknowledged with AT+CNMA) only after PDU returned nil, so return nil
	// only once it is stored. A nil PDU leaves messages on the modem.
	PDU func(ctx context.Context, modem string, pdu []byte) error
	// StatusReport receives delivery reports; same contract as PDU. A nil
	// StatusReport discards them.
	StatusReport func(ctx context.Context, modem string, sr sms.StatusReport) error
	// State is told about every state change. It must not block and may
	// be called from several goroutines.
	State func(modem string, s State)
	// MMS receives MMS notifications (WAP push) and, where the modem can
	// fetch them, their content; same contract as PDU. A nil MMS hands
	// the push SMS to PDU like any other message.
	MMS func(ctx context.Context, modem string, in InboundMMS) error
}

// State of a modem.
type State string

// States.
const (
	StateOffline     State = "offline"      // port closed or gone; reopening
	StateRegistering State = "registering"  // initialising or waiting for the network
	StateOnline      State = "online"       // ready to send
	StateNoSIM       State = "no_sim"       // no SIM or SIM failure
	StatePINRequired State = "pin_required" // PIN missing or wrong: fix the config
	StatePUKLocked   State = "puk_locked"   // SIM needs its PUK
	StateHung        State = "hung"         // a command timed out; re-initialising
	StateResetting   State = "resetting"    // AT+CFUN=1,1 sent; waiting for the port
	StateClosed      State = "closed"       // Close was called
)

// Info is what the modem and its SIM tell about themselves.
type Info struct {
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Firmware     string `json:"firmware"`
	IMEI         string `json:"imei"`
	ICCID        string `json:"iccid"`
	IMSI         string `json:"imsi"`
	Number       string `json:"number,omitempty"` // own number, if the SIM knows it
	Operator     string `json:"operator"`
	// AccessTech of the serving cell: "GSM", "UMTS", "LTE" or "".
	AccessTech string `json:"access_tech"`
	// Signal: CSQ (0-31, 99 unknown), dBm (0 unknown), bars 0-5.
	CSQ        int `json:"csq"`
	SignalDBm  int `json:"signal_dbm"`
	SignalBars int `json:"signal_bars"`
	// Message storage used and total (AT+CPMS?, the memory new messages
	// are stored in).
	StorageUsed  int `json:"storage_used"`
	StorageTotal int `json:"storage_total"`
	// StorageNearlyFull: 90 % or more of it is used (messages kept on the
	// SIM by a hold, or not deleted); once full, the network holds new
	// messages back.
	StorageNearlyFull bool `json:"storage_nearly_full,omitempty"`
	// Registration: "home", "roaming", "searching", "denied",
	// "not_registered" or "unknown".
	Registration string    `json:"registration"`
	Device       string    `json:"device"` // port currently open
	Updated      time.Time `json:"updated"`
}

// SendResult tells how a message went out.
type SendResult struct {
	Encoding string       `json:"encoding"`
	Ref      int          `json:"ref"` // concatenation reference (0 for a single SMS)
	Parts    []PartResult `json:"parts"`
}

// PartResult is one sent part. MR is the message reference the network
// assigned (+CMGS); delivery reports carry it.
type PartResult struct {
	Seq int       `json:"seq"`
	MR  int       `json:"mr"`
	At  time.Time `json:"at"`
}

// Modem is one modem. Create it with Open (or New and Connect), run Run in
// a goroutine, and Close it when done.
type Modem struct {
	cfg Config
	h   Handlers
	log *slog.Logger
	enc *sms.Encoder

	// opMu serialises command sequences that must not interleave (send a
	// part, read-then-delete, storage switches, USSD).
	opMu sync.Mutex

	mu         sync.Mutex
	conn       *conn
	state      State
	info       Info
	pinRefused bool // the SIM rejected cfg.PIN once: never send it again
	closed     bool
	dialect    dialect

	trace  *Trace
	events *eventQueue
	ussd   chan string
	hung   chan struct{}
	done   chan struct{}
	held   atomic.Bool // messages were left on the SIM by Hold
	// reportPoll: a report could not be read when announced; polls drain.
	reportPoll atomic.Bool
	// reportsInSR: a report announced in "SM" was found in "SR" (Quectel
	// EC25); such announcements are then looked up in SR first.
	reportsInSR atomic.Bool
	// announced: memories named by +CMTI/+CDSI (guarded by mu).
	announced map[string]bool
	// inSetup: initialisation runs (restart signs are its own boot's);
	// setupDone: when it last finished (UnixNano).
	inSetup   atomic.Bool
	setupDone atomic.Int64

	mms mmsState // MMS capability, settings and result URCs (mms.go)
}

// New returns a Modem that is not connected yet (StateOffline). Connect or
// Run connects it.
func New(cfg Config, h Handlers) *Modem {
	cfg.defaults()
	return &Modem{
		cfg:    cfg,
		h:      h,
		log:    cfg.Logger.With("modem", cfg.Name),
		enc:    sms.NewEncoder(cfg.ConcatRef),
		state:  StateOffline,
		trace:  NewTrace(cfg.TraceLines),
		events: newEventQueue(),
		ussd:   make(chan string, 1),
		hung:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		mms:    mmsState{urc: make(chan string, 4)},
	}
}

// Open connects to the modem and initialises it. It returns a ready modem or
// an error wrapping ErrPINRequired, ErrWrongPIN, ErrPUKLocked, ErrNoSIM,
// ErrNotRegistered, ErrTimeout or ErrOffline.
func Open(ctx context.Context, cfg Config, h Handlers) (*Modem, error) {
	m := New(cfg, h)
	if err := m.Connect(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Name is the configured name.
func (m *Modem) Name() string { return m.cfg.Name }

// State is the current state.
func (m *Modem) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Info returns identity, operator and signal as last read.
func (m *Modem) Info() Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.info
}

// Trace returns the last lines exchanged with the modem, oldest first, with
// PINs and PUKs masked.
func (m *Modem) Trace() []TraceLine { return m.trace.Lines() }

// Ready reports whether the modem can send now (online: registered, not
// hung or recovering).
func (m *Modem) Ready() bool { return m.State() == StateOnline }

// Number is the SIM's own number as the SIM reports it (AT+CNUM), or "".
func (m *Modem) Number() string { return m.Info().Number }

// MRs lists the message reference of every part, in order.
func (r SendResult) MRs() []int {
	out := make([]int, len(r.Parts))
	for i, p := range r.Parts {
		out[i] = p.MR
	}
	return out
}

// LastConcatRef is the concatenation reference used last; persist it and
// pass it back as Config.ConcatRef so references keep moving on after a
// restart.
func (m *Modem) LastConcatRef() uint8 { return m.enc.LastRef() }

func (m *Modem) setState(s State) {
	m.mu.Lock()
	if m.closed && s != StateClosed {
		m.mu.Unlock()
		return
	}
	old := m.state
	m.state = s
	m.mu.Unlock()
	if old != s {
		m.log.Info("modem state", "from", string(old), "to", string(s))
		if m.h.State != nil {
			m.h.State(m.cfg.Name, s)
		}
	}
}

// Close closes the port. Run returns soon after.
func (m *Modem) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	c := m.conn
	m.conn = nil
	st := m.state
	m.mu.Unlock()
	if c != nil && st == StateOnline {
		m.storeWhileStopped(c)
	}
	m.setState(StateClosed)
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	close(m.done)
	if c != nil {
		return c.close()
	}
	return nil
}

// storeWhileStopped asks a modem that routes messages or reports to the
// port (AT+CNMI <mt>=2 or <ds>=1) to store them instead before the port is
// closed: what arrives while pbxgate is stopped then waits in the modem's
// storage (+CMTI/+CDSI, <mt>=1, <ds>=2) and the start-up drain reads it,
// instead of being printed to a closed port and, unacknowledged, refused
// (3GPP TS 27.005 §3.4.4). Set-up routes again at the next start. A modem
// that refuses <ds>=2 (SIM800) keeps routing. It waits at most a second
// for a command in progress and gives the modem two seconds to answer.
func (m *Modem) storeWhileStopped(c *conn) {
	m.mu.Lock()
	d := m.dialect
	m.mu.Unlock()
	if d.mode < 0 || (d.ds != 1 && !m.cfg.RouteDirect) {
		return
	}
	locked := m.opMu.TryLock()
	for i := 0; i < 100 && !locked; i++ {
		time.Sleep(10 * time.Millisecond)
		locked = m.opMu.TryLock()
	}
	if !locked {
		m.log.Warn("modem busy at close; it keeps routing messages and reports to the port")
		return
	}
	defer m.opMu.Unlock()
	ds := d.ds
	if ds == 1 {
		ds = 2
	}
	cmd := fmt.Sprintf("+CNMI=%d,1,0,%d,0", d.mode, ds)
	if _, err := c.cmd(cmd, min(m.cfg.CommandTimeout, 2*time.Second)); err != nil {
		m.log.Warn("modem keeps routing messages and reports to the port after close", "command", "AT"+cmd, "error", err)
	}
}

func (m *Modem) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// current returns the open connection or ErrOffline.
func (m *Modem) current() (*conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.conn == nil {
		return nil, fmt.Errorf("%s: %w", m.cfg.Name, ErrOffline)
	}
	return m.conn, nil
}

// ready returns the connection if the modem can send now.
func (m *Modem) ready() (*conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return nil, ErrClosed
	case m.conn == nil:
		return nil, fmt.Errorf("%s: %w", m.cfg.Name, ErrOffline)
	case m.state != StateOnline:
		return nil, fmt.Errorf("%s is %s: %w", m.cfg.Name, m.state, ErrNotReady)
	}
	return m.conn, nil
}

// noteTimeout marks the modem hung (so nothing more is handed to it) and
// asks Run to recover it.
func (m *Modem) noteTimeout() {
	m.mu.Lock()
	hang := m.conn != nil && (m.state == StateOnline || m.state == StateRegistering)
	m.mu.Unlock()
	if hang {
		m.setState(StateHung)
	}
	select {
	case m.hung <- struct{}{}:
	default:
	}
}
