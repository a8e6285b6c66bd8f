package modem

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Files travel over the AT port raw: after "CONNECT" the file's bytes go
// to the modem (AT+QFUPL, AT+CMMSDOWN), and AT+CMMSREAD answers with a
// header line followed by the file's bytes. warthog618/modem's engine is
// line based, so the tap does both: it writes the data when it sees
// CONNECT, and takes the bytes after the header out of the stream.

// rawRead takes want bytes out of the input after a line with prefix.
type rawRead struct {
	prefix string
	line   []byte
	want   int
	inData bool
	got    []byte
	done   chan []byte
}

// armConnect makes the tap write data once the modem answers CONNECT.
func (t *tap) armConnect(data []byte) chan error {
	done := make(chan error, 1)
	t.mu.Lock()
	t.connectData, t.connectDone = data, done
	t.mu.Unlock()
	return done
}

func (t *tap) disarm() {
	t.mu.Lock()
	t.connectData, t.connectDone, t.rawRead = nil, nil, nil
	t.mu.Unlock()
}

// connected writes the armed data (pump goroutine). Writing from here
// holds further reading back until the modem took the data, as a UART
// would.
func (t *tap) connected() {
	t.mu.Lock()
	data, done := t.connectData, t.connectDone
	t.connectData, t.connectDone = nil, nil
	t.mu.Unlock()
	if done == nil {
		return
	}
	go func() {
		_, err := t.port.Write(data)
		t.trace.add(dirOut, []byte(fmt.Sprintf("<%d bytes of file data>\r", len(data))))
		done <- err
	}()
}

func (t *tap) armRead(prefix string) chan []byte {
	r := &rawRead{prefix: prefix, done: make(chan []byte, 1)}
	t.mu.Lock()
	t.rawRead = r
	t.mu.Unlock()
	return r.done
}

// filterRaw passes input on, minus the data of an armed raw read.
func (t *tap) filterRaw(b []byte) []byte {
	t.mu.Lock()
	r := t.rawRead
	t.mu.Unlock()
	if r == nil {
		return b
	}
	out := make([]byte, 0, len(b))
	for i, c := range b {
		if r.inData {
			r.got = append(r.got, c)
			if len(r.got) == r.want {
				t.mu.Lock()
				t.rawRead = nil
				t.mu.Unlock()
				r.done <- r.got
				return append(out, b[i+1:]...)
			}
			continue
		}
		out = append(out, c)
		switch c {
		case '\n':
			line := strings.TrimSpace(string(r.line))
			r.line = r.line[:0]
			if strings.HasPrefix(line, r.prefix) {
				f := strings.Split(line, ",")
				n, err := strconv.Atoi(strings.TrimSpace(f[len(f)-1]))
				if err != nil || n < 0 || n > 16<<20 {
					continue
				}
				if n == 0 {
					t.mu.Lock()
					t.rawRead = nil
					t.mu.Unlock()
					r.done <- nil
					return append(out, b[i+1:]...)
				}
				r.want, r.inData = n, true
				r.got = make([]byte, 0, n)
			}
		case '\r':
		default:
			if len(r.line) < 256 {
				r.line = append(r.line, c)
			}
		}
	}
	return out
}

// upload runs cmd, writes data after CONNECT and returns the command's
// info lines (the final result comes after the data).
func (m *Modem) upload(c *conn, cmd string, data []byte, timeout time.Duration) ([]string, error) {
	done := c.tap.armConnect(data)
	defer c.tap.disarm()
	info, err := c.cmd(cmd, timeout)
	if err != nil {
		return info, err
	}
	if !c.tap.connectTaken(done) {
		return info, fmt.Errorf("AT%s: the modem answered without CONNECT", cmd)
	}
	// CONNECT came: the data went out before the modem could answer, but
	// the writer may not have reported yet.
	select {
	case werr := <-done:
		if werr != nil {
			return info, fmt.Errorf("AT%s: writing %d bytes: %w", cmd, len(data), werr)
		}
	case <-time.After(timeout):
		return info, fmt.Errorf("AT%s: writing %d bytes: %w", cmd, len(data), ErrTimeout)
	}
	return info, nil
}

// connectTaken tells whether CONNECT took the data armed with done.
func (t *tap) connectTaken(done chan error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.connectDone != done
}

// readRaw runs cmd whose answer carries a file after a header line.
func (m *Modem) readRaw(c *conn, cmd, prefix string, timeout time.Duration) ([]byte, error) {
	done := c.tap.armRead(prefix)
	defer c.tap.disarm()
	if _, err := c.cmd(cmd, timeout); err != nil {
		return nil, err
	}
	select {
	case b := <-done:
		return b, nil
	default:
		return nil, fmt.Errorf("AT%s: no %s header with a size", cmd, prefix)
	}
}
