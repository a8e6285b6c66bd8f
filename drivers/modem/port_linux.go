//go:build linux

package modem

import (
	"errors"
	"io"
	"os"
	"reflect"
	"time"

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
	if pp, ok := p.(*pollPort); ok {
		p = pp.Port
	}
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

// pollPort reads and writes a port through Go's network poller (epoll)
// instead of go.bug.st/serial's Read, which makes a pselect6 system call
// before every read(2) (v1.8.0 serial_unix.go: its way of noticing
// Close). Here a non-blocking duplicate of the port's descriptor is an
// os.File: a read that finds nothing parks the goroutine on the poller
// (no thread blocked in a system call, no select), and Close wakes a
// pending Read at once (os.ErrClosed) without the descriptor number
// being reused under it. Writes go through the same file: O_NONBLOCK is
// shared by both descriptors, so go.bug.st/serial's own Write would see
// EAGAIN. Everything else (termios, exclusive access, closing) stays with
// the serial.Port, which pollPort embeds.
type pollPort struct {
	serial.Port
	f *os.File
}

// pollable wraps p in a pollPort, or returns p as it is when its
// descriptor cannot be reached or duplicated.
func pollable(p serial.Port, path string) io.ReadWriteCloser {
	fd, ok := portFD(p)
	if !ok {
		return p
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return p
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return p
	}
	// os.NewFile registers a non-blocking descriptor with the poller.
	return &pollPort{Port: p, f: os.NewFile(uintptr(nfd), path)}
}

// Read reads what the port has, waiting on the poller. A hung-up port
// (modem unplugged: read(2) returns 0) reads io.EOF.
func (p *pollPort) Read(b []byte) (int, error) { return p.f.Read(b) }

// Write writes all of b, waiting on the poller while the output queue is
// full.
func (p *pollPort) Write(b []byte) (int, error) { return p.f.Write(b) }

// SetReadDeadline ends a pending Read at t (os.ErrDeadlineExceeded);
// the zero time waits for ever again.
func (p *pollPort) SetReadDeadline(t time.Time) error { return p.f.SetReadDeadline(t) }

// Close wakes a pending Read and closes both descriptors.
func (p *pollPort) Close() error {
	err := p.f.Close()
	if err2 := p.Port.Close(); err == nil {
		err = err2
	}
	return err
}
