package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// apiUserErr answers the users service's errors; field names the body's
// field a validation error is about.
func (s *API) apiUserErr(c *gin.Context, err error, field string) {
	switch {
	case errors.Is(err, users.ErrNotFound):
		app.APIError(c, http.StatusNotFound, "not_found", "no user with this name", "")
	case errors.Is(err, users.ErrLastAdmin):
		app.APIError(c, http.StatusConflict, "last_admin", s.Cat.T(i18n.EN, "user.err.last_admin"), "")
	case errors.Is(err, users.ErrInvalidRole):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "role")
	case errors.Is(err, users.ErrWeakPassword):
		app.APIError(c, http.StatusUnprocessableEntity, "weak_password", err.Error(), field)
	default:
		s.Log.Error("api: user change", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "changing the user failed; see the pbxgate log", "")
	}
}

// apiUser answers with user name after a change.
func (s *API) apiUser(c *gin.Context, name string) {
	u, err := s.D.Users.Get(c.Request.Context(), name)
	if err != nil {
		s.apiUserErr(c, err, "")
		return
	}
	c.JSON(http.StatusOK, u)
}

func (s *API) APIDeleteUser(c *gin.Context) {
	name := c.Param("name")
	if err := s.RemoveUser(c.Request.Context(), name); err != nil {
		s.apiUserErr(c, err, "")
		return
	}
	s.Audit(c, "user.delete", name)
	c.Status(http.StatusNoContent)
}

func (s *API) APISetUserRole(c *gin.Context) {
	var req struct {
		Role users.Role `json:"role"`
	}
	if !app.BindJSON(c, &req, `{"role":"admin"|"operator"}`) {
		return
	}
	name := c.Param("name")
	if err := s.D.Users.SetRole(c.Request.Context(), name, req.Role); err != nil {
		s.apiUserErr(c, err, "role")
		return
	}
	s.Audit(c, "user.role", name)
	s.apiUser(c, name)
}

func (s *API) APIResetPassword(c *gin.Context) {
	var req struct {
		Password string `json:"password"`
	}
	if !app.BindJSON(c, &req, `{"password":"…"}`) {
		return
	}
	name := c.Param("name")
	if err := s.ResetUserPassword(c, name, req.Password); err != nil {
		s.apiUserErr(c, err, "password")
		return
	}
	s.apiUser(c, name)
}

func (s *API) APIChangeOwnPassword(c *gin.Context) {
	var req struct {
		Current  string `json:"current_password"`
		Password string `json:"password"`
	}
	if !app.BindJSON(c, &req, `{"current_password":"…","password":"…"}`) {
		return
	}
	err := s.ChangePassword(c, req.Current, req.Password, req.Password)
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		s.APIProblem(c, p)
		return
	} else if err != nil {
		s.apiUserErr(c, err, "password")
		return
	}
	s.apiUser(c, app.CurrentUser(c).Name)
}

// RegionJSON is the region the portal runs with.
type RegionJSON struct {
	Language       string `json:"language"`
	DefaultCountry string `json:"default_country"`
	TimeZone       string `json:"time_zone"`
}

func (s *API) region() RegionJSON {
	return RegionJSON{Language: s.CurrentSettings().Language, DefaultCountry: s.DefaultCountry(), TimeZone: s.Location().String()}
}

func (s *API) APISettings(c *gin.Context) { c.JSON(http.StatusOK, s.region()) }

func (s *API) APISaveSettings(c *gin.Context) {
	var req RegionJSON
	if !app.BindJSON(c, &req, `{"language":"de","default_country":"DE","time_zone":"Europe/Berlin"}`) {
		return
	}
	_, err := s.ApplyRegion(c, strings.TrimSpace(req.Language), strings.ToUpper(strings.TrimSpace(req.DefaultCountry)), strings.TrimSpace(req.TimeZone))
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		// The body's names, not the form's.
		switch p.Field {
		case "country":
			p.Field = "default_country"
		case "timezone":
			p.Field = "time_zone"
		}
		s.APIProblem(c, p)
		return
	} else if err != nil {
		s.Log.Error("api: save settings", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "saving the settings failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, s.region())
}

// APIAudit pages the audit log, newest first.
func (s *API) APIAudit(c *gin.Context) {
	app.APIPage(c, s.RecentAudit(s.AuditKeep))
}
