package modemsim

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/warthog618/modem/at"
	"go.bug.st/serial"
)

// guard is the failure timeout for waits; never a pass condition.
const guard = 10 * time.Second

func newNet(t *testing.T, opts ...NetworkOption) *Network {
	t.Helper()
	n := NewNetwork(append([]NetworkOption{WithSeed(42)}, opts...)...)
	t.Cleanup(func() { n.Close() })
	return n
}

func addModem(t *testing.T, n *Network, cfg Config) *Modem {
	t.Helper()
	m, err := n.AddModem(context.Background(), cfg)
	if err != nil {
		t.Fatalf("AddModem: %v", err)
	}
	return m
}

// openAT opens the modem's pty like the driver does and wraps it in at.AT.
func openAT(t testing.TB, path string, opts ...at.Option) (*at.AT, serial.Port) {
	t.Helper()
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { p.Close() })
	// generous: only a guard; tests that expect a timeout ask for a short one
	a := at.New(p, append([]at.Option{at.WithTimeout(5 * time.Second)}, opts...)...)
	return a, p
}

func initAT(t *testing.T, a *at.AT) {
	t.Helper()
	if err := a.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
}

// mustCmd runs a command and returns its info lines. warthog618/modem
// v0.4.0 forwards an indication line to the command reader too (its
// indLoop's continue only skips the inner loop), so a URC that raced the
// command can show up in info; drivers must drop them, and so do we.
func mustCmd(t *testing.T, a *at.AT, cmd string) []string {
	t.Helper()
	info, err := a.Command(cmd)
	if err != nil {
		t.Fatalf("AT%s: %v", cmd, err)
	}
	return dropURCs(cmd, info)
}

var urcPrefixes = []string{"^RSSI:", "+CMTI:", "+CDSI:", "+CMT:", "+CDS:", "+CUSD:", "+CREG:", "+CEREG:", "RING"}

// dropURCs removes unsolicited lines, except the command's own answers
// (+CREG? answers with +CREG: too).
func dropURCs(cmd string, info []string) []string {
	out := info[:0:0]
next:
	for _, l := range info {
		for _, p := range urcPrefixes {
			if strings.HasPrefix(l, p) && !strings.HasPrefix(cmd+":", strings.TrimSuffix(p, ":")) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	cases := []struct {
		model, iccidCmd, iccidPrefix string
		manufacturer                 string
	}{
		{"EC25", "+QCCID", "+QCCID: ", "Quectel"},
		{"SIM7600", "+CICCID", "+ICCID: ", "SIMCOM INCORPORATED"},
		{"E3372", "^ICCID?", "^ICCID: ", "huawei"},
		{"SIM800", "+CCID", "", "SIMCOM_Ltd"},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			m := addModem(t, n, Config{Model: c.model})
			a, _ := openAT(t, m.Path())
			initAT(t, a)
			if got := mustCmd(t, a, "+CGMI"); len(got) != 1 || got[0] != c.manufacturer {
				t.Errorf("CGMI = %q, want %q", got, c.manufacturer)
			}
			if got := mustCmd(t, a, "+CGSN"); len(got) != 1 || got[0] != m.IMEI() {
				t.Errorf("CGSN = %q, want %q", got, m.IMEI())
			}
			if got := mustCmd(t, a, "+CIMI"); len(got) != 1 || got[0] != m.IMSI() {
				t.Errorf("CIMI = %q, want %q", got, m.IMSI())
			}
			got := mustCmd(t, a, c.iccidCmd)
			want := c.iccidPrefix + m.ICCID()
			if c.model == "E3372" {
				want = c.iccidPrefix + swapNibbles(m.ICCID())
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("%s = %q, want %q", c.iccidCmd, got, want)
			}
			if got := mustCmd(t, a, "+CNUM"); len(got) != 1 || !strings.Contains(got[0], `"`+m.Number()+`"`) {
				t.Errorf("CNUM = %q, want number %s", got, m.Number())
			}
			_, err := a.Command("+CEREG?")
			if c.model == "SIM800" {
				if !errors.Is(err, at.ErrError) {
					t.Errorf("SIM800 CEREG err = %v, want ERROR", err)
				}
			} else if err != nil {
				t.Errorf("CEREG: %v", err)
			}
		})
	}
}

