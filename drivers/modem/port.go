package modem

import (
	"fmt"
	"io"

	"go.bug.st/serial"
)

// Flow control values of Config.FlowControl.
const (
	FlowNone   = "none"
	FlowRTSCTS = "rtscts"
)

// PortSettings is how a modem's port is opened.
type PortSettings struct {
	Baud int
	// FlowControl is FlowNone (or "") or FlowRTSCTS.
	FlowControl string
}

// PortOpener opens a modem's AT port.
type PortOpener func(path string, s PortSettings) (io.ReadWriteCloser, error)

// OpenPort opens path with go.bug.st/serial: s.Baud, 8N1, DTR and RTS
// left as they are (setting them fails on ptys and USB modems do not need
// it), no read timeout. FlowRTSCTS then switches on RTS/CTS hardware flow
// control (termios CRTSCTS): go.bug.st/serial v1.8 has no setting for it —
// its Mode holds baud, data bits, parity, stop bits and the initial DTR/RTS
// only, and Open clears CRTSCTS — so it is set on the open port's
// descriptor (Linux).
func OpenPort(path string, s PortSettings) (io.ReadWriteCloser, error) {
	switch s.FlowControl {
	case "", FlowNone, FlowRTSCTS:
	default:
		return nil, fmt.Errorf("flow control %q: use %q or %q", s.FlowControl, FlowNone, FlowRTSCTS)
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: s.Baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, err
	}
	if s.FlowControl == FlowRTSCTS {
		if err := enableRTSCTS(p); err != nil {
			p.Close()
			return nil, fmt.Errorf("RTS/CTS flow control on %s: %w", path, err)
		}
	}
	return pollable(p, path), nil
}
