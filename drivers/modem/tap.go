package modem

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tap sits between the port and warthog618/modem's AT engine. It
//   - keeps the AT trace (the last lines both ways, PIN and PUK masked),
//   - tells whether the PDU of a running AT+CMGS was written (the point
//     after which a send's outcome is unknown),
//   - can end a running command at once by feeding the engine a final
//     result line of its own (the engine's only timeout for AT+CMGS is one
//     for the whole exchange, so a missing "> " prompt would otherwise
//     hold the port for the whole send timeout).
//
// On a port with read deadlines (pollPort: the OpenPort default on
// Linux) the engine's reader goroutine reads the port itself, and an
// injection wakes a pending read with a past deadline. On other ports
// reads go through a pump goroutine so that an injected line can be
// handed to the engine while the port itself is silent.
type tap struct {
	port  io.ReadWriter
	trace *Trace
	rx    chan []byte
	errc  chan error
	inj   chan []byte
	buf   []byte
	rerr  error
	// direct: the port's read deadline, when reads are direct; rbuf is
	// their buffer (buf may point into it until the engine took it all).
	direct deadliner
	rbuf   []byte

	mu  sync.Mutex
	sms bool // an AT+CMGS is running
	// smsStart is when it began, promptTimeout its prompt's deadline.
	smsStart      time.Time
	promptTimeout time.Duration
	pduDone       bool // its PDU and Ctrl-Z were written
	injected      bool // a result was injected for it
	// lastCmd is the last command line written (without its line end),
	// pending the ID of the command awaiting its result, e.g. "+CPIN": a
	// part of lastCmd's buffer, which every command line reuses.
	lastCmd []byte
	pending []byte

	// signal, when set, is told about lines that show the modem restarted
	// (see restartLine) and about an echoed command ("echo"): pbxgate
	// turns echo off, a restarted modem has it on again (V.250 E1).
	signal func(line string)
	line   []byte // incomplete input line (pump goroutine only)
	// midLine: the engine was last handed bytes of a line not yet ended;
	// prompt: the last thing handed over was a '>' at the start of a line
	// (dropBlank; the reading goroutine only).
	midLine, prompt bool
	echoed          atomic.Bool // a command was echoed since the flag was cleared

	// raw transfers of MMS files (mms_tap.go), guarded by mu.
	connectData []byte // written when the modem answers CONNECT
	connectDone chan error
	rawRead     *rawRead // bytes after a header line are taken out
}

// abortMarker is the text of the +CMS ERROR line tap injects; no modem
// answers with it.
const abortMarker = "pbxgate-no-prompt"

// deadliner is a port whose pending Read a deadline can end (os.File on
// a pollable descriptor).
type deadliner interface {
	SetReadDeadline(time.Time) error
}

func newTap(port io.ReadWriter, trace *Trace, signal func(line string)) *tap {
	t := &tap{port: port, trace: trace, signal: signal, inj: make(chan []byte, 1)}
	if d, ok := port.(deadliner); ok && d.SetReadDeadline(time.Time{}) == nil {
		t.direct, t.rbuf = d, make([]byte, 512)
		return t
	}
	t.rx, t.errc = make(chan []byte, 4), make(chan error, 1)
	go t.pump()
	return t
}

// received passes what the port delivered through the raw-transfer filter,
// the trace and the line scanner, and returns what goes to the engine.
func (t *tap) received(b []byte) []byte {
	in := t.filterRaw(b)
	t.trace.add(dirIn, in)
	t.scan(in)
	return t.dropBlank(in)
}

// dropBlank removes, in place, what would reach the engine as empty lines:
// line ends at the start of a line (a modem frames every answer in
// <CR><LF>, 3GPP TS 27.007 §4.1 / V.250 §5.7.1, so "\r\n+CMGS: 5\r\n\r\nOK\r\n"
// holds two) and the spaces after a "> " prompt at the start of a line
// (the engine's scanner takes '>' there as a line of its own and skips the
// spaces after it). warthog618/modem's engine hands every line from its
// reader to its indication loop and on to its command loop, each over an
// unbuffered channel, and only then ignores an empty one: two goroutine
// hand-offs per blank line, three of them in every AT+CMGS (one before
// the prompt, two in the answer), one before a +CDS and one in AT+CNMA's
// answer.
func (t *tap) dropBlank(b []byte) []byte {
	out := b[:0]
	for _, c := range b {
		switch {
		case c == '\r' || c == '\n':
			if !t.midLine {
				continue
			}
			if c == '\n' {
				t.midLine = false
			}
		case t.prompt && c == ' ':
			continue
		case !t.midLine && c == '>':
			t.prompt = true
			out = append(out, c)
			continue
		default:
			t.midLine = true
		}
		t.prompt = false
		out = append(out, c)
	}
	return out
}

