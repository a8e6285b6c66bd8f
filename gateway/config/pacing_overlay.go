package config

import (
	"fmt"
	"strings"
)

// ValidatePacing checks pacing an administrator entered in the portal by
// the rules of modems.devices[].pacing, plus one the SMS pool enforces at
// start: quiet hours must not start and end at the same minute. Problems
// name keys under key (key+".daily_cap", key+".quiet_hours", …; key alone
// for negative delays). It returns nil when p is fine.
func ValidatePacing(key string, p Pacing) error {
	ps := p.validate(key)
	if p.QuietHours != "" && quietHoursRE.MatchString(p.QuietHours) {
		if from, to, _ := strings.Cut(p.QuietHours, "-"); from == to {
			ps = append(ps, Problem{Key: key + ".quiet_hours", Msg: fmt.Sprintf("%q starts and ends at the same time; leave it empty to send around the clock", p.QuietHours)})
		}
	}
	if len(ps) > 0 {
		return ps
	}
	return nil
}

// ModemPacing returns the pacing the configuration gives modem name, and
// whether a modems.devices entry has that name. Simulated modems
// (modems.simulate) have none and run unpaced.
func (c Config) ModemPacing(name string) (Pacing, bool) {
	for _, d := range c.Modems.Devices {
		if d.Name == name {
			return d.Pacing, true
		}
	}
	return Pacing{}, false
}
