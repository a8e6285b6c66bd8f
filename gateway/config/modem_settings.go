package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Flow control values of modems.devices[].flow_control.
const (
	FlowNone   = "none"
	FlowRTSCTS = "rtscts"
)

// Baud rates a UART modem can be set to (V.250 +IPR values common to
// Quectel, SIMCom and Huawei modems).
var baudRates = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// forbiddenInit are commands that would undo what pbxgate relies on, with
// the reason shown to the installer.
var forbiddenInit = []struct{ prefix, why string }{
	{"Z", "ATZ resets every setting pbxgate made"},
	{"&F", "AT&F restores factory settings and undoes pbxgate's"},
	{"E1", "pbxgate needs echo off (ATE0)"},
	{"V0", "pbxgate needs verbose result codes (ATV1)"},
	{"Q1", "pbxgate needs result codes (ATQ0)"},
	{"+CMGF=1", "pbxgate sends and reads in PDU mode (AT+CMGF=0)"},
	{"+CMEE=0", "pbxgate needs numeric error codes (AT+CMEE=1)"},
	{"+CMEE=2", "pbxgate needs numeric error codes (AT+CMEE=1)"},
	{"+CPIN", "give the PIN as modems.devices[].pin or PBXGATE_MODEM_PIN_<NAME>, never in a command"},
	{"+CLCK", "SIM locks are not changed by pbxgate; use a phone"},
	{"+CPWD", "SIM passwords are not changed by pbxgate; use a phone"},
	{"+CFUN=1,1", "this restarts the modem at every initialisation; use reset_command for it"},
}

// checkATCommand validates one installer-given AT command line.
func checkATCommand(cmd string) string {
	switch {
	case strings.TrimSpace(cmd) == "":
		return "is empty"
	case len(cmd) > 256:
		return fmt.Sprintf("is %d characters long; at most 256", len(cmd))
	case len(cmd) < 2 || !strings.EqualFold(cmd[:2], "AT"):
		return fmt.Sprintf("%q must start with AT, e.g. AT+IFC=2,2", cmd)
	}
	for _, r := range cmd {
		if r < 0x20 || r > 0x7e {
			return fmt.Sprintf("%q may only hold printable ASCII characters (no line breaks, no Ctrl-Z)", cmd)
		}
	}
	return ""
}

// validateSettings checks the per-modem settings installers bring from
// Kannel or smstools: send_timeout, init_commands, reset_command,
// flow_control and baud. Defaults are filled in.
func (d *ModemDevice) validateSettings(key string, commandTimeout time.Duration) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	if !slices.Contains(baudRates, d.Baud) {
		add(key+".baud", "%d is not a UART speed modems use; one of %v (USB modems ignore it)", d.Baud, baudRates)
	}
	switch {
	case d.SendTimeout == 0:
	case d.SendTimeout < 0:
		add(key+".send_timeout", "must not be negative (0 means 60s)")
	case d.SendTimeout < commandTimeout:
		add(key+".send_timeout", "%s is shorter than command_timeout %s", d.SendTimeout, commandTimeout)
	case d.SendTimeout > 10*time.Minute:
		add(key+".send_timeout", "%s is longer than 10m; a modem that has not answered by then has hung", d.SendTimeout)
	}
	for i, cmd := range d.InitCommands {
		k := fmt.Sprintf("%s.init_commands[%d]", key, i)
		if msg := checkATCommand(cmd); msg != "" {
			add(k, "%s", msg)
			continue
		}
		body := strings.ToUpper(strings.ReplaceAll(cmd[2:], " ", ""))
		for _, part := range strings.Split(body, ";") {
			for _, f := range forbiddenInit {
				if part == f.prefix || (strings.HasPrefix(f.prefix, "+") && strings.HasPrefix(part, f.prefix)) {
					shown := fmt.Sprintf("%q", cmd)
					if f.prefix == "+CPIN" || f.prefix == "+CLCK" || f.prefix == "+CPWD" {
						shown = "AT" + f.prefix // never repeat a PIN
					}
					add(k, "%s is not allowed here: %s", shown, f.why)
				}
			}
		}
	}
	if d.ResetCommand != "" {
		if msg := checkATCommand(d.ResetCommand); msg != "" {
			add(key+".reset_command", "%s", msg)
		}
	}
	switch strings.ToLower(d.FlowControl) {
	case "":
		d.FlowControl = FlowNone
	case FlowNone, FlowRTSCTS:
		d.FlowControl = strings.ToLower(d.FlowControl)
	default:
		add(key+".flow_control", "%q: use none or rtscts (RTS/CTS hardware flow control, e.g. a SIM800 on a UART with AT+IFC=2,2)", d.FlowControl)
	}
	return ps
}