func (t *tap) pump() {
	b := make([]byte, 512)
	for {
		n, err := t.port.Read(b)
		if n > 0 {
			if in := t.received(b[:n]); len(in) > 0 {
				// The engine keeps what it is handed until it read it all:
				// a copy of what came (filterRaw may return b itself), not
				// a new 512-byte buffer per read.
				t.rx <- append([]byte(nil), in...)
			}
		}
		if err != nil {
			t.errc <- err
			return
		}
	}
}

// Read hands the engine what the port (or an injection) delivered. After
// the port failed, what it delivered before is handed over first.
func (t *tap) Read(p []byte) (int, error) {
	if t.direct != nil {
		return t.readDirect(p)
	}
	for len(t.buf) == 0 {
		if t.rerr != nil {
			select {
			case b := <-t.rx:
				t.buf = b
				continue
			default:
				return 0, t.rerr
			}
		}
		select {
		case b := <-t.rx:
			t.buf = b
		case b := <-t.inj:
			t.takeInjected(b)
		case err := <-t.errc:
			t.rerr = err
		}
	}
	n := copy(p, t.buf)
	t.buf = t.buf[n:]
	return n, nil
}

// takeInjected makes an injected result (abortIfNoPrompt) the next thing
// read — unless the AT+CMGS it was meant for ended meanwhile: the result
// must not reach another command.
func (t *tap) takeInjected(b []byte) {
	t.mu.Lock()
	live := t.sms
	t.mu.Unlock()
	if live {
		t.buf = b
	}
}

// readDirect reads the port on the engine's reader goroutine. An
// injection (abortIfNoPrompt) is sent before the read deadline is moved
// to the past; the deadline is cleared before the injection is looked
// for, so none is missed.
func (t *tap) readDirect(p []byte) (int, error) {
	for len(t.buf) == 0 {
		if t.rerr != nil {
			return 0, t.rerr
		}
		select {
		case b := <-t.inj:
			t.takeInjected(b)
			continue
		default:
		}
		n, err := t.port.Read(t.rbuf)
		if n > 0 {
			t.buf = t.received(t.rbuf[:n])
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if err := t.direct.SetReadDeadline(time.Time{}); err != nil {
					t.rerr = err
				}
				continue
			}
			t.rerr = err
		}
	}
	n := copy(p, t.buf)
	t.buf = t.buf[n:]
	return n, nil
}

// Write writes to the port and notes a written SMS body (it ends with
// Ctrl-Z).
func (t *tap) Write(p []byte) (int, error) {
	if len(p) > 2 && (p[0] == 'A' || p[0] == 'a') && (p[1] == 'T' || p[1] == 't') && p[len(p)-1] != 0x1a {
		end := len(p)
		for end > 0 && (p[end-1] == '\r' || p[end-1] == '\n') {
			end--
		}
		t.mu.Lock()
		t.lastCmd = append(t.lastCmd[:0], p[:end]...)
		t.pending = t.lastCmd[2:]
		if i := bytes.IndexAny(t.pending, "=?"); i >= 0 {
			t.pending = t.pending[:i]
		}
		t.mu.Unlock()
	}
	n, err := t.port.Write(p)
	t.trace.add(dirOut, p[:n])
	if err == nil && n == len(p) && len(p) > 0 && p[len(p)-1] == 0x1a {
		t.mu.Lock()
		if t.sms {
			t.pduDone = true
		}
		t.mu.Unlock()
	}
	return n, err
}

// scan splits input into lines and reports restart signs (pump goroutine).
func (t *tap) scan(b []byte) {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			if len(t.line) < 256 {
				t.line = append(t.line, c)
			}
			continue
		}
		if len(t.line) == 0 {
			continue
		}
		// Compared as bytes: a string is made only for a restart sign.
		line := t.line
		t.line = t.line[:0]
		if string(line) == "CONNECT" {
			t.connected()
		}
		t.mu.Lock()
		echo := bytes.Equal(line, t.lastCmd)
		restart := !echo && t.signal != nil && restartLine(line, t.pending)
		if isFinal(line) {
			t.pending = nil
		}
		t.mu.Unlock()
		if echo {
			t.echoed.Store(true)
		}
		if t.signal == nil {
			continue
		}
		switch {
		case echo:
			t.signal("echo")
		case restart:
			t.signal(string(line))
		}
	}
}

