package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Per-modem settings: every mistake names its key and line.
func TestModemSettingsProblems(t *testing.T) {
	t.Parallel()
	y := `modems:
  command_timeout: 5s
  devices:
    - name: sim800
      device: /dev/ttyS1
      baud: 115201
      flow_control: xonxoff
      send_timeout: 2s
      reset_command: "CFUN=1,1"
      init_commands:
        - AT+IFC=2,2
        - "ATZ"
        - AT+CMGF=1;+CSCS="GSM"
        - ""
        - AT+CPIN="1234"
`
	_, err := Parse([]byte(y), nil)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		"line 6: modems.devices[0].baud: 115201 is not a UART speed",
		`line 7: modems.devices[0].flow_control: "xonxoff": use none or rtscts`,
		"line 8: modems.devices[0].send_timeout: 2s is shorter than command_timeout 5s",
		`line 9: modems.devices[0].reset_command: "CFUN=1,1" must start with AT`,
		`line 12: modems.devices[0].init_commands[1]: "ATZ" is not allowed here: ATZ resets every setting pbxgate made`,
		`line 13: modems.devices[0].init_commands[2]: "AT+CMGF=1;+CSCS=\"GSM\"" is not allowed here: pbxgate sends and reads in PDU mode`,
		"line 14: modems.devices[0].init_commands[3]: is empty",
		"line 15: modems.devices[0].init_commands[4]",
	}
	for _, w := range want {
		found := false
		for _, p := range ps {
			found = found || strings.Contains(p.String(), w)
		}
		if !found {
			t.Errorf("no problem contains %q; got:\n%v", w, ps)
		}
	}
	for _, p := range ps {
		if strings.Contains(p.String(), "1234") {
			t.Errorf("a problem repeats the PIN: %s", p)
		}
		if strings.Contains(p.Key, "init_commands[0]") {
			t.Errorf("AT+IFC=2,2 is fine: %s", p)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(want), ps)
	}
}

func TestModemSettingsValid(t *testing.T) {
	t.Parallel()
	y := `modems:
  devices:
    - name: sim800
      device: /dev/ttyS1
      baud: 9600
      flow_control: RTSCTS
      send_timeout: 2m
      reset_command: AT+CFUN=1,1
      init_commands: ["AT+IFC=2,2", "AT+CSCLK=0"]
    - name: ec25
      device: /dev/ttyUSB2
`
	c, err := Parse([]byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Modems.Devices[0]
	if d.FlowControl != FlowRTSCTS || d.SendTimeout != 2*time.Minute || d.Baud != 9600 || len(d.InitCommands) != 2 {
		t.Fatalf("device %+v", d)
	}
	if e := c.Modems.Devices[1]; e.FlowControl != FlowNone || e.Baud != 115200 || e.SendTimeout != 0 {
		t.Fatalf("defaults %+v", e)
	}
}
