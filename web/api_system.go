package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// apiUserErr answers the users service's errors; field names the body's
// field a validation error is about.
func (s *server) apiUserErr(c *gin.Context, err error, field string) {
	switch {
	case errors.Is(err, users.ErrNotFound):
		apiError(c, http.StatusNotFound, "not_found", "no user with this name", "")
	case errors.Is(err, users.ErrLastAdmin):
		apiError(c, http.StatusConflict, "last_admin", s.cat.T(i18n.EN, "user.err.last_admin"), "")
	case errors.Is(err, users.ErrInvalidRole):
		apiError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "role")
	case errors.Is(err, users.ErrWeakPassword):
		apiError(c, http.StatusUnprocessableEntity, "weak_password", err.Error(), field)
	default:
		s.log.Error("api: user change", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "changing the user failed; see the pbxgate log", "")
	}
}

// apiUser answers with user name after a change.
func (s *server) apiUser(c *gin.Context, name string) {
	u, err := s.d.Users.Get(c.Request.Context(), name)
	if err != nil {
		s.apiUserErr(c, err, "")
		return
	}
	c.JSON(http.StatusOK, u)
}

func (s *server) apiDeleteUser(c *gin.Context) {
	name := c.Param("name")
	if err := s.removeUser(c.Request.Context(), name); err != nil {
		s.apiUserErr(c, err, "")
		return
	}
	s.audit(c, "user.delete", name)
	c.Status(http.StatusNoContent)
}

func (s *server) apiSetUserRole(c *gin.Context) {
	var req struct {
		Role users.Role `json:"role"`
	}
	if !bindJSON(c, &req, `{"role":"admin"|"operator"}`) {
		return
	}
	name := c.Param("name")
	if err := s.d.Users.SetRole(c.Request.Context(), name, req.Role); err != nil {
		s.apiUserErr(c, err, "role")
		return
	}
	s.audit(c, "user.role", name)
	s.apiUser(c, name)
}

func (s *server) apiResetPassword(c *gin.Context) {
	var req struct {
		Password string `json:"password"`
	}
	if !bindJSON(c, &req, `{"password":"…"}`) {
		return
	}
	name := c.Param("name")
	if err := s.resetUserPassword(c, name, req.Password); err != nil {
		s.apiUserErr(c, err, "password")
		return
	}
	s.apiUser(c, name)
}

func (s *server) apiChangeOwnPassword(c *gin.Context) {
	var req struct {
		Current  string `json:"current_password"`
		Password string `json:"password"`
	}
	if !bindJSON(c, &req, `{"current_password":"…","password":"…"}`) {
		return
	}
	err := s.changePassword(c, req.Current, req.Password, req.Password)
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		s.apiProblem(c, p)
		return
	} else if err != nil {
		s.apiUserErr(c, err, "password")
		return
	}
	s.apiUser(c, currentUser(c).Name)
}

// regionJSON is the region the portal runs with.
type regionJSON struct {
	Language       string `json:"language"`
	DefaultCountry string `json:"default_country"`
	TimeZone       string `json:"time_zone"`
}

func (s *server) region() regionJSON {
	return regionJSON{Language: s.currentSettings().Language, DefaultCountry: s.defaultCountry(), TimeZone: s.location().String()}
}

func (s *server) apiSettings(c *gin.Context) { c.JSON(http.StatusOK, s.region()) }

func (s *server) apiSaveSettings(c *gin.Context) {
	var req regionJSON
	if !bindJSON(c, &req, `{"language":"de","default_country":"DE","time_zone":"Europe/Berlin"}`) {
		return
	}
	_, err := s.applyRegion(c, strings.TrimSpace(req.Language), strings.ToUpper(strings.TrimSpace(req.DefaultCountry)), strings.TrimSpace(req.TimeZone))
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		// The body's names, not the form's.
		switch p.Field {
		case "country":
			p.Field = "default_country"
		case "timezone":
			p.Field = "time_zone"
		}
		s.apiProblem(c, p)
		return
	} else if err != nil {
		s.log.Error("api: save settings", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "saving the settings failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, s.region())
}

// apiAudit pages the audit log, newest first.
func (s *server) apiAudit(c *gin.Context) {
	apiPage(c, s.recentAudit(s.auditKeep))
}
