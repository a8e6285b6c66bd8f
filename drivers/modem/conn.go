package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/warthog618/modem/at"
	"go.bug.st/serial"
)

// conn is one open port with its AT engine. A reopened port is a new conn.
type conn struct {
	port io.ReadWriteCloser
	tap  *tap
	at   *at.AT
	path string
	once sync.Once
	// readMem is the memory AT+CPMS last selected for reading on this
	// port ("": not known, e.g. before or during set-up, or after a
	// console command). Guarded by Modem.opMu.
	readMem string
	// Kept from one AT+CMGS to the next (guarded by Modem.opMu): the
	// prompt watchdog, re-armed per message, the hex PDU's buffer and
	// the last command line with its length.
	watchdog *time.Timer
	pduHex   []byte
	cmgs     string
	cmgsLen  int
	// opts are the engine's timeout options for the timeouts this port
	// uses all the time (command and send timeout), boxed once at dial.
	opts [2]timeoutOpt
}

type timeoutOpt struct {
	d   time.Duration
	opt at.CommandOption
}

// timeout is the engine's option for d.
func (c *conn) timeout(d time.Duration) at.CommandOption {
	for _, o := range c.opts {
		if o.opt != nil && o.d == d {
			return o.opt
		}
	}
	return at.WithTimeout(d)
}

// dial opens the port (found by Locate, else Device) and starts the AT
// engine with the indications pbxgate processes. Nothing is sent yet.
func (m *Modem) dial(ctx context.Context) (*conn, error) {
	path := m.cfg.Device
	if m.cfg.Locate != nil {
		p, err := m.cfg.Locate(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: locate port: %w: %w", m.cfg.Name, ErrOffline, err)
		}
		path = p
	}
	if path == "" {
		return nil, fmt.Errorf("%s: no device path configured or found: %w", m.cfg.Name, ErrOffline)
	}
	// No read timeout: the at engine blocks in Read and learns about an
	// unplugged modem from the read error.
	open := m.cfg.OpenPort
	if open == nil {
		open = OpenPort
	}
	p, err := open(path, PortSettings{Baud: m.cfg.Baud, FlowControl: m.cfg.FlowControl})
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w: %w%s", m.cfg.Name, path, ErrOffline, err, busyHint(err))
	}
	c := &conn{port: p, path: path, tap: newTap(p, m.trace, m.restartSignal), opts: [2]timeoutOpt{
		{m.cfg.CommandTimeout, at.WithTimeout(m.cfg.CommandTimeout)},
		{m.cfg.SendTimeout, at.WithTimeout(m.cfg.SendTimeout)},
	}}
	push := func(l []string) { m.events.push(l) }
	c.at = at.New(c.tap, at.WithTimeout(m.cfg.CommandTimeout),
		at.WithIndication("+CMTI:", push),
		at.WithIndication("+CDSI:", push),
		at.WithIndication("+CMT:", push, at.WithTrailingLine),
		at.WithIndication("+CDS:", push, at.WithTrailingLine),
		at.WithIndication("+CUSD:", m.ussdIndication),
		at.WithIndication("+QMMSEND:", m.mmsIndication),
		at.WithIndication("+CMMSSEND:", m.mmsIndication),
		at.WithIndication("+CMMSRECV:", m.mmsIndication),
	)
	return c, nil
}

// busyHint explains a port someone else holds: go.bug.st/serial opens ports
// exclusively (TIOCEXCL), and so does ModemManager's probing.
func busyHint(err error) string {
	var pe *serial.PortError
	if errors.As(err, &pe) && pe.Code() == serial.PortBusy {
		return ` (another program has the port open, often ModemManager: stop it or tag the modem with ENV{ID_MM_DEVICE_IGNORE}="1" in a udev rule)`
	}
	return ""
}

// close closes the port and waits (briefly) for the AT engine to stop.
func (c *conn) close() error {
	var err error
	c.once.Do(func() {
		err = c.port.Close()
		select {
		case <-c.at.Closed():
		case <-time.After(2 * time.Second):
		}
	})
	return err
}

// cmd runs one AT command (without the "AT") and returns its info lines
// with unsolicited lines removed: warthog618/modem v0.4.0 forwards an
// indication to its handler and also into the reply of the command that
// was running when it arrived.
func (c *conn) cmd(cmd string, timeout time.Duration) ([]string, error) {
	info, err := c.at.Command(cmd, c.timeout(timeout))
	return filterURCs(cmd, info), commandErr(cmd, err)
}

