package screens

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// pacingForm is one SIM's pacing as typed.
type pacingForm struct {
	PerMinute, DelayMin, DelayMax, DailyCap, MonthlyCap, QuietHours string
}

func formFromPacing(p config.Pacing) pacingForm {
	n := func(v int) string {
		if v == 0 {
			return ""
		}
		return strconv.Itoa(v)
	}
	return pacingForm{PerMinute: n(p.PerMinute), DelayMin: app.FmtDur(p.DelayMin), DelayMax: app.FmtDur(p.DelayMax),
		DailyCap: n(p.DailyCap), MonthlyCap: n(p.MonthlyCap), QuietHours: p.QuietHours}
}

// pacingRow is one SIM on the page.
type pacingRow struct {
	app.SIMPacing
	F pacingForm
}

// pacingSection is the pacing part of the Modems page.
type pacingSection struct {
	Editable bool
	Failed   bool // the list could not be read
	Rows     []pacingRow
}

// ModemsPage is the Modems page: status and USSD console (channelPage)
// plus the pacing.
type modemsPage struct {
	*channelPage
	pacing *pacingSection
}

// Pacing is the page's pacing section.
func (d *modemsPage) Pacing() *pacingSection { return d.pacing }

// Pacing is nil where a page reuses the modems template without loading
// the pacing (the USSD console's answer): the section is left out there.
func (*channelPage) Pacing() *pacingSection { return nil }

func (s *Screens) modemsPageData(c *gin.Context) *modemsPage {
	d := &modemsPage{channelPage: s.channelData(c, "modems")}
	if s.D.ModemPacing == nil {
		return d
	}
	sec := &pacingSection{Editable: app.CurrentUser(c).Role == users.RoleAdmin}
	list, err := s.D.ModemPacing.ModemPacing(c.Request.Context())
	if err != nil {
		s.Log.Error("modem pacing", "err", err)
		sec.Failed = true
	}
	for _, p := range list {
		sec.Rows = append(sec.Rows, pacingRow{SIMPacing: p, F: formFromPacing(p.Pacing)})
	}
	d.pacing = sec
	return d
}

func (s *Screens) ModemsPage(c *gin.Context) {
	s.Render(c, http.StatusOK, "modems", s.NewView(c, "modems", "nav.modems", s.modemsPageData(c)))
}

// pacingFromForm parses the submitted pacing; fields that do not parse
// are returned as catalog keys by field name.
func pacingFromForm(c *gin.Context) (config.Pacing, pacingForm, map[string]string) {
	f := pacingForm{PerMinute: strings.TrimSpace(c.PostForm("per_minute")), DelayMin: strings.TrimSpace(c.PostForm("delay_min")),
		DelayMax: strings.TrimSpace(c.PostForm("delay_max")), DailyCap: strings.TrimSpace(c.PostForm("daily_cap")),
		MonthlyCap: strings.TrimSpace(c.PostForm("monthly_cap")), QuietHours: strings.TrimSpace(c.PostForm("quiet_hours"))}
	errs := map[string]string{}
	var p config.Pacing
	num := func(field, v string) int {
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs[field] = "pacing.err.number"
		}
		return n
	}
	dur := func(field, v string) time.Duration {
		d, err := app.ParsePacingDuration(v)
		if err != nil {
			errs[field] = "pacing.err.duration"
		}
		return d
	}
	p.PerMinute, p.DailyCap, p.MonthlyCap = num("per_minute", f.PerMinute), num("daily_cap", f.DailyCap), num("monthly_cap", f.MonthlyCap)
	p.DelayMin, p.DelayMax = dur("delay_min", f.DelayMin), dur("delay_max", f.DelayMax)
	p.QuietHours = strings.ReplaceAll(f.QuietHours, " ", "")
	return p, f, errs
}

func (s *Screens) SaveModemPacing(c *gin.Context) {
	if s.D.ModemPacing == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	name := c.Param("name")
	p, form, errs := pacingFromForm(c)
	var err error
	if len(errs) == 0 {
		err = s.D.ModemPacing.SetModemPacing(c.Request.Context(), name, p, app.CurrentUser(c).Name)
	} else {
		// Name every mistake at once, not only the ones typing made.
		err = config.ValidatePacing("pacing", p)
	}
	if errors.Is(err, app.ErrUnknownModem) {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	var ps config.Problems
	if isProblems := errors.As(err, &ps); len(errs) > 0 || isProblems {
		for _, pr := range ps {
			if f, key := app.PacingProblemField(pr.Key); errs[f] == "" {
				errs[f] = key
			}
		}
		d := s.modemsPageData(c)
		v := s.NewView(c, "modems", "nav.modems", d)
		if d.pacing != nil {
			for i := range d.pacing.Rows {
				if d.pacing.Rows[i].Modem == name {
					d.pacing.Rows[i].F = form
				}
			}
		}
		for field, key := range errs {
			v.Errors[name+"."+field] = v.T(key)
		}
		v.Errors[name+".form"] = v.T("pacing.err.form")
		s.Render(c, http.StatusUnprocessableEntity, "modems", v)
		return
	}
	if err != nil {
		s.Log.Error("saving modem pacing", "modem", name, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Audit(c, "modem.pacing", name)
	s.Flash(c, "pacing.saved")
	c.Redirect(http.StatusSeeOther, "/modems#pacing-"+name)
}

func (s *Screens) ResetModemPacing(c *gin.Context) {
	if s.D.ModemPacing == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	name := c.Param("name")
	err := s.D.ModemPacing.ResetModemPacing(c.Request.Context(), name, app.CurrentUser(c).Name)
	if errors.Is(err, app.ErrUnknownModem) {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	if err != nil {
		s.Log.Error("resetting modem pacing", "modem", name, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Audit(c, "modem.pacing_reset", name)
	s.Flash(c, "pacing.reset_done")
	c.Redirect(http.StatusSeeOther, "/modems#pacing-"+name)
}

// USSD runs a USSD code on one modem and shows the network's answer.
func (s *Screens) USSD(c *gin.Context) {
	page := s.modemsPageData(c)
	d := page.channelPage
	v := s.NewView(c, "modems", "nav.modems", page)
	modemName, code := strings.TrimSpace(c.PostForm("modem")), strings.TrimSpace(c.PostForm("code"))
	v.Form["modem"], v.Form["code"] = modemName, code
	if s.D.USSD == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	answer, err := s.RunUSSD(c, modemName, code)
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		v.Errors[p.Field] = v.T(p.Key)
		s.Render(c, http.StatusUnprocessableEntity, "modems", v)
		return
	} else if err != nil {
		s.Log.Warn("USSD failed", "modem", modemName, "err", err)
		v.Errors["code"] = v.T("ussd.err.failed", v.ErrorText(err))
		s.Render(c, http.StatusBadGateway, "modems", v)
		return
	}
	d.USSDModem, d.USSDAnswer = modemName, answer
	s.Render(c, http.StatusOK, "modems", v)
}