// hasPrefix is strings.HasPrefix for a line as string or bytes.
func hasPrefix[T string | []byte](l T, prefix string) bool {
	return len(l) >= len(prefix) && string(l[:len(prefix)]) == prefix
}

// isFinal recognises a final result code (verbose or numeric).
func isFinal[T string | []byte](l T) bool {
	switch string(l) {
	case "OK", "ERROR", "0", "4", "NO CARRIER":
		return true
	}
	return hasPrefix(l, "+CME ERROR:") || hasPrefix(l, "+CMS ERROR:")
}

// restartLine recognises what modems print when their firmware (re)starts,
// unless it answers the command pending: Quectel "RDY", "+QIND: SMS DONE",
// "+QIND: PB DONE", "+QUSIM: 1"; SIMCom "RDY", "SMS DONE", "PB DONE", "SMS
// Ready", "Call Ready"; Huawei "^SIMST:"; everyone's "+CPIN: READY" and
// "+CFUN: 1" (27.007 lets them report these unsolicited after start-up).
func restartLine[T, P string | []byte](l T, pending P) bool {
	switch string(l) {
	case "RDY", "SMS DONE", "PB DONE", "SMS Ready", "Call Ready", "+QIND: SMS DONE", "+QIND: PB DONE", "+QIND: \"SMS DONE\"", "+QIND: \"PB DONE\"":
		return true
	}
	switch {
	case hasPrefix(l, "+QUSIM:"), hasPrefix(l, "^SIMST:"):
		return true
	case hasPrefix(l, "+CPIN:"):
		return string(pending) != "+CPIN"
	case hasPrefix(l, "+CFUN:"):
		return string(pending) != "+CFUN"
	}
	return false
}

// beginSMS marks the start of an AT+CMGS whose prompt must come within
// promptTimeout.
func (t *tap) beginSMS(promptTimeout time.Duration) {
	t.mu.Lock()
	t.sms, t.pduDone, t.injected = true, false, false
	t.smsStart, t.promptTimeout = time.Now(), promptTimeout
	t.mu.Unlock()
}

// promptOverdue is the prompt watchdog's function (one timer per port,
// re-armed for every AT+CMGS): it aborts the running AT+CMGS unless that
// started less than its prompt timeout ago — a late run of the timer armed
// for the AT+CMGS before must not end the next one.
func (t *tap) promptOverdue() {
	t.mu.Lock()
	early := time.Since(t.smsStart) < t.promptTimeout
	t.mu.Unlock()
	if !early {
		t.abortIfNoPrompt()
	}
}

// endSMS ends it and tells whether the PDU was written and whether the
// result was injected.
func (t *tap) endSMS() (pduWritten, injected bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sms = false
	return t.pduDone, t.injected
}

// abortIfNoPrompt ends the running AT+CMGS with an injected error unless its
// PDU was already written. It reports whether it did.
func (t *tap) abortIfNoPrompt() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.sms || t.pduDone || t.injected {
		return false
	}
	t.injected = true
	select {
	case t.inj <- []byte("\r\n+CMS ERROR: " + abortMarker + "\r\n"):
	default:
	}
	if t.direct != nil {
		_ = t.direct.SetReadDeadline(time.Now()) // wake the pending read
	}
	return true
}

// Trace keeps the last lines exchanged with one modem, both ways. PINs and
// PUKs (AT+CPIN, AT+CLCK, AT+CPWD) are masked before they are stored.
// Each slot of the ring keeps its own byte buffer, reused when the ring
// comes round: a line costs no allocation (Lines makes the strings).
type Trace struct {
	mu   sync.Mutex
	ring []traceEntry
	next int
	full bool
	part [2][]byte // incomplete line per direction
	now  func() time.Time
}

type traceEntry struct {
	at   time.Time
	dir  int
	text []byte
}