// sendStage says how far an AT+CMGS got before it failed.
type sendStage int

const (
	// stageCommand: the modem never gave the "> " prompt (or the PDU could
	// not be written): it has nothing to send.
	stageCommand sendStage = iota
	// stagePDU: the PDU and Ctrl-Z were written; the modem may have sent it.
	stagePDU
)

// smsCmd runs a two-step command (AT+CMGS=<len>, prompt, PDU, Ctrl-Z). The
// prompt must come within promptTimeout, the whole exchange ends within
// timeout. It tells how far the command got.
func (c *conn) smsCmd(cmd, pdu string, promptTimeout, timeout time.Duration) ([]string, sendStage, error) {
	c.tap.beginSMS(promptTimeout)
	if c.watchdog == nil {
		c.watchdog = time.AfterFunc(promptTimeout, c.tap.promptOverdue)
	} else {
		c.watchdog.Reset(promptTimeout)
	}
	info, err := c.at.SMSCommand(cmd, pdu, c.timeout(timeout))
	c.watchdog.Stop()
	written, injected := c.tap.endSMS()
	stage := stageCommand
	if written {
		stage = stagePDU
	}
	// The engine returns the error of a +CMS ERROR line as it is.
	if cms, ok := err.(at.CMSError); ok && string(cms) == abortMarker {
		if injected && !written {
			// The modem may still show the prompt later: ESC cancels it
			// (3GPP TS 27.005 §3.5.1) before anything else is typed.
			c.at.Escape()
			return nil, stage, fmt.Errorf("AT%s: no \"> \" prompt within %s: %w", cmd, promptTimeout, ErrTimeout)
		}
		// The prompt raced the watchdog and the PDU went out: the
		// injected result is not the modem's answer.
		return nil, stage, fmt.Errorf("AT%s: no answer after the message was written: %w", cmd, ErrTimeout)
	}
	return filterURCs(cmd, info), stage, commandErr(cmd, err)
}

// command runs cmd on c for normal operation: a timeout asks Run to recover
// the modem.
func (m *Modem) command(c *conn, cmd string) ([]string, error) {
	info, err := c.cmd(cmd, m.cfg.CommandTimeout)
	if errors.Is(err, ErrTimeout) {
		m.noteTimeout()
	}
	return info, err
}

func cmdID(cmd string) string {
	if i := strings.IndexAny(cmd, "=?"); i >= 0 {
		return cmd[:i]
	}
	return cmd
}

func filterURCs(cmd string, info []string) []string {
	id := cmdID(cmd)
	out := info[:0]
	for _, l := range info {
		if id != "" && strings.HasPrefix(l, id+":") {
			out = append(out, l) // the command's own answer
			continue
		}
		if isURC(l) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// isURC recognises unsolicited result codes of the supported modems.
func isURC(l string) bool {
	if strings.HasPrefix(l, "^") {
		return true // Huawei status reports: ^RSSI, ^MODE, ^HCSQ, ^BOOT …
	}
	for _, p := range [...]string{
		"+CMTI:", "+CDSI:", "+CMT:", "+CDS:", "+CUSD:", "+CBM:",
		"RING", "+CRING:", "+CLIP:", "NO CARRIER",
		"+CREG:", "+CEREG:", "+CGREG:", "+C5GREG:", "+CGEV:", "+CPIN:", "+CFUN:", "+CIEV:",
		"+QIND:", "+QUSIM:", "+CPSI:", "+PACSP", "RDY", "SMS DONE", "PB DONE", "SMS Ready", "Call Ready",
		"+QMMSEND:", "+CMMSSEND:", "+CMMSRECV:",
	} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// eventQueue buffers indications until Run processes them, one at a time:
// the at package calls indication handlers on goroutines of their own and
// must never block on us.
type eventQueue struct {
	mu     sync.Mutex
	items  [][]string
	spare  [][]string // the slice take handed out before, for reuse
	signal chan struct{}
}

func newEventQueue() *eventQueue { return &eventQueue{signal: make(chan struct{}, 1)} }

func (q *eventQueue) push(lines []string) {
	q.mu.Lock()
	q.items = append(q.items, lines)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// take hands out the queued indications; done gives the slice back once
// they are processed, so that the queue reuses it.
func (q *eventQueue) take() [][]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items, q.spare = q.spare[:0], nil
	return items
}

func (q *eventQueue) done(items [][]string) {
	clear(items) // the lines are not kept
	q.mu.Lock()
	if q.spare == nil {
		q.spare = items[:0]
	}
	q.mu.Unlock()
}
