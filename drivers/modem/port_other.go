//go:build !linux

package modem

import (
	"errors"

	"go.bug.st/serial"
)

func enableRTSCTS(serial.Port) error {
	return errors.New("RTS/CTS flow control is only supported on Linux")
}
