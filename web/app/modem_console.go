package app

import (
	"context"
	"time"
)

// ModemConsole is the Modems page's installer tools for administrators: a
// modem's AT trace and an AT console. The daemon adapts its modem drivers.
type ModemConsole interface {
	// ModemTrace is the modem's last AT lines both ways, oldest first,
	// PINs and passwords masked; ErrUnknownModem for a wrong name.
	ModemTrace(ctx context.Context, modem string) ([]ATLine, error)
	// CheckAT classifies one typed command; an *ATInputError when it is
	// not one AT command.
	CheckAT(command string) (ATCheck, error)
	// RunAT runs one command on modem between its other work (never
	// during a send), waiting at most timeout. Commands CheckAT calls
	// ATConfirm run only with confirmed; ATRefused ones never.
	// ErrUnknownModem for a wrong name; other errors are the modem's
	// (offline, timeout).
	RunAT(ctx context.Context, modem, command string, timeout time.Duration, confirmed bool) (ATResult, error)
}

// ATLine is one line of a modem's AT trace.
type ATLine struct {
	At   time.Time
	Out  bool // sent to the modem (else received from it)
	Text string
}

// ATRisk is what a console command may do.
type ATRisk int

const (
	ATSafe    ATRisk = iota // only reads
	ATConfirm               // changes the modem: runs when confirmed
	ATRefused               // dials, carries a PIN, needs the prompt, chains
)

// ATCheck is the verdict on a typed command. Reason is a word the catalog
// explains ("at.reason.<word>"). Shown is the command with PINs masked.
type ATCheck struct {
	Risk   ATRisk
	Reason string
	Shown  string
}

// ATInputError: the text is not one AT command. Problem is "prefix",
// "length" or "chars" (catalog "at.err.<problem>").
type ATInputError struct{ Problem string }

func (e *ATInputError) Error() string { return "not one AT command (" + e.Problem + ")" }

// ATResult is the modem's answer to a console command.
type ATResult struct {
	Lines []string
	Final string // "OK", "ERROR", "+CME ERROR: 10", …
	Took  time.Duration
}

// ATConsoleTimeouts are the waits the form offers (seconds); the first is
// the default. AT+COPS=? (network scan) may take minutes.
var ATConsoleTimeouts = []int{10, 30, 180}