func TestEchoAndErrors(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{})
	p, err := serial.Open(m.Path(), &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Write([]byte("AT+CMEE=2\r")); err != nil {
		t.Fatal(err)
	}
	want := "AT+CMEE=2\r\r\nOK\r\n"
	if got := readUntil(t, p, "OK\r\n"); got != want {
		t.Fatalf("echoed reply = %q, want %q", got, want)
	}
	p.Write([]byte("ATE0\r"))
	readUntil(t, p, "OK\r\n")
	p.Write([]byte("AT+CMGR=99\r"))
	if got := readUntil(t, p, "\r\n"+"+CMS ERROR: 321\r\n"); got != "\r\n+CMS ERROR: 321\r\n" {
		t.Fatalf("CMGR out of range = %q", got)
	}
	p.Write([]byte("AT+CPIN=\"0000\"\r"))
	if got := readUntil(t, p, "allowed\r\n"); got != "\r\n+CME ERROR: operation not allowed\r\n" {
		t.Fatalf("CPIN when ready = %q", got)
	}
	p.Write([]byte("AT+BOGUS\r"))
	if got := readUntil(t, p, "ERROR\r\n"); got != "\r\nERROR\r\n" {
		t.Fatalf("unknown command = %q", got)
	}
}

// waitBoot waits (guarded) for the modem's next boot after boots.
func waitBoot(t *testing.T, m *Modem, boots int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	p, err := m.WaitBoot(ctx, boots)
	if err != nil {
		t.Fatalf("waiting for reboot: %v", err)
	}
	return p
}

func serialOpen(path string) (serial.Port, error) {
	return serial.Open(path, &serial.Mode{BaudRate: 115200})
}

// readUntil reads from r until the data ends with suffix (guarded).
func readUntil(t *testing.T, r io.Reader, suffix string) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var b []byte
		buf := make([]byte, 256)
		for !strings.HasSuffix(string(b), suffix) {
			k, err := r.Read(buf)
			b = append(b, buf[:k]...)
			if err != nil {
				break
			}
		}
		done <- string(b)
	}()
	select {
	case s := <-done:
		return s
	case <-time.After(guard):
		t.Fatalf("timed out waiting for %q", suffix)
		return ""
	}
}

// TestWireDetails drives the raw byte stream: numeric results, chained
// commands, ESC cancelling a send, a bad PDU.
func TestWireDetails(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM7600"})
	p, err := serialOpen(m.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	steps := []struct{ send, want string }{
		{"ATE0+CMEE=2;+CSQ\r", "ATE0+CMEE=2;+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n"},
		{"AT+CMGS=20\r", "\r\n> "},
		{"0011\x1b", "\r\nOK\r\n"},
		{"AT+CMGS=3\r", "\r\n+CMS ERROR: 304\r\n"},
		{"AT+CMGS=8\r", "\r\n> "},
		{"ZZ\x1a", "\r\n+CMS ERROR: 304\r\n"},
		{"ATV0\r", "0\r"},
		{"AT+NOPE\r", "4\r"},
		{"AT+CPIN=\"1\"\r", "+CME ERROR: operation not allowed\r"},
		{"ATV1\r", "\r\nOK\r\n"},
		{"junk without prefix\rAT\r", "\r\nOK\r\n"},
	}
	for _, s := range steps {
		if _, err := p.Write([]byte(s.send)); err != nil {
			t.Fatal(err)
		}
		if got := readUntil(t, p, s.want); got != s.want {
			t.Fatalf("%q: got %q, want %q", s.send, got, s.want)
		}
	}
	if len(m.Sent()) != 0 {
		t.Fatal("cancelled or bad sends were recorded")
	}
}
