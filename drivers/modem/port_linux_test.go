//go:build linux

package modem

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// The port OpenPort gives on Linux (pollPort: raw read(2)/write(2) on a
// non-blocking descriptor, waits on Go's poller) on a real pty: bytes both
// ways, a write larger than the pty's queue completes while the peer reads
// (EAGAIN, then the poller), a read deadline ends a pending Read
// (os.ErrDeadlineExceeded) and the next Read waits again, Close ends a
// pending Read (os.ErrClosed), and a hung-up peer reads io.EOF — what the
// tap and warthog618/modem's engine rely on.
func TestPollPort(t *testing.T) {
	t.Parallel()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	// Raw, as a modem's port: no echo, no line editing, no CR/LF mapping.
	tio.Iflag &^= unix.ICRNL | unix.IXON | unix.INLCR | unix.IGNCR
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	rw, err := OpenPort(slave.Name(), PortSettings{Baud: 115200})
	if err != nil {
		t.Fatal(err)
	}
	slave.Close()
	p, ok := rw.(*pollPort)
	if !ok {
		t.Fatalf("OpenPort gave %T, not the poller's port", rw)
	}

	// Modem → driver.
	if _, err := master.Write([]byte("\r\nOK\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, err := p.Read(buf)
	if err != nil || string(buf[:n]) != "\r\nOK\r\n" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}

	// Driver → modem, more than the pty holds at once (4 KiB here): the
	// write waits for the peer to read.
	big := bytes.Repeat([]byte("0011000B914971021436F50000AA"), 3000)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 0, len(big))
		chunk := make([]byte, 4096)
		for len(b) < len(big) {
			n, err := master.Read(chunk)
			if err != nil {
				break
			}
			b = append(b, chunk[:n]...)
		}
		got <- b
	}()
	if n, err := p.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write = %d of %d, %v", n, len(big), err)
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("the peer read %d bytes, not the %d written", len(b), len(big))
	}

	// A deadline ends a pending Read; cleared, Read waits for data again.
	if err := p.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %v", err)
	}
	if err := p.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		master.Write([]byte("> "))
	}()
	if n, err := p.Read(buf); err != nil || string(buf[:n]) != "> " {
		t.Fatalf("Read after the deadline was cleared = %q, %v", buf[:n], err)
	}

	// Close ends a pending Read.
	done := make(chan error, 1)
	go func() {
		_, err := p.Read(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Read ended by Close = %v", err)
		}
	case <-time.After(5 * time.Second): // guard only
		t.Fatal("Close did not end the pending Read")
	}

	// A peer that hangs up (the modem unplugged) reads io.EOF.
	master2, slave2, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	rw2, err := OpenPort(slave2.Name(), PortSettings{Baud: 115200})
	slave2.Close()
	if err != nil {
		master2.Close()
		t.Fatal(err)
	}
	defer rw2.Close()
	master2.Close()
	if _, err := rw2.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("Read from a hung-up port = %v, want io.EOF", err)
	}
}
