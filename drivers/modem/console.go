package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ConsoleRisk says what typing a command into the AT console may do.
type ConsoleRisk int

const (
	// ConsoleSafe commands only read (queries "?", tests "=?", ATI, AT+CSQ …).
	ConsoleSafe ConsoleRisk = iota
	// ConsoleConfirm commands change the modem (reset, factory defaults,
	// radio off, a setting pbxgate relies on, deleting messages): they run
	// only when the administrator confirms, and pbxgate restores its own
	// setup afterwards.
	ConsoleConfirm
	// ConsoleRefused commands never run from the console: they dial or
	// answer calls, carry a PIN/PUK/password (it would end up in the audit
	// log), need the "> " prompt, or chain several commands.
	ConsoleRefused
)

// ConsoleCheck is the verdict on one console command. Reason is a short
// word the portal translates: "reset", "setup", "delete", "network",
// "call", "secret", "prompt", "chain" ("" for safe commands).
type ConsoleCheck struct {
	Command string // as it will be sent, "AT" prefix upper-cased, trimmed
	Shown   string // Command with PINs and passwords masked (logs, audit)
	Risk    ConsoleRisk
	Reason  string
}

// ErrConsoleInput: the text typed is not one AT command, or the command
// is refused or needs confirmation.
var ErrConsoleInput = errors.New("AT console")

// ConsoleInputError says why a line is not one AT command: Problem is
// "prefix" (no AT), "length" (over ConsoleMaxLen) or "chars" (not
// printable ASCII: line breaks, Ctrl-Z, umlauts).
type ConsoleInputError struct{ Problem, Detail string }

func (e *ConsoleInputError) Error() string { return "not one AT command: " + e.Detail }
func (e *ConsoleInputError) Unwrap() error { return ErrConsoleInput }

// ConsoleMaxLen is the longest command the console accepts (V.250 §5.2.1
// requires DCEs to take at least 40 characters; 3GPP TS 27.007 modems take
// far more, 256 is enough for any setting).
const ConsoleMaxLen = 256

// CheckConsole checks a line typed into the AT console: it must be one AT
// command (printable ASCII, starting with AT, at most ConsoleMaxLen
// characters) and is classified by what it does. The error wraps
// ErrConsoleInput.
func CheckConsole(line string) (ConsoleCheck, error) {
	line = strings.TrimSpace(line)
	if len(line) < 2 || !strings.EqualFold(line[:2], "AT") {
		return ConsoleCheck{}, &ConsoleInputError{"prefix", "it must start with AT, e.g. AT+CSQ"}
	}
	if len(line) > ConsoleMaxLen {
		return ConsoleCheck{}, &ConsoleInputError{"length", fmt.Sprintf("longer than %d characters", ConsoleMaxLen)}
	}
	for _, r := range line {
		if r < 0x20 || r > 0x7e {
			return ConsoleCheck{}, &ConsoleInputError{"chars", "only printable ASCII characters, no line breaks or Ctrl-Z"}
		}
	}
	cmd := "AT" + line[2:]
	body := line[2:]
	ck := ConsoleCheck{Command: cmd, Shown: mask(cmd)}
	if body == "" {
		return ck, nil // plain AT
	}
	if chained(body) {
		ck.Risk, ck.Reason = ConsoleRefused, "chain"
		return ck, nil
	}
	switch body[0] {
	case '+', '^', '$', '#', '*', '%':
		ck.Risk, ck.Reason = extendedRisk(body)
	default:
		ck.Risk, ck.Reason = basicRisk(body)
	}
	return ck, nil
}

// chained: a ';' outside quotes joins commands (V.250 §5.4.1); ATD uses it
// for voice calls, which are refused anyway.
func chained(body string) bool {
	quoted := false
	for _, c := range body {
		switch c {
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				return true
			}
		}
	}
	return false
}

func worse(r ConsoleRisk, reason string, r2 ConsoleRisk, reason2 string) (ConsoleRisk, string) {
	if r2 > r {
		return r2, reason2
	}
	return r, reason
}

// basicRisk classifies V.250 basic commands, which may follow each other
// without a separator (ATE0V1): D, A and O (dial, answer, return to a
// call) are refused; Z and &F reset; I and &V read; any other changes a
// setting (echo, verbose results, S-registers, &W).
func basicRisk(body string) (ConsoleRisk, string) {
	u := strings.ToUpper(body)
	risk, reason := ConsoleSafe, ""
	for i := 0; i < len(u); {
		name := string(u[i])
		if u[i] == '&' && i+1 < len(u) {
			name = u[i : i+2]
		}
		i += len(name)
		if name == "S" { // S-register: Sn? reads, Sn=v sets
			for i < len(u) && u[i] >= '0' && u[i] <= '9' {
				i++
			}
			if i < len(u) && u[i] == '?' {
				i++
				continue
			}
			if i < len(u) && u[i] == '=' {
				i++
			}
		}
		switch name {
		case "D", "A", "O":
			return ConsoleRefused, "call"
		case "Z", "&F":
			risk, reason = worse(risk, reason, ConsoleConfirm, "reset")
		case "I", "&V", "H":
		default:
			risk, reason = worse(risk, reason, ConsoleConfirm, "setup")
		}
		for i < len(u) && u[i] >= '0' && u[i] <= '9' {
			i++
		}
	}
	return risk, reason
}

