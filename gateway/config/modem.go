package config

import (
	"fmt"
	"regexp"
	"time"
)

// Modems configures the USB GSM/LTE modems and the in-process simulator.
type Modems struct {
	// Discover finds known modems (Quectel, SIMCom, Huawei) by USB VID/PID.
	Discover       bool          `yaml:"discover"`
	CommandTimeout time.Duration `yaml:"command_timeout"`
	InitTimeout    time.Duration `yaml:"init_timeout"`
	PollInterval   time.Duration `yaml:"poll_interval"`
	// Simulate starts this many simulated modems on ptys instead of (or
	// beside) real hardware. `make run` uses 2.
	Simulate int           `yaml:"simulate"`
	Devices  []ModemDevice `yaml:"devices"`
}

// ModemDevice is one modem (one SIM), bound by name to its configuration.
type ModemDevice struct {
	Name string `yaml:"name"`
	// Device is the AT port, e.g. /dev/ttyUSB2 or a udev symlink
	// /dev/pbxgate/modem-<imei>. Empty: found by IMEI through discovery.
	Device string `yaml:"device"`
	IMEI   string `yaml:"imei"`
	Baud   int    `yaml:"baud"`
	PIN    Secret `yaml:"pin"`
	// DeliveryReports requests a status report for every SMS.
	DeliveryReports bool `yaml:"delivery_reports"`
	// StoredReports keeps delivery reports in the modem's storage (+CDSI,
	// then AT+CMGR and AT+CMGD) also on Quectel and SIM800 modems, whose
	// reports are otherwise routed to pbxgate and acknowledged with
	// AT+CNMA: stored reports survive pbxgate crashing while the modem
	// keeps power, routed ones cost one AT command per report instead of
	// two (README "Delivery reports").
	StoredReports bool   `yaml:"stored_reports"`
	Pacing        Pacing `yaml:"pacing"`
	// SendTimeout bounds one AT+CMGS from the command to the modem's answer
	// (default 60s, at least command_timeout); see modem_settings.go.
	SendTimeout time.Duration `yaml:"send_timeout"`
	// InitCommands run after pbxgate's own settings at every
	// initialisation (also after a reset), e.g. "AT+IFC=2,2".
	InitCommands []string `yaml:"init_commands"`
	// ResetCommand restarts a modem that stopped answering (default
	// "AT+CFUN=1,1").
	ResetCommand string `yaml:"reset_command"`
	// FlowControl of a UART: "none" (default) or "rtscts".
	FlowControl string `yaml:"flow_control"`
	// MMS settings of the SIM (a carrier preset and overrides; mms.go).
	// Nil: the SIM sends no MMS.
	MMS *MMS `yaml:"mms"`
}

// Pacing protects a SIM from being blocked by its carrier.
type Pacing struct {
	PerMinute  int           `yaml:"per_minute"`
	DelayMin   time.Duration `yaml:"delay_min"`
	DelayMax   time.Duration `yaml:"delay_max"`
	DailyCap   int           `yaml:"daily_cap"`
	MonthlyCap int           `yaml:"monthly_cap"`
	// QuietHours like "22:00-07:00" (local time): nothing is sent then.
	QuietHours string `yaml:"quiet_hours"`
}

// SMSChannel groups modems (SIMs) into one sending channel.
type SMSChannel struct {
	Name   string   `yaml:"name"`
	Modems []string `yaml:"modems"`
	// MaxPerMinute is the most a campaign may ask of this channel.
	MaxPerMinute int `yaml:"max_per_minute"`
}

func defaultModems() Modems {
	return Modems{
		Discover:       true,
		CommandTimeout: 10 * time.Second,
		InitTimeout:    90 * time.Second,
		PollInterval:   30 * time.Second,
	}
}

var (
	nameRE       = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}$`)
	quietHoursRE = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$`)
	imeiRE       = regexp.MustCompile(`^\d{15}$`)
	pinRE        = regexp.MustCompile(`^\d{4,8}$`)
)

