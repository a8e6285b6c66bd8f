//go:build linux

package modem

import (
	"errors"
	"io"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

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
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool

	// The state of one Read and one Write, for the raw system calls the
	// poller runs (rawRead, rawWrite: method values made once, so that a
	// read or write allocates nothing).
	rmu     sync.Mutex
	rb      []byte
	rn      int
	rerrno  syscall.Errno
	readFn  func(fd uintptr) bool
	wmu     sync.Mutex
	wb      []byte
	wdone   int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
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
	f := os.NewFile(uintptr(nfd), path)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return p
	}
	pp := &pollPort{Port: p, f: f, rc: rc}
	pp.readFn, pp.writeFn = pp.rawRead, pp.rawWrite
	return pp
}

// Read reads what the port has, waiting on the poller. A hung-up port
// (modem unplugged: read(2) returns 0) reads io.EOF.
//
// The read(2) itself is a raw system call: on the non-blocking descriptor
// it returns at once (data or EAGAIN, then the poller waits; Linux's tty
// layer only tries its read and write locks with O_NONBLOCK, n_tty_read
// and tty_write_lock), so the Go runtime need not treat it as one that
// may block. os.File.Read's
// syscall.Read enters the scheduler's syscall state, and the first such
// call after the process was idle wakes the runtime's monitor thread
// (sysmon), which then polls every 20 µs for at least a millisecond — on
// the AT port that is every answer of the modem.
func (p *pollPort) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	p.rb, p.rn, p.rerrno = b, 0, 0
	err := p.rc.Read(p.readFn)
	n, errno := p.rn, p.rerrno
	p.rb = nil
	switch {
	case err != nil:
		return 0, p.portErr(err)
	case errno != 0:
		return 0, &os.PathError{Op: "read", Path: p.f.Name(), Err: errno}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// rawRead is one read(2); false (EAGAIN) lets the poller wait.
func (p *pollPort) rawRead(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p.rb[0])), uintptr(len(p.rb)))
		if e == syscall.EINTR {
			continue
		}
		p.rn, p.rerrno = int(r), e
		return e != syscall.EAGAIN
	}
}

// Write writes all of b, waiting on the poller while the output queue is
// full; raw write(2)s on the non-blocking descriptor, as Read.
func (p *pollPort) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.wb, p.wdone, p.werrno = b, 0, 0
	err := p.rc.Write(p.writeFn)
	done, errno := p.wdone, p.werrno
	p.wb = nil
	switch {
	case err != nil:
		return done, p.portErr(err)
	case errno != 0:
		return done, &os.PathError{Op: "write", Path: p.f.Name(), Err: errno}
	}
	return done, nil
}

// rawWrite writes what is left of wb; false (EAGAIN: the output queue is
// full) lets the poller wait.
func (p *pollPort) rawWrite(fd uintptr) bool {
	for p.wdone < len(p.wb) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p.wb[p.wdone])), uintptr(len(p.wb)-p.wdone))
		switch e {
		case 0:
			p.wdone += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			p.werrno = e
			return true
		}
	}
	return true
}

// portErr gives the poller's errors as os.File's Read and Write do: a
// passed deadline is os.ErrDeadlineExceeded already, a closed port
// (the poller's "use of closed file") becomes os.ErrClosed.
func (p *pollPort) portErr(err error) error {
	if p.closed.Load() && !errors.Is(err, os.ErrDeadlineExceeded) {
		return os.ErrClosed
	}
	return err
}

// SetReadDeadline ends a pending Read at t (os.ErrDeadlineExceeded);
// the zero time waits for ever again.
func (p *pollPort) SetReadDeadline(t time.Time) error { return p.f.SetReadDeadline(t) }

// Close wakes a pending Read and closes both descriptors.
func (p *pollPort) Close() error {
	p.closed.Store(true)
	err := p.f.Close()
	if err2 := p.Port.Close(); err == nil {
		err = err2
	}
	return err
}
