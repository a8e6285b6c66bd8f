package modem

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"go.bug.st/serial/enumerator"
)

// fakeSysfs builds the sysfs layout of USB serial ports: ttyUSB devices
// sit below their interface directory, ttyACM devices are the interface.
func fakeSysfs(t *testing.T, ttys map[string]int, acm bool) string {
	t.Helper()
	root := t.TempDir()
	for tty, ifn := range ttys {
		iface := filepath.Join(root, "devices", "pci0000:00", "usb1", "1-1", "1-1:1."+string(rune('0'+ifn)))
		dev := iface
		if !acm {
			dev = filepath.Join(iface, tty)
		}
		if err := os.MkdirAll(dev, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(iface, "bInterfaceNumber"), []byte("0"+string(rune('0'+ifn))+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(root, "class", "tty", tty)
		if err := os.MkdirAll(link, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(dev, filepath.Join(link, "device")); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestMatchPorts(t *testing.T) {
	t.Parallel()
	sysfs := fakeSysfs(t, map[string]int{"ttyUSB0": 0, "ttyUSB1": 1, "ttyUSB2": 2, "ttyUSB3": 3, "ttyUSB4": 2, "ttyUSB5": 0}, false)
	usb := func(name, vid, pid string) *enumerator.PortDetails {
		return &enumerator.PortDetails{Name: "/dev/" + name, IsUSB: true, VID: vid, PID: pid, SerialNumber: "SN" + name}
	}
	ports := []*enumerator.PortDetails{
		usb("ttyUSB0", "2C7C", "0125"), usb("ttyUSB1", "2C7C", "0125"), usb("ttyUSB2", "2C7C", "0125"), usb("ttyUSB3", "2C7C", "0125"),
		usb("ttyUSB4", "1e0e", "9001"),
		usb("ttyUSB5", "1a86", "7523"), // CH340 USB-UART: a SIM800 maybe, but unknowable
		{Name: "/dev/ttyS0"},           // not USB
		usb("ttyUSB9", "12d1", "14dc"), // HiLink, no sysfs entry
	}
	got := matchPorts(ports, sysfs)
	byPath := map[string]Candidate{}
	for _, c := range got {
		byPath[c.Path] = c
	}
	if len(got) != 6 {
		t.Fatalf("candidates %+v", got)
	}
	if c := byPath["/dev/ttyUSB2"]; !c.ATPort || c.Interface != 2 || c.Model != "Quectel EC25/EG25" || c.VID != "2c7c" || c.Serial != "SNttyUSB2" {
		t.Fatalf("EC25 AT port: %+v", c)
	}
	for _, p := range []string{"/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB3"} {
		if byPath[p].ATPort {
			t.Fatalf("%s is not the EC25's AT port: %+v", p, byPath[p])
		}
	}
	if c := byPath["/dev/ttyUSB4"]; !c.ATPort || c.Model != "SIMCom SIM7600" {
		t.Fatalf("SIM7600: %+v", c)
	}
	if c := byPath["/dev/ttyUSB9"]; c.Unusable == "" || c.ATPort || c.Interface != -1 {
		t.Fatalf("HiLink: %+v", c)
	}
	if _, ok := byPath["/dev/ttyUSB5"]; ok {
		t.Fatal("a generic USB-UART must not be guessed to be a modem")
	}
	paths := atPaths(got, func(p string) bool { return p == "/dev/ttyUSB4" })
	if len(paths) != 1 || paths[0] != "/dev/ttyUSB2" {
		t.Fatalf("atPaths = %v, want the EC25's AT port only (SIM7600 in use, HiLink unusable)", paths)
	}
}

func TestInterfaceNumberACM(t *testing.T) {
	t.Parallel()
	sysfs := fakeSysfs(t, map[string]int{"ttyACM0": 3}, true)
	if n := interfaceNumber(sysfs, "ttyACM0"); n != 3 {
		t.Fatalf("ttyACM0 interface %d", n)
	}
	if n := interfaceNumber(sysfs, "ttyACM9"); n != -1 {
		t.Fatalf("missing tty: %d", n)
	}
}

func TestFindIMEI(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	net := modemsim.NewNetwork()
	defer net.Close()
	var paths []string
	var sims []*modemsim.Modem
	for _, model := range []string{"EC25", "SIM7600", "E3372"} {
		s, err := net.AddModem(ctx, modemsim.Config{Model: model})
		if err != nil {
			t.Fatal(err)
		}
		sims = append(sims, s)
		paths = append(paths, s.Path())
	}
	id, err := Identify(ctx, paths[1], 0, 2*time.Second)
	if err != nil || id.IMEI != sims[1].IMEI() || id.Model == "" {
		t.Fatalf("Identify = %+v, %v", id, err)
	}
	got, err := FindIMEI(ctx, sims[2].IMEI(), append([]string{"/dev/nonexistent-tty"}, paths...), 0, 2*time.Second)
	if err != nil || got != paths[2] {
		t.Fatalf("FindIMEI = %q, %v; want %s", got, err, paths[2])
	}
	if _, err := FindIMEI(ctx, "000000000000000", paths, 0, 2*time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown IMEI: %v", err)
	}
}
