package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/users"
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
	return pacingForm{PerMinute: n(p.PerMinute), DelayMin: fmtDur(p.DelayMin), DelayMax: fmtDur(p.DelayMax),
		DailyCap: n(p.DailyCap), MonthlyCap: n(p.MonthlyCap), QuietHours: p.QuietHours}
}

// pacingRow is one SIM on the page.
type pacingRow struct {
	SIMPacing
	F pacingForm
}

// pacingSection is the pacing part of the Modems page.
type pacingSection struct {
	Editable bool
	Failed   bool // the list could not be read
	Rows     []pacingRow
}

// modemsPage is the Modems page: status and USSD console (channelPage)
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

func (s *server) modemsPageData(c *gin.Context) *modemsPage {
	d := &modemsPage{channelPage: s.channelData(c, "modems")}
	if s.d.ModemPacing == nil {
		return d
	}
	sec := &pacingSection{Editable: currentUser(c).Role == users.RoleAdmin}
	list, err := s.d.ModemPacing.ModemPacing(c.Request.Context())
	if err != nil {
		s.log.Error("modem pacing", "err", err)
		sec.Failed = true
	}
	for _, p := range list {
		sec.Rows = append(sec.Rows, pacingRow{SIMPacing: p, F: formFromPacing(p.Pacing)})
	}
	d.pacing = sec
	return d
}

func (s *server) modemsPage(c *gin.Context) {
	s.render(c, http.StatusOK, "modems", s.newView(c, "modems", "nav.modems", s.modemsPageData(c)))
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
		d, err := parsePacingDuration(v)
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

// parsePacingDuration reads "5s", "1m30s", or a bare number of seconds;
// empty is 0.
func parsePacingDuration(v string) (time.Duration, error) {
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

// pacingProblemField maps a problem key (pacing.daily_cap) to its form
// field and the message the reader gets there.
func pacingProblemField(key string) (field, msg string) {
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

func (s *server) saveModemPacing(c *gin.Context) {
	if s.d.ModemPacing == nil {
		s.renderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	name := c.Param("name")
	p, form, errs := pacingFromForm(c)
	var err error
	if len(errs) == 0 {
		err = s.d.ModemPacing.SetModemPacing(c.Request.Context(), name, p, currentUser(c).Name)
	} else {
		// Name every mistake at once, not only the ones typing made.
		err = config.ValidatePacing("pacing", p)
	}
	if errors.Is(err, ErrUnknownModem) {
		s.renderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	var ps config.Problems
	if isProblems := errors.As(err, &ps); len(errs) > 0 || isProblems {
		for _, pr := range ps {
			if f, key := pacingProblemField(pr.Key); errs[f] == "" {
				errs[f] = key
			}
		}
		d := s.modemsPageData(c)
		v := s.newView(c, "modems", "nav.modems", d)
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
		s.render(c, http.StatusUnprocessableEntity, "modems", v)
		return
	}
	if err != nil {
		s.log.Error("saving modem pacing", "modem", name, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.audit(c, "modem.pacing", name)
	s.flash(c, "pacing.saved")
	c.Redirect(http.StatusSeeOther, "/modems#pacing-"+name)
}

func (s *server) resetModemPacing(c *gin.Context) {
	if s.d.ModemPacing == nil {
		s.renderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	name := c.Param("name")
	err := s.d.ModemPacing.ResetModemPacing(c.Request.Context(), name, currentUser(c).Name)
	if errors.Is(err, ErrUnknownModem) {
		s.renderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	if err != nil {
		s.log.Error("resetting modem pacing", "modem", name, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.audit(c, "modem.pacing_reset", name)
	s.flash(c, "pacing.reset_done")
	c.Redirect(http.StatusSeeOther, "/modems#pacing-"+name)
}

// ussd runs a USSD code on one modem and shows the network's answer.
func (s *server) ussd(c *gin.Context) {
	page := s.modemsPageData(c)
	d := page.channelPage
	v := s.newView(c, "modems", "nav.modems", page)
	modemName, code := strings.TrimSpace(c.PostForm("modem")), strings.TrimSpace(c.PostForm("code"))
	v.Form["modem"], v.Form["code"] = modemName, code
	if s.d.USSD == nil {
		s.renderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	answer, err := s.runUSSD(c, modemName, code)
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		v.Errors[p.Field] = v.T(p.Key)
		s.render(c, http.StatusUnprocessableEntity, "modems", v)
		return
	} else if err != nil {
		v.Errors["code"] = v.T("ussd.err.failed", err.Error())
		s.render(c, http.StatusBadGateway, "modems", v)
		return
	}
	d.USSDModem, d.USSDAnswer = modemName, answer
	s.render(c, http.StatusOK, "modems", v)
}
