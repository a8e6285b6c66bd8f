//go:build !linux

package modem

import (
	"errors"
	"io"

	"go.bug.st/serial"
)

func enableRTSCTS(serial.Port) error {
	return errors.New("RTS/CTS flow control is only supported on Linux")
}

func pollable(p serial.Port, _ string) io.ReadWriteCloser { return p }
