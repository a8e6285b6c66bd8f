package modemsim

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// pollInterval bounds how long the reader blocks in poll(2), so that it
// notices a stop request; it also paces attach detection while no one has
// the port open (poll reports POLLHUP at once then).
const pollInterval = 20 * time.Millisecond

// ptyPort is the modem's side of a pty pair. The slave end is what a driver
// opens; we do not keep the slave open ourselves, so poll on the master
// reports POLLHUP whenever no driver has the port open ("detached"). Output
// written while detached is dropped like a USB modem's output while the
// port is closed, so a driver never reads stale lines after opening.
type ptyPort struct {
	master *os.File
	fd     int
	path   string

	attached atomic.Bool
	stop     atomic.Bool
	stopCh   chan struct{} // closed with stop
	done     chan struct{}

	in     chan []byte // bytes the driver wrote
	attach chan bool   // every change of attached, in order
	closed sync.Once
}

func openPort() (*ptyPort, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("modemsim: open pty: %w", err)
	}
	// Raw mode so CR, LF, Ctrl-Z and ESC pass unaltered whoever opens it.
	if err := makeRaw(int(slave.Fd())); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("modemsim: raw mode on %s: %w", slave.Name(), err)
	}
	path := slave.Name()
	slave.Close()
	var fd int
	rc, err := master.SyscallConn()
	if err != nil {
		master.Close()
		return nil, err
	}
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		master.Close()
		return nil, err
	}
	p := &ptyPort{
		master: master,
		fd:     fd,
		path:   path,
		done:   make(chan struct{}),
		stopCh: make(chan struct{}),
		in:     make(chan []byte, 64),
		attach: make(chan bool, 8),
	}
	go p.readLoop()
	return p, nil
}

func (p *ptyPort) readLoop() {
	defer close(p.done)
	buf := make([]byte, 4096)
	for !p.stop.Load() {
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(pollInterval/time.Millisecond))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if n == 0 {
			// Poll timed out without POLLHUP: someone has the slave open.
			p.setAttached(true)
			continue
		}
		re := fds[0].Revents
		if re&unix.POLLIN != 0 {
			p.setAttached(true)
			k, err := unix.Read(p.fd, buf)
			if k > 0 {
				b := append([]byte(nil), buf[:k]...)
				select {
				case p.in <- b:
				case <-p.stopCh:
					return
				}
			}
			if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EIO) {
				return
			}
			continue
		}
		if re&unix.POLLHUP != 0 {
			p.setAttached(false)
			time.Sleep(pollInterval / 2)
		}
	}
}

// setAttached records a change; the modem sees each transition, so a quick
// close and reopen is not mistaken for nothing having happened.
func (p *ptyPort) setAttached(v bool) {
	if p.attached.Swap(v) != v {
		select {
		case p.attach <- v:
		case <-p.stopCh:
		}
	}
}

// write sends b to the driver; it is dropped while nobody has the port open.
func (p *ptyPort) write(b []byte) {
	for len(b) > 0 && !p.stop.Load() {
		if !p.attached.Load() {
			return
		}
		n, err := unix.Write(p.fd, b)
		if n > 0 {
			b = b[n:]
		}
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLOUT}}
				_, _ = unix.Poll(fds, int(pollInterval/time.Millisecond))
				continue
			}
			return
		}
	}
}

// drain waits until the driver has read what we wrote (at most max), so
// the OK of AT+CFUN=1,1 is not flushed away by the hangup of close. It
// peeks at the slave's input queue through a second, non-blocking open.
// Written bytes reach that queue asynchronously (the kernel's flip buffer),
// so an empty queue only counts once it held data or after settle.
func (p *ptyPort) drain(max time.Duration) {
	const settle = 100 * time.Millisecond
	fd, err := unix.Open(p.path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		// e.g. EBUSY: the driver holds the port exclusively and we are not root
		time.Sleep(settle)
		return
	}
	defer unix.Close(fd)
	start := time.Now()
	seen := false
	for time.Since(start) < max {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
		if err != nil {
			return
		}
		if n > 0 {
			seen = true
		} else if seen || time.Since(start) >= settle {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// close makes the port vanish: the driver's reads fail and the /dev/pts
// path disappears.
func (p *ptyPort) close() {
	p.closed.Do(func() {
		p.stop.Store(true)
		close(p.stopCh)
		<-p.done // never close the fd under a poll that might see it reused
		p.master.Close()
	})
}

// makeRaw is cfmakeraw(3): no echo, no line editing, no CR/LF mapping, no
// signals, 8 bits.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
