//go:build linux

package modem

import (
	"errors"
	"reflect"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// enableRTSCTS sets CRTSCTS on the port's termios and checks it took.
func enableRTSCTS(p serial.Port) error {
	fd, ok := portFD(p)
	if !ok {
		return errors.New("cannot reach the port's descriptor (go.bug.st/serial changed?)")
	}
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Cflag |= unix.CRTSCTS
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return err
	}
	if t, err = unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return err
	}
	if t.Cflag&unix.CRTSCTS == 0 {
		return errors.New("the port does not take RTS/CTS flow control")
	}
	return nil
}

// portFD reads the descriptor go.bug.st/serial keeps in its unexported
// unixPort.handle (v1.8.0, serial_unix.go); it has no accessor for it.
func portFD(p serial.Port) (int, bool) {
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, false
	}
	f := v.Elem().FieldByName("handle")
	if !f.IsValid() || f.Kind() != reflect.Int {
		return 0, false
	}
	return int(f.Int()), true
}
