package modem

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/config"
)

// A SIM800 on a UART usually needs RTS/CTS (SIM800 manual: AT+IFC=2,2 on
// the modem, CRTSCTS on the host). A pty carries no RTS/CTS lines, so this
// checks what can be checked on one: the setting reaches the port opener,
// the real opener switches CRTSCTS on in the port's termios, the modem's
// side is set by init_commands at every initialisation (also after a
// silent reset), and the modem works.
func TestFlowControlAndInitCommands(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM800"})
	var mu sync.Mutex
	var got []PortSettings
	var cflags []uint32
	rig.cfg.FlowControl = FlowRTSCTS
	rig.cfg.InitCommands = []string{"AT+IFC=2,2", "AT+CSCLK=0"}
	rig.cfg.PollInterval = 100 * time.Millisecond
	rig.cfg.OpenPort = func(path string, s PortSettings) (io.ReadWriteCloser, error) {
		p, err := OpenPort(path, s)
		if err != nil {
			return nil, err
		}
		fd, ok := portFD(p.(serial.Port))
		if !ok {
			t.Error("no descriptor")
			return p, nil
		}
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			t.Error(err)
			return p, nil
		}
		mu.Lock()
		got, cflags = append(got, s), append(cflags, tio.Cflag)
		mu.Unlock()
		return p, nil
	}
	m := rig.start(t)
	mu.Lock()
	if len(got) != 1 || got[0].FlowControl != FlowRTSCTS || got[0].Baud != 115200 {
		t.Fatalf("opener got %+v", got)
	}
	if cflags[0]&unix.CRTSCTS == 0 {
		t.Fatalf("CRTSCTS not set on the port (cflag %#x)", cflags[0])
	}
	mu.Unlock()
	countIFC := func() int {
		n := 0
		for _, l := range m.Trace() {
			if l.Dir == "out" && l.Text == "AT+IFC=2,2" {
				n++
			}
		}
		return n
	}
	if n := countIFC(); n != 1 {
		t.Fatalf("AT+IFC=2,2 sent %d times at start", n)
	}
	rig.rec.mu.Lock()
	before := len(rig.rec.states)
	rig.rec.mu.Unlock()
	rig.sim.SilentReset(false)
	rig.rec.wait(t, "re-initialisation", func() bool {
		return len(rig.rec.states) > before && rig.rec.states[len(rig.rec.states)-1] == StateOnline
	})
	if n := countIFC(); n != 2 {
		t.Fatalf("AT+IFC=2,2 sent %d times after a reset, want 2", n)
	}
	if _, err := m.Send(context.Background(), "+4917012345678", "over a UART", false); err != nil {
		t.Fatal(err)
	}
}

// An init command the modem refuses keeps it offline with an error naming
// the setting; an unknown flow control is refused by the opener.
func TestInitCommandRefused(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25"})
	rig.cfg.InitCommands = []string{"AT+IFC=2,2"} // the EC25 simulator does not know it
	_, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "init_commands[0] AT+IFC=2,2") {
		t.Fatalf("Open = %v", err)
	}
	if _, err := OpenPort(rig.sim.Path(), PortSettings{Baud: 115200, FlowControl: "xonxoff"}); err == nil || !strings.Contains(err.Error(), `"xonxoff"`) {
		t.Fatalf("OpenPort with xonxoff = %v", err)
	}
}

// ConfigFor carries the per-modem settings over from the configuration.
func TestConfigForSettings(t *testing.T) {
	t.Parallel()
	d := config.ModemDevice{Name: "a", Device: "/dev/ttyS1", Baud: 9600, FlowControl: "rtscts",
		InitCommands: []string{"AT+IFC=2,2"}, ResetCommand: "AT+CFUN=1,1", SendTimeout: 90e9}
	c := ConfigFor(config.Modems{CommandTimeout: 5e9}, d, nil, nil)
	if c.FlowControl != FlowRTSCTS || c.Baud != 9600 || c.SendTimeout != 90e9 || c.ResetCommand != "AT+CFUN=1,1" || len(c.InitCommands) != 1 {
		t.Fatalf("%+v", c)
	}
}
