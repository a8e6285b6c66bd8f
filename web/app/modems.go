package app

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
)

// ModemPacing lets administrators change each SIM's pacing and caps on the
// Modems page. The daemon applies a change to the running SMS pool at once
// (what a SIM sent today and this month keeps counting against the new
// caps) and stores it for the next start.
type ModemPacing interface {
	// ModemPacing lists every SIM with the pacing it runs with and its use
	// of the caps, sorted by name.
	ModemPacing(ctx context.Context) ([]SIMPacing, error)
	// SetModemPacing validates p, applies it to modem and stores it. A
	// config.Problems error names keys pacing.<field> (pacing.daily_cap,
	// pacing.quiet_hours, …; "pacing" alone for negative delays);
	// ErrUnknownModem when no SIM has that name.
	SetModemPacing(ctx context.Context, modem string, p config.Pacing, by string) error
	// ResetModemPacing returns modem to the configuration file's pacing,
	// at once.
	ResetModemPacing(ctx context.Context, modem, by string) error
}

// ErrUnknownModem: no modem (SIM) has the name.
var ErrUnknownModem = errors.New("no such modem")

// SIMPacing is one SIM's pacing as the portal shows it.
type SIMPacing struct {
	Modem  string
	Pacing config.Pacing // what runs now
	File   config.Pacing // modems.devices[].pacing (zero for simulated modems)
	// Changed: the pacing was set in the portal, by By at At.
	Changed bool
	By      string
	At      time.Time
	// SentToday and SentMonth are SMS parts counted against the caps.
	SentToday, SentMonth int
	// Blocked is why the SIM holds its queue now: "daily_cap",
	// "monthly_cap", "quiet" or "" (offline modems are shown above).
	Blocked string
}

// ParsePacingDuration reads "5s", "1m30s", or a bare number of seconds;
// empty is 0.
func ParsePacingDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, errors.New("negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("not a duration")
	}
	return d, nil
}

// PacingProblemField maps a problem key (pacing.daily_cap) to its form
// field and the message the reader gets there.
func PacingProblemField(key string) (field, msg string) {
	switch strings.TrimPrefix(key, "pacing.") {
	case "per_minute", "daily_cap", "monthly_cap":
		return strings.TrimPrefix(key, "pacing."), "pacing.err.number"
	case "delay_max":
		return "delay_max", "pacing.err.delay_order"
	case "quiet_hours":
		return "quiet_hours", "pacing.err.quiet_hours"
	}
	return "delay_min", "pacing.err.duration"
}
