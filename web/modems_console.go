package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/users"
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

// atConsoleTimeouts are the waits the form offers (seconds); the first is
// the default. AT+COPS=? (network scan) may take minutes.
var atConsoleTimeouts = []int{10, 30, 180}

// atPage is the AT tools page of one modem.
type atPage struct {
	Modems   []string
	Modem    string
	Trace    []ATLine
	TraceErr bool
	Timeouts []int
	// Confirm: the typed command needs confirmation (Reason explains).
	Confirm bool
	Reason  string
	// Result of the command run (Ran).
	Ran     bool
	Command string
	Result  ATResult
}

func (s *server) modemConsoleRoutes(p *gin.RouterGroup) {
	admin := p.Group("/modems/at", s.requireRole(users.RoleAdmin))
	admin.GET("", s.atPageGet)
	admin.GET("/trace", s.atTraceLive)
	admin.POST("", s.atRun)
}

func (s *server) atPageData(c *gin.Context, modem string) *atPage {
	d := &atPage{Modem: modem, Timeouts: atConsoleTimeouts}
	if s.d.Status != nil {
		for _, m := range s.d.Status.Status(c.Request.Context()).Modems {
			d.Modems = append(d.Modems, m.ID)
		}
	}
	if d.Modem == "" && len(d.Modems) > 0 {
		d.Modem = d.Modems[0]
	}
	if d.Modem != "" && !slices.Contains(d.Modems, d.Modem) {
		d.Modems = append(d.Modems, d.Modem) // shown so the error names it
	}
	s.loadTrace(c, d)
	return d
}

func (s *server) loadTrace(c *gin.Context, d *atPage) {
	if d.Modem == "" {
		return
	}
	tr, err := s.d.ModemConsole.ModemTrace(c.Request.Context(), d.Modem)
	if err != nil {
		if !errors.Is(err, ErrUnknownModem) {
			s.log.Warn("AT trace", "modem", d.Modem, "err", err)
		}
		d.TraceErr = true
	}
	loc := s.location()
	for i := range tr {
		tr[i].At = tr[i].At.In(loc)
	}
	d.Trace = tr
}

func (s *server) atAvailable(c *gin.Context) bool {
	if s.d.ModemConsole == nil {
		s.renderError(c, http.StatusNotFound, "error.not_found")
		return false
	}
	return true
}

// atPageGet shows a modem's AT trace and the console.
func (s *server) atPageGet(c *gin.Context) {
	if !s.atAvailable(c) {
		return
	}
	d := s.atPageData(c, strings.TrimSpace(c.Query("modem")))
	v := s.newView(c, "modems", "at.title", d)
	v.Form["timeout"] = strconv.Itoa(atConsoleTimeouts[0])
	s.render(c, http.StatusOK, "modem_at", v)
}

// atTraceLive is the trace fragment the page refreshes every few seconds.
func (s *server) atTraceLive(c *gin.Context) {
	if !s.atAvailable(c) {
		return
	}
	d := &atPage{Modem: strings.TrimSpace(c.Query("modem"))}
	s.loadTrace(c, d)
	s.renderTemplate(c, http.StatusOK, "modem_at", "attrace", s.newView(c, "modems", "at.title", d))
}

// atRun runs one AT command typed by an administrator. Every command
// that reaches the check is audited with its result (refused ones too).
func (s *server) atRun(c *gin.Context) {
	if !s.atAvailable(c) {
		return
	}
	modem := strings.TrimSpace(c.PostForm("modem"))
	command := strings.TrimSpace(c.PostForm("command"))
	confirmed := c.PostForm("confirm") == "1"
	timeoutS := strings.TrimSpace(c.PostForm("timeout"))
	d := s.atPageData(c, modem)
	v := s.newView(c, "modems", "at.title", d)
	v.Form["command"], v.Form["timeout"] = command, timeoutS
	fail := func(code int, field, msg string) {
		v.Errors[field] = msg
		s.render(c, code, "modem_at", v)
	}
	secs, err := strconv.Atoi(timeoutS)
	switch {
	case modem == "":
		fail(http.StatusUnprocessableEntity, "modem", v.T("at.err.modem"))
		return
	case err != nil || !slices.Contains(atConsoleTimeouts, secs):
		fail(http.StatusUnprocessableEntity, "timeout", v.T("at.err.timeout"))
		return
	}
	ck, err := s.d.ModemConsole.CheckAT(command)
	if ie := (*ATInputError)(nil); errors.As(err, &ie) {
		fail(http.StatusUnprocessableEntity, "command", v.T("at.err."+ie.Problem))
		return
	} else if err != nil {
		fail(http.StatusUnprocessableEntity, "command", err.Error())
		return
	}
	switch {
	case ck.Risk == ATRefused:
		s.audit(c, "modem.at", fmt.Sprintf("%s %s → refused (%s)", modem, ck.Shown, ck.Reason))
		fail(http.StatusUnprocessableEntity, "command", v.T("at.refused", ck.Shown, v.T("at.reason."+ck.Reason)))
		return
	case ck.Risk == ATConfirm && !confirmed:
		d.Confirm, d.Reason = true, ck.Reason
		v.Form["command"] = command
		s.render(c, http.StatusConflict, "modem_at", v)
		return
	}
	res, err := s.d.ModemConsole.RunAT(c.Request.Context(), modem, command, time.Duration(secs)*time.Second, confirmed)
	if err != nil {
		s.audit(c, "modem.at", fmt.Sprintf("%s %s → failed: %v", modem, ck.Shown, err))
		if errors.Is(err, ErrUnknownModem) {
			fail(http.StatusUnprocessableEntity, "modem", v.T("at.err.unknown_modem", modem))
			return
		}
		s.log.Warn("AT console", "modem", modem, "command", ck.Shown, "err", err)
		fail(http.StatusBadGateway, "command", v.T("at.err.failed", err.Error()))
		return
	}
	s.audit(c, "modem.at", fmt.Sprintf("%s %s → %s", modem, ck.Shown, res.Final))
	d.Ran, d.Command, d.Result = true, ck.Shown, res
	s.loadTrace(c, d) // now with the command
	s.render(c, http.StatusOK, "modem_at", v)
}
