package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/config"
)

// pacingJSON is the API's shape of one SIM's pacing; durations as
// "5s", "1m30s".
type pacingJSON struct {
	PerMinute  int    `json:"per_minute"`
	DelayMin   string `json:"delay_min"`
	DelayMax   string `json:"delay_max"`
	DailyCap   int    `json:"daily_cap"`
	MonthlyCap int    `json:"monthly_cap"`
	QuietHours string `json:"quiet_hours"`
}

func pacingToJSON(p config.Pacing) pacingJSON {
	d := func(v time.Duration) string {
		if v == 0 {
			return "0s"
		}
		return app.FmtDur(v)
	}
	return pacingJSON{PerMinute: p.PerMinute, DelayMin: d(p.DelayMin), DelayMax: d(p.DelayMax), DailyCap: p.DailyCap,
		MonthlyCap: p.MonthlyCap, QuietHours: p.QuietHours}
}

type simPacingJSON struct {
	Modem           string     `json:"modem"`
	Pacing          pacingJSON `json:"pacing"`
	FilePacing      pacingJSON `json:"file_pacing"`
	ChangedInPortal bool       `json:"changed_in_portal"`
	ChangedBy       string     `json:"changed_by,omitempty"`
	ChangedAt       *time.Time `json:"changed_at,omitempty"`
	SentToday       int        `json:"sent_today"`
	SentMonth       int        `json:"sent_month"`
	Blocked         string     `json:"blocked,omitempty"`
}

func simPacingToJSON(p app.SIMPacing) simPacingJSON {
	j := simPacingJSON{Modem: p.Modem, Pacing: pacingToJSON(p.Pacing), FilePacing: pacingToJSON(p.File),
		ChangedInPortal: p.Changed, ChangedBy: p.By, SentToday: p.SentToday, SentMonth: p.SentMonth, Blocked: p.Blocked}
	if p.Changed {
		at := p.At
		j.ChangedAt = &at
	}
	return j
}

func (s *API) apiPacingReady(c *gin.Context) bool {
	return apiHas(c, s.D.ModemPacing != nil, "modem pacing is")
}

// APIModemPacing lists every SIM's pacing and its use of the caps.
func (s *API) APIModemPacing(c *gin.Context) {
	if !s.apiPacingReady(c) {
		return
	}
	list, err := s.D.ModemPacing.ModemPacing(c.Request.Context())
	if err != nil {
		s.Log.Error("modem pacing", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "reading the modems' pacing failed; see the pbxgate log", "")
		return
	}
	out := make([]simPacingJSON, 0, len(list))
	for _, p := range list {
		out = append(out, simPacingToJSON(p))
	}
	c.JSON(http.StatusOK, gin.H{"modems": out})
}

// APISetModemPacing replaces one SIM's pacing; it applies at once.
func (s *API) APISetModemPacing(c *gin.Context) {
	if !s.apiPacingReady(c) {
		return
	}
	name := c.Param("name")
	var j pacingJSON
	if err := c.ShouldBindJSON(&j); err != nil {
		app.APIError(c, http.StatusBadRequest, "bad_json", "body must be the pacing object GET /api/v1/modems/pacing shows per modem: "+err.Error(), "")
		return
	}
	p := config.Pacing{PerMinute: j.PerMinute, DailyCap: j.DailyCap, MonthlyCap: j.MonthlyCap, QuietHours: strings.TrimSpace(j.QuietHours)}
	var err error
	if p.DelayMin, err = app.ParsePacingDuration(j.DelayMin); err != nil {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "delay_min "+strconv.Quote(j.DelayMin)+" is not a duration (e.g. 2s, 1m30s)", "delay_min")
		return
	}
	if p.DelayMax, err = app.ParsePacingDuration(j.DelayMax); err != nil {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "delay_max "+strconv.Quote(j.DelayMax)+" is not a duration (e.g. 5s, 1m)", "delay_max")
		return
	}
	err = s.D.ModemPacing.SetModemPacing(c.Request.Context(), name, p, app.CurrentUser(c).Name)
	var ps config.Problems
	switch {
	case errors.Is(err, app.ErrUnknownModem):
		app.APIError(c, http.StatusNotFound, "not_found", "no modem named "+strconv.Quote(name)+" (GET /api/v1/modems/pacing lists them)", "")
		return
	case errors.As(err, &ps):
		field, _ := app.PacingProblemField(ps[0].Key)
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", ps[0].Msg, field)
		return
	case err != nil:
		s.Log.Error("saving modem pacing", "modem", name, "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "saving the pacing failed; see the pbxgate log", "")
		return
	}
	s.Audit(c, "modem.pacing", name)
	s.apiPacingOf(c, name)
}

// APIResetModemPacing returns one SIM to the configuration file's pacing.
func (s *API) APIResetModemPacing(c *gin.Context) {
	if !s.apiPacingReady(c) {
		return
	}
	name := c.Param("name")
	err := s.D.ModemPacing.ResetModemPacing(c.Request.Context(), name, app.CurrentUser(c).Name)
	if errors.Is(err, app.ErrUnknownModem) {
		app.APIError(c, http.StatusNotFound, "not_found", "no modem named "+strconv.Quote(name)+" (GET /api/v1/modems/pacing lists them)", "")
		return
	}
	if err != nil {
		s.Log.Error("resetting modem pacing", "modem", name, "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "resetting the pacing failed; see the pbxgate log", "")
		return
	}
	s.Audit(c, "modem.pacing_reset", name)
	s.apiPacingOf(c, name)
}

// apiPacingOf answers with one SIM's pacing after a change.
func (s *API) apiPacingOf(c *gin.Context, name string) {
	list, err := s.D.ModemPacing.ModemPacing(c.Request.Context())
	if err == nil {
		for _, p := range list {
			if p.Modem == name {
				c.JSON(http.StatusOK, simPacingToJSON(p))
				return
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"modem": name})
}
