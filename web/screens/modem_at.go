package screens

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// The Modems page's installer tools for administrators (/modems/at): a
// modem's AT trace, refreshed live, and an audited AT console
// (app.ModemConsole).

// atPage is the AT tools page of one modem.
type atPage struct {
	Modems   []string
	Modem    string
	Trace    []app.ATLine
	TraceErr bool
	Timeouts []int
	// Confirm: the typed command needs confirmation (Reason explains).
	Confirm bool
	Reason  string
	// Result of the command run (Ran).
	Ran     bool
	Command string
	Result  app.ATResult
}

func (s *Screens) atPageData(c *gin.Context, modem string) *atPage {
	d := &atPage{Modem: modem, Timeouts: app.ATConsoleTimeouts}
	if s.D.Status != nil {
		for _, m := range s.D.Status.Status(c.Request.Context()).Modems {
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

func (s *Screens) loadTrace(c *gin.Context, d *atPage) {
	if d.Modem == "" {
		return
	}
	tr, err := s.D.ModemConsole.ModemTrace(c.Request.Context(), d.Modem)
	if err != nil {
		if !errors.Is(err, app.ErrUnknownModem) {
			s.Log.Warn("AT trace", "modem", d.Modem, "err", err)
		}
		d.TraceErr = true
	}
	loc := s.Location()
	for i := range tr {
		tr[i].At = tr[i].At.In(loc)
	}
	d.Trace = tr
}

func (s *Screens) atAvailable(c *gin.Context) bool {
	if s.D.ModemConsole == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return false
	}
	return true
}

// ATPage shows a modem's AT trace and the console.
func (s *Screens) ATPage(c *gin.Context) {
	if !s.atAvailable(c) {
		return
	}
	d := s.atPageData(c, strings.TrimSpace(c.Query("modem")))
	v := s.NewView(c, "modems", "at.title", d)
	v.Form["timeout"] = strconv.Itoa(app.ATConsoleTimeouts[0])
	s.Render(c, http.StatusOK, "modem_at", v)
}

// ATTraceLive is the trace fragment the page refreshes every few seconds.
func (s *Screens) ATTraceLive(c *gin.Context) {
	if !s.atAvailable(c) {
		return
	}
	d := &atPage{Modem: strings.TrimSpace(c.Query("modem"))}
	s.loadTrace(c, d)
	s.RenderTemplate(c, http.StatusOK, "modem_at", "attrace", s.NewView(c, "modems", "at.title", d))
}

// ATRun runs one AT command typed by an administrator. Every command
// that reaches the check is audited with its result (refused ones too).
func (s *Screens) ATRun(c *gin.Context) {
	if !s.atAvailable(c) {
		return
	}
	modem := strings.TrimSpace(c.PostForm("modem"))
	command := strings.TrimSpace(c.PostForm("command"))
	confirmed := c.PostForm("confirm") == "1"
	timeoutS := strings.TrimSpace(c.PostForm("timeout"))
	d := s.atPageData(c, modem)
	v := s.NewView(c, "modems", "at.title", d)
	v.Form["command"], v.Form["timeout"] = command, timeoutS
	fail := func(code int, field, msg string) {
		v.Errors[field] = msg
		s.Render(c, code, "modem_at", v)
	}
	secs, err := strconv.Atoi(timeoutS)
	switch {
	case modem == "":
		fail(http.StatusUnprocessableEntity, "modem", v.T("at.err.modem"))
		return
	case err != nil || !slices.Contains(app.ATConsoleTimeouts, secs):
		fail(http.StatusUnprocessableEntity, "timeout", v.T("at.err.timeout"))
		return
	}
	ck, err := s.D.ModemConsole.CheckAT(command)
	if ie := (*app.ATInputError)(nil); errors.As(err, &ie) {
		fail(http.StatusUnprocessableEntity, "command", v.T("at.err."+ie.Problem))
		return
	} else if err != nil {
		fail(http.StatusUnprocessableEntity, "command", err.Error())
		return
	}
	switch {
	case ck.Risk == app.ATRefused:
		s.Audit(c, "modem.at", fmt.Sprintf("%s %s → refused (%s)", modem, ck.Shown, ck.Reason))
		fail(http.StatusUnprocessableEntity, "command", v.T("at.refused", ck.Shown, v.T("at.reason."+ck.Reason)))
		return
	case ck.Risk == app.ATConfirm && !confirmed:
		d.Confirm, d.Reason = true, ck.Reason
		v.Form["command"] = command
		s.Render(c, http.StatusConflict, "modem_at", v)
		return
	}
	res, err := s.D.ModemConsole.RunAT(c.Request.Context(), modem, command, time.Duration(secs)*time.Second, confirmed)
	if err != nil {
		s.Audit(c, "modem.at", fmt.Sprintf("%s %s → failed: %v", modem, ck.Shown, err))
		if errors.Is(err, app.ErrUnknownModem) {
			fail(http.StatusUnprocessableEntity, "modem", v.T("at.err.unknown_modem", modem))
			return
		}
		s.Log.Warn("AT console", "modem", modem, "command", ck.Shown, "err", err)
		fail(http.StatusBadGateway, "command", v.T("at.err.failed", v.ErrorText(err)))
		return
	}
	s.Audit(c, "modem.at", fmt.Sprintf("%s %s → %s", modem, ck.Shown, res.Final))
	d.Ran, d.Command, d.Result = true, ck.Shown, res
	s.loadTrace(c, d) // now with the command
	s.Render(c, http.StatusOK, "modem_at", v)
}
