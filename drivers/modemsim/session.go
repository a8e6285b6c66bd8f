package modemsim

import (
	"context"
	"fmt"
	"strings"
	"time"
)

const (
	ctrlZ = 0x1a
	esc   = 0x1b
)

// maxLine bounds a command line, like a modem's input buffer.
const maxLine = 2048

// session is one boot of the modem on one pty: the byte parser and the
// single writer of the port. It runs on the modem's serve goroutine only.
type session struct {
	m    *Modem
	p    *ptyPort
	ctx  context.Context
	line []byte

	prompt   bool // inside AT+CMGS, collecting the PDU (or text)
	cmgsLen  int
	cmgsDA   string // text mode destination
	pduBuf   []byte
	wasOpen  bool
	boot     []string // start-up lines for the first opener
	rebootIn time.Duration
	reboot   bool
	echoBuf  []byte  // echoed input, written in one go before any other output
	upload   *upload // raw data after CONNECT (AT+QFUPL, AT+CMMSDOWN)
}

// serve runs the session until the context ends or a reboot is due.
// afterReboot says the firmware just started (for Config.BootURCs).
func (m *Modem) serve(ctx context.Context, p *ptyPort, afterReboot bool) (downFor time.Duration, reboot bool) {
	s := &session{m: m, p: p, ctx: ctx}
	m.mu.Lock()
	m.attached = p.attached.Load
	if afterReboot && m.cfg.BootURCs {
		cpin := map[simState]string{simReady: "READY", simPIN: "SIM PIN", simPUK: "SIM PUK", simBlocked: "SIM PUK"}[m.sim]
		for _, l := range m.model.bootURCs {
			s.boot = append(s.boot, strings.ReplaceAll(l, "%CPIN%", cpin))
		}
	}
	m.mu.Unlock()
	m.kick()
	var periodic <-chan time.Time
	if m.model.periodicURC != "" && m.cfg.PeriodicURCInterval >= 0 {
		every := m.cfg.PeriodicURCInterval
		if every == 0 {
			every = 5 * time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		periodic = t.C
	}
	for {
		select {
		case <-periodic:
			m.mu.Lock()
			// a hung firmware prints nothing, and held lines must not pile up
			if m.curc && !m.fault.Hang && len(m.urcs) < 32 {
				m.urcs = append(m.urcs, fmt.Sprintf(m.model.periodicURC, m.cfg.RSSI))
			}
			m.mu.Unlock()
		case <-ctx.Done():
			return 0, false
		case d := <-m.rebootReq:
			return d, true
		case announce := <-m.resetReq:
			s.line, s.prompt, s.pduBuf, s.upload = nil, false, nil, nil
			m.mu.Lock()
			m.boots++
			m.bootLocked()
			if announce {
				cpin := map[simState]string{simReady: "READY", simPIN: "SIM PIN", simPUK: "SIM PUK", simBlocked: "SIM PUK"}[m.sim]
				for _, l := range m.model.bootURCs {
					m.urcs = append(m.urcs, strings.ReplaceAll(l, "%CPIN%", cpin))
				}
			}
			m.mu.Unlock()
		case b := <-p.in:
			s.input(b)
		case open := <-p.attach:
			s.attachChanged(open)
		case <-m.wake:
		}
		if s.reboot {
			p.drain(time.Second)
			return s.rebootIn, true
		}
		s.deliverAndFlush()
	}
}

func (s *session) write(str string) {
	s.flushEcho()
	s.p.write([]byte(str))
}

func (s *session) flushEcho() {
	if len(s.echoBuf) > 0 {
		s.p.write(s.echoBuf)
		s.echoBuf = s.echoBuf[:0]
	}
}

func (s *session) attachChanged(open bool) {
	if !open {
		// A new opener starts with a clean input buffer and no prompt.
		s.line, s.prompt, s.pduBuf, s.upload = nil, false, nil, nil
	}
	if open && len(s.boot) > 0 {
		var b strings.Builder
		for _, l := range s.boot {
			b.WriteString("\r\n" + l + "\r\n")
		}
		s.boot = nil
		s.write(b.String())
	}
	if !open && s.wasOpen {
		// Closing the port is the driver's re-enumeration: it revives a
		// modem that only needed a port reopen.
		s.m.mu.Lock()
		if s.m.fault.Hang && s.m.fault.HangMode == HangUntilReopen {
			s.m.fault.Hang = false
		}
		s.m.mu.Unlock()
	}
	s.wasOpen = open
}

func (s *session) input(b []byte) {
	defer s.flushEcho()
	for _, c := range b {
		if s.reboot {
			return
		}
		if s.upload != nil {
			s.uploadByte(c)
			continue
		}
		if s.prompt {
			s.promptByte(c)
			continue
		}
		switch c {
		case '\r':
			line := string(s.line)
			s.line = s.line[:0]
			s.echo("\r")
			s.commandLine(line)
		case '\n':
			// V.250: LF after CR is ignored
		case esc, ctrlZ:
			s.line = s.line[:0]
		case 0x08, 0x7f:
			if len(s.line) > 0 {
				s.line = s.line[:len(s.line)-1]
			}
			s.echo(string(c))
		default:
			if len(s.line) < maxLine {
				s.line = append(s.line, c)
			}
			s.echo(string(c))
		}
	}
}

// echo repeats input while echo is on and the modem is not hung.
func (s *session) echo(str string) {
	s.m.mu.Lock()
	on := s.m.echo && !s.m.fault.Hang
	s.m.mu.Unlock()
	if on {
		s.echoBuf = append(s.echoBuf, str...)
	}
}

func (s *session) promptByte(c byte) {
	switch c {
	case ctrlZ:
		s.prompt = false
		s.echo(string(c))
		body := string(s.pduBuf)
		s.pduBuf = nil
		s.submit(body)
	case esc:
		s.prompt = false
		s.pduBuf = nil
		s.respond(reply{final: "OK"})
	default:
		if len(s.pduBuf) < 2*maxLine {
			s.pduBuf = append(s.pduBuf, c)
		}
		s.echo(string(c))
	}
}

// commandLine executes one line typed by the driver.
func (s *session) commandLine(line string) {
	t := strings.TrimSpace(line)
	s.m.mu.Lock()
	hung, mode := s.m.fault.Hang, s.m.fault.HangMode
	s.m.mu.Unlock()
	if hung {
		if mode == HangUntilReset && isReset(t) {
			// the watchdog part of the firmware still honours a reset
			s.write("\r\nOK\r\n")
			s.m.mu.Lock()
			s.m.fault.Hang = false
			s.m.mu.Unlock()
			s.reboot, s.rebootIn = true, s.m.cfg.ResetDowntime
		}
		return
	}
	if len(t) < 2 || !strings.EqualFold(t[:2], "AT") {
		return // modems ignore lines without the AT prefix
	}
	cmds, err := splitCommands(t[2:])
	if err != nil {
		s.respond(reply{final: "ERROR"})
		return
	}
	var all reply
	for _, c := range cmds {
		if c.name == "+CMGS" && (c.op == "=") {
			if len(all.info) > 0 {
				s.respond(all) // info of earlier commands on the line
			}
			s.startCMGS(c)
			return
		}
		r := s.exec(c)
		if s.upload != nil { // CONNECT: the data follows, then the result
			s.respond(reply{info: append(all.info, r.info...)})
			return
		}
		all.raw += r.raw
		all.info = append(all.info, r.info...)
		all.pairs = all.pairs || r.pairs
		if r.final != "" && r.final != "OK" {
			all.final = r.final
			break
		}
		if r.after != nil {
			all.afters = append(all.afters, r.after)
		}
	}
	if all.final == "" {
		all.final = "OK"
	}
	s.respond(all)
	for _, f := range all.afters {
		f()
	}
}

func isReset(t string) bool {
	u := strings.ToUpper(strings.ReplaceAll(t, " ", ""))
	return u == "AT+CFUN=1,1"
}

// reply is the answer to a command: info lines and a final result code.
type reply struct {
	info   []string
	pairs  bool // info comes as header+PDU pairs (CMGL, CMGR)
	final  string
	raw    string // written after the info lines, before the final result (AT+CMMSREAD data)
	after  func() // runs after the reply is written (reboot, USSD answer)
	afters []func()
}

func (s *session) respond(r reply) {
	s.m.mu.Lock()
	verbose := s.m.verbose
	mid := s.m.fault.URCMidCommand
	var urcs []string
	if mid {
		urcs = s.m.urcs
		s.m.urcs = nil
		if s.m.fault.MidCommandURC != "" {
			urcs = append(urcs, s.m.fault.MidCommandURC)
		}
	}
	s.m.mu.Unlock()

	var b strings.Builder
	info := r.info
	if len(urcs) > 0 {
		at := 0
		if len(info) > 0 {
			at = 1
			if r.pairs && len(info) > 1 {
				at = 2
			}
		}
		merged := append([]string(nil), info[:at]...)
		merged = append(merged, urcs...)
		info = append(merged, info[at:]...)
	}
	if len(info) > 0 {
		b.WriteString("\r\n")
		for _, l := range info {
			b.WriteString(l)
			b.WriteString("\r\n")
		}
	}
	b.WriteString(r.raw)
	if r.final == "" {
		s.write(b.String())
		return
	}
	if verbose {
		b.WriteString("\r\n" + r.final + "\r\n")
	} else {
		b.WriteString(numericResult(r.final) + "\r")
	}
	s.write(b.String())
}

func numericResult(final string) string {
	if final == "OK" {
		return "0"
	}
	if final == "ERROR" {
		return "4"
	}
	return final // +CME/+CMS ERROR are always verbose
}

// deliverAndFlush lets the network hand over what the modem can take now
// and writes queued unsolicited result codes unless they are held back.
func (s *session) deliverAndFlush() {
	accepted := s.m.deliverPending(s.p.attached.Load())
	for _, f := range accepted {
		f()
	}
	if s.prompt {
		return
	}
	s.m.mu.Lock()
	if s.m.fault.Hang || s.m.fault.URCMidCommand || len(s.m.urcs) == 0 {
		s.m.mu.Unlock()
		return
	}
	urcs := s.m.urcs
	s.m.urcs = nil
	s.m.mu.Unlock()
	var b strings.Builder
	for _, u := range urcs {
		b.WriteString("\r\n" + u + "\r\n")
	}
	s.write(b.String())
}
