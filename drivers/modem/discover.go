package modem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warthog618/modem/at"
	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// KnownModem is a USB modem pbxgate recognises and the USB interface that
// carries its AT command port (the others are diagnostics, NMEA, PPP).
type KnownModem struct {
	VID, PID    string // lower-case hex
	Name        string
	ATInterface int
	// Unusable explains why a recognised device cannot be driven (e.g. a
	// Huawei stick in HiLink network mode has no AT port).
	Unusable string
}

// KnownModems is the table Discover matches against. SIM800-class boards
// sit behind generic USB-UART bridges (CH340, CP210x, FTDI) that say
// nothing about what is attached: configure their device path.
func KnownModems() []KnownModem {
	return []KnownModem{
		{VID: "2c7c", PID: "0125", Name: "Quectel EC25/EG25", ATInterface: 2},
		{VID: "2c7c", PID: "0121", Name: "Quectel EC21", ATInterface: 2},
		{VID: "2c7c", PID: "0195", Name: "Quectel EG95", ATInterface: 2},
		{VID: "2c7c", PID: "0296", Name: "Quectel BG96", ATInterface: 2},
		{VID: "2c7c", PID: "0306", Name: "Quectel EP06/EG06", ATInterface: 2},
		{VID: "05c6", PID: "9215", Name: "Quectel EC20", ATInterface: 2},
		{VID: "1e0e", PID: "9001", Name: "SIMCom SIM7600", ATInterface: 2},
		{VID: "12d1", PID: "1506", Name: "Huawei E3372 (stick mode)", ATInterface: 2},
		{VID: "12d1", PID: "1001", Name: "Huawei E1550/E169 (stick mode)", ATInterface: 2},
		{VID: "12d1", PID: "1436", Name: "Huawei E173 (stick mode)", ATInterface: 2},
		{VID: "12d1", PID: "14dc", Name: "Huawei E3372 (HiLink mode)", ATInterface: -1,
			Unusable: "HiLink firmware has no AT port: switch the stick to stick (serial) mode"},
	}
}

// Candidate is a serial port that belongs to a known modem.
type Candidate struct {
	Path      string `json:"path"`
	VID       string `json:"vid"`
	PID       string `json:"pid"`
	Serial    string `json:"serial,omitempty"` // USB serial number
	Interface int    `json:"interface"`        // USB interface number, -1 unknown
	Model     string `json:"model"`
	// ATPort: this is the interface that answers AT commands. When the
	// interface number is unknown (not Linux) every port of the modem is
	// listed with ATPort false; Identify tells which one answers.
	ATPort   bool   `json:"at_port"`
	Unusable string `json:"unusable,omitempty"`
}

// Discover lists the serial ports of known modems. It reads USB IDs through
// go.bug.st/serial/enumerator and the interface number from sysfs (Linux).
func Discover(ctx context.Context) ([]Candidate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("list serial ports: %w", err)
	}
	return matchPorts(ports, "/sys"), nil
}

// matchPorts applies the table; sysfs is the sysfs root (a test tree in
// tests).
func matchPorts(ports []*enumerator.PortDetails, sysfs string) []Candidate {
	table := KnownModems()
	var out []Candidate
	for _, p := range ports {
		if p == nil || !p.IsUSB {
			continue
		}
		vid, pid := strings.ToLower(p.VID), strings.ToLower(p.PID)
		i := slices.IndexFunc(table, func(k KnownModem) bool { return k.VID == vid && k.PID == pid })
		if i < 0 {
			continue
		}
		k := table[i]
		ifn := interfaceNumber(sysfs, filepath.Base(p.Name))
		out = append(out, Candidate{
			Path: p.Name, VID: vid, PID: pid, Serial: p.SerialNumber, Interface: ifn, Model: k.Name,
			ATPort: k.Unusable == "" && ifn >= 0 && ifn == k.ATInterface, Unusable: k.Unusable,
		})
	}
	slices.SortFunc(out, func(a, b Candidate) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// interfaceNumber reads the USB interface number of a tty from sysfs:
// /sys/class/tty/<tty>/device is the interface (ttyACM) or a child of it
// (ttyUSB); the interface directory has bInterfaceNumber. -1 if unknown.
func interfaceNumber(sysfs, tty string) int {
	dev, err := filepath.EvalSymlinks(filepath.Join(sysfs, "class", "tty", tty, "device"))
	if err != nil {
		return -1
	}
	for _, dir := range []string{dev, filepath.Dir(dev)} {
		b, err := os.ReadFile(filepath.Join(dir, "bInterfaceNumber"))
		if err != nil {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 8)
		if err == nil {
			return int(n)
		}
	}
	return -1
}

// Identity is what a port says about the modem behind it.
type Identity struct {
	Path         string `json:"path"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	IMEI         string `json:"imei"`
}

// Identify opens path, asks for manufacturer, model and IMEI and closes it.
// Do not call it on a port a Modem has open.
func Identify(ctx context.Context, path string, baud int, timeout time.Duration) (Identity, error) {
	if baud == 0 {
		baud = 115200
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return Identity{}, fmt.Errorf("open %s: %w: %w", path, ErrOffline, err)
	}
	c := &conn{port: p, at: at.New(p, at.WithTimeout(timeout)), path: path}
	defer c.close()
	if err := c.at.Init(at.WithCmds("E0"), at.WithTimeout(timeout)); err != nil {
		return Identity{}, fmt.Errorf("%s does not answer AT commands: %w", path, commandErr("E0", err))
	}
	one := func(cmd string) string {
		info, err := c.cmd(cmd, timeout)
		if err != nil {
			return ""
		}
		return firstAnswer(info)
	}
	id := Identity{Path: path, Manufacturer: one("+CGMI"), Model: one("+CGMM"), IMEI: one("+CGSN")}
	if id.IMEI == "" {
		return id, fmt.Errorf("%s: no IMEI (AT+CGSN)", path)
	}
	return id, nil
}

// ErrNotFound: no port answered with the wanted IMEI.
var ErrNotFound = errors.New("modem not found")

// FindIMEI identifies each path in turn and returns the one whose modem has
// imei, so a configured modem keeps its settings whatever ttyUSB number it
// got. Paths that do not answer are skipped.
func FindIMEI(ctx context.Context, imei string, paths []string, baud int, timeout time.Duration) (string, error) {
	for _, p := range paths {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		id, err := Identify(ctx, p, baud, timeout)
		if err == nil && id.IMEI == imei {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no AT port answers with IMEI %s (tried %d)", ErrNotFound, imei, len(paths))
}

// LocateIMEI returns a Config.Locate that discovers known modems and picks
// the AT port whose IMEI is imei. inUse (may be nil) excludes ports other
// Modems have open, so they are never disturbed.
func LocateIMEI(imei string, baud int, timeout time.Duration, inUse func(path string) bool) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		cands, err := Discover(ctx)
		if err != nil {
			return "", err
		}
		return FindIMEI(ctx, imei, atPaths(cands, inUse), baud, timeout)
	}
}

// atPaths lists the ports worth probing: the AT interfaces, or every port
// of a known modem whose interface number is unknown.
func atPaths(cands []Candidate, inUse func(string) bool) []string {
	var out []string
	for _, c := range cands {
		if c.Unusable != "" || (inUse != nil && inUse(c.Path)) {
			continue
		}
		if c.ATPort || c.Interface < 0 {
			out = append(out, c.Path)
		}
	}
	return out
}