// extendedRisk classifies one extended command (+CSQ, ^SYSINFO, +QCFG=…).
// Reads ("?" and "=?") are safe except where the command itself is
// refused.
func extendedRisk(body string) (ConsoleRisk, string) {
	u := strings.ToUpper(body)
	name, op := u, ""
	if i := strings.IndexAny(u, "=?"); i >= 0 {
		name, op = u[:i], u[i:]
	}
	read := op == "?" || op == "=?"
	switch name {
	case "+CMGS", "+CMGW", "+CMGC", "+CMSS":
		if op == "=?" {
			return ConsoleSafe, ""
		}
		return ConsoleRefused, "prompt"
	case "+CPIN", "+CPIN2", "^CPIN", "+CPWD":
		if read {
			return ConsoleSafe, ""
		}
		return ConsoleRefused, "secret"
	case "+CLCK":
		// AT+CLCK=<fac>,2 only queries the lock; any other mode carries
		// the password (3GPP TS 27.007 §7.4).
		if read {
			return ConsoleSafe, ""
		}
		if f := strings.Split(strings.TrimPrefix(op, "="), ","); len(f) == 2 && strings.TrimSpace(f[1]) == "2" {
			return ConsoleSafe, ""
		}
		return ConsoleRefused, "secret"
	case "+CHLD", "+VTS", "+CDV":
		if read {
			return ConsoleSafe, ""
		}
		return ConsoleRefused, "call"
	}
	if read {
		return ConsoleSafe, ""
	}
	switch name {
	case "+CFUN", "+CRESET", "+QPOWD", "+CPOF", "+CPOWD", "^RESET", "+QRST", "$QCPWRDN", "+CPWROFF", "+TRB", "^CPWROFF":
		return ConsoleConfirm, "reset"
	case "+CMGD", "+CMGDA", "+QMGDA", "+CPBW":
		return ConsoleConfirm, "delete"
	case "+COPS", "+CGATT", "+CSCA", "+CBAND", "+QCFG", "^SYSCFG", "^SYSCFGEX", "+CNMP", "+CNBP":
		return ConsoleConfirm, "network"
	case "+CMEE", "+CMGF", "+CNMI", "+CPMS", "+CSCS", "+CSMS", "+CSMP", "+IPR", "+IFC", "+ICF", "+CMMS", "+CREG", "+CEREG", "+CGREG", "^CURC", "+QURCCFG", "+CSDH", "+CSCB":
		return ConsoleConfirm, "setup"
	}
	return ConsoleSafe, ""
}

// ConsoleResult is what the modem answered a console command.
type ConsoleResult struct {
	Command string   // as sent, PIN-like parameters masked
	Lines   []string // information lines (unsolicited lines removed)
	Final   string   // "OK", "ERROR", "+CME ERROR: 10", … or "" on timeout
	Took    time.Duration
}

// Console runs one AT command typed by the administrator. It runs between
// the modem's other work (the same lock as sends, reads and USSD), never
// concurrently with them, and waits at most timeout (at most 3 minutes;
// <= 0 means the command timeout). Refused commands return an error
// wrapping ErrConsoleInput; ConsoleConfirm commands run only with confirmed
// set, after which the whole setup is restored (PDU mode, storage,
// indications, init commands). A timeout does not mark the modem hung (a
// slow command like AT+COPS=? is no hang); the poll still notices a real
// one. The modem may be online or still registering, not offline.
func (m *Modem) Console(ctx context.Context, line string, timeout time.Duration, confirmed bool) (ConsoleResult, error) {
	ck, err := CheckConsole(line)
	if err != nil {
		return ConsoleResult{}, err
	}
	res := ConsoleResult{Command: ck.Shown}
	switch {
	case ck.Risk == ConsoleRefused:
		return res, fmt.Errorf("%w: %s is refused in the console (%s)", ErrConsoleInput, res.Command, ck.Reason)
	case ck.Risk == ConsoleConfirm && !confirmed:
		return res, fmt.Errorf("%w: %s needs confirmation (%s)", ErrConsoleInput, res.Command, ck.Reason)
	}
	if timeout <= 0 {
		timeout = m.cfg.CommandTimeout
	}
	timeout = min(timeout, 3*time.Minute)
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	c, err := m.current()
	if err != nil {
		return res, err
	}
	// The admin reads the default memory, as after set-up, when the driver
	// left another one selected for reading reports; afterwards the
	// selection is not known (the command may have changed it).
	if def := m.dialectNow().storage; c.readMem != "" && c.readMem != def {
		m.mu.Lock()
		three := m.dialect.cpms3
		m.mu.Unlock()
		sel := fmt.Sprintf(`+CPMS="%s"`, def)
		if three {
			sel = fmt.Sprintf(`+CPMS="%s","%s","%s"`, def, def, def)
		}
		if _, err := c.cmd(sel, timeout); err == nil {
			c.readMem = def
		}
	}
	start := time.Now()
	info, err := c.cmd(ck.Command[2:], timeout)
	c.readMem = ""
	res.Took = time.Since(start)
	res.Lines = info
	var ce *CommandError
	var cms *CMSError
	switch {
	case err == nil:
		res.Final = "OK"
	case errors.As(err, &ce):
		res.Final = "ERROR"
		if ce.Kind == "CME" {
			res.Final = "+CME ERROR: " + ce.Text
		}
		err = nil
	case errors.As(err, &cms):
		res.Final = "+CMS ERROR: " + cms.Text
		err = nil
	}
	if ck.Risk == ConsoleConfirm && res.Final != "" {
		m.log.Warn("AT console changed the modem; restoring pbxgate's setup", "command", res.Command)
		m.events.push([]string{consoleEvent, res.Command})
	}
	return res, err
}

// consoleEvent heads the event queued after a console command changed the
// modem: Run initialises it again.
const consoleEvent = "\x00console"