// TraceLine is one line sent to ("out") or received from ("in") the modem.
type TraceLine struct {
	At   time.Time `json:"at"`
	Dir  string    `json:"dir"`
	Text string    `json:"text"`
}

const (
	dirOut = 0
	dirIn  = 1
)

// NewTrace keeps the last n lines (n < 1 means 200).
func NewTrace(n int) *Trace {
	if n < 1 {
		n = 200
	}
	return &Trace{ring: make([]traceEntry, n), now: time.Now}
}

var secretRE = regexp.MustCompile(`(?i)^(AT)?(\+CPIN=|\+CLCK=|\+CPWD=|\^CPIN=|\+CPIN2=)(.*)$`)

// mayHoldSecret is a cheap test that line could match secretRE: after an
// optional AT, "+" or "^" and CPIN, CLCK or CPWD. Most lines of the trace
// (every SMS's AT+CMGS, its PDU and the answers) skip the regexp.
func mayHoldSecret[T string | []byte](line T) bool {
	if len(line) >= 2 && upper(line[0]) == 'A' && upper(line[1]) == 'T' {
		line = line[2:]
	}
	if len(line) < 6 || (line[0] != '+' && line[0] != '^') {
		return false
	}
	w := line[1:5]
	return foldIs(w, "CPIN") || foldIs(w, "CLCK") || foldIs(w, "CPWD")
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// foldIs compares ASCII w with upper-case want, ignoring case.
func foldIs[T string | []byte](w T, want string) bool {
	if len(w) != len(want) {
		return false
	}
	for i := range len(want) {
		if upper(w[i]) != want[i] {
			return false
		}
	}
	return true
}

// mask hides the secrets of a command line.
func mask(line string) string {
	if !mayHoldSecret(line) {
		return line
	}
	m := secretRE.FindStringSubmatch(line)
	if m == nil {
		return line
	}
	if strings.HasPrefix(strings.ToUpper(m[2]), "+CLCK=") {
		// AT+CLCK="SC",1,"1234": facility and mode stay readable.
		f := strings.SplitN(m[3], ",", 3)
		if len(f) == 3 {
			return m[1] + m[2] + f[0] + "," + f[1] + `,"****"`
		}
		return line
	}
	return m[1] + m[2] + `"****"`
}

func (tr *Trace) add(dir int, b []byte) {
	if tr == nil || len(b) == 0 {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, c := range b {
		switch {
		case c == '\r' || c == '\n' || c == 0x1a || c == 0x1b:
			tr.flushLocked(dir, c)
		case dir == dirIn && c == '>' && len(tr.part[dir]) == 0:
			tr.part[dir] = append(tr.part[dir], c)
			tr.flushLocked(dir, 0)
		default:
			if len(tr.part[dir]) < 600 {
				tr.part[dir] = append(tr.part[dir], c)
			}
		}
	}
}

func (tr *Trace) flushLocked(dir int, end byte) {
	p := tr.part[dir]
	if len(p) == 0 && end != 0x1a && end != 0x1b {
		return
	}
	e := &tr.ring[tr.next]
	text := append(e.text[:0], p...)
	switch end {
	case 0x1a:
		text = append(text, "<Ctrl-Z>"...)
	case 0x1b:
		text = append(text, "<ESC>"...)
	}
	tr.part[dir] = p[:0]
	// Both ways: a modem with echo on (after a reset) sends the PIN
	// command back.
	if mayHoldSecret(text) {
		text = append(text[:0], mask(string(text))...)
	}
	e.at, e.dir, e.text = tr.now(), dir, text
	tr.next++
	if tr.next == len(tr.ring) {
		tr.next, tr.full = 0, true
	}
}

// Lines returns the kept lines, oldest first.
func (tr *Trace) Lines() []TraceLine {
	if tr == nil {
		return nil
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := tr.next
	if tr.full {
		n = len(tr.ring)
	}
	if n == 0 {
		return nil // as before: JSON null, not []
	}
	out := make([]TraceLine, 0, n)
	line := func(e *traceEntry) {
		d := "in"
		if e.dir == dirOut {
			d = "out"
		}
		out = append(out, TraceLine{At: e.at, Dir: d, Text: string(e.text)})
	}
	if tr.full {
		for i := tr.next; i < len(tr.ring); i++ {
			line(&tr.ring[i])
		}
	}
	for i := 0; i < tr.next; i++ {
		line(&tr.ring[i])
	}
	return out
}