func (m *Modems) validate(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	if m.CommandTimeout < time.Second {
		add(key+".command_timeout", "%s is too short; use at least 1s", m.CommandTimeout)
	}
	if m.InitTimeout < m.CommandTimeout {
		add(key+".init_timeout", "must not be shorter than command_timeout")
	}
	if m.PollInterval < time.Second {
		add(key+".poll_interval", "%s is too short; use at least 1s", m.PollInterval)
	}
	if m.Simulate < 0 || m.Simulate > 16 {
		add(key+".simulate", "%d is out of range 0..16", m.Simulate)
	}
	seen := map[string]bool{}
	for i := range m.Devices {
		d := &m.Devices[i]
		k := fmt.Sprintf("%s.devices[%d]", key, i)
		if !nameRE.MatchString(d.Name) {
			add(k+".name", "%q must be 1-32 letters, digits, '.', '_' or '-'", d.Name)
		} else if seen[d.Name] {
			add(k+".name", "%q is used by another modem", d.Name)
		}
		seen[d.Name] = true
		if d.Device == "" && d.IMEI == "" {
			add(k, "needs device (e.g. /dev/ttyUSB2) or imei to find it")
		}
		if d.IMEI != "" && !imeiRE.MatchString(d.IMEI) {
			add(k+".imei", "%q is not a 15-digit IMEI", d.IMEI)
		}
		if d.PIN != "" && !pinRE.MatchString(d.PIN.Reveal()) {
			add(k+".pin", "must be 4 to 8 digits")
		}
		if d.Baud == 0 {
			d.Baud = 115200
		}
		ps = append(ps, d.Pacing.validate(k+".pacing")...)
		ps = append(ps, d.validateSettings(k, m.CommandTimeout)...)
	}
	return ps
}

func (p *Pacing) validate(key string) Problems {
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	if p.PerMinute < 0 {
		add(key+".per_minute", "must not be negative (0 means unlimited)")
	}
	if p.DelayMin < 0 || p.DelayMax < 0 {
		add(key, "delays must not be negative")
	}
	if p.DelayMax < p.DelayMin {
		add(key+".delay_max", "%s is shorter than delay_min %s", p.DelayMax, p.DelayMin)
	}
	if p.DailyCap < 0 {
		add(key+".daily_cap", "must not be negative (0 means no cap)")
	}
	if p.MonthlyCap < 0 {
		add(key+".monthly_cap", "must not be negative (0 means no cap)")
	}
	if p.QuietHours != "" && !quietHoursRE.MatchString(p.QuietHours) {
		add(key+".quiet_hours", "%q must look like 22:00-07:00", p.QuietHours)
	}
	return ps
}

func validateChannels(chs []SMSChannel, m *Modems) Problems {
	var ps Problems
	known := map[string]bool{}
	for _, d := range m.Devices {
		known[d.Name] = true
	}
	seen := map[string]bool{}
	for i, c := range chs {
		k := fmt.Sprintf("sms_channels[%d]", i)
		if !nameRE.MatchString(c.Name) {
			ps = append(ps, Problem{Key: k + ".name", Msg: fmt.Sprintf("%q must be 1-32 letters, digits, '.', '_' or '-'", c.Name)})
		} else if seen[c.Name] {
			ps = append(ps, Problem{Key: k + ".name", Msg: fmt.Sprintf("%q is used by another channel", c.Name)})
		}
		seen[c.Name] = true
		for j, mn := range c.Modems {
			if !known[mn] && m.Simulate == 0 {
				ps = append(ps, Problem{Key: fmt.Sprintf("%s.modems[%d]", k, j), Msg: fmt.Sprintf("no modem named %q under modems.devices", mn)})
			}
		}
		if c.MaxPerMinute < 0 {
			ps = append(ps, Problem{Key: k + ".max_per_minute", Msg: "must not be negative"})
		}
	}
	return ps
}
