package screens

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/users"
)

type systemData struct {
	Users    []users.User
	Tokens   []users.Token
	NewToken string // plaintext, shown once
	Version  app.VersionInfo
	Settings app.Settings
	Country  string
	TimeZone string
	Audit    []app.AuditEntry
	Zones    []string
	// Admin-only: firmware update, restore.
	Update           *app.UpdateView
	RestoreAvailable bool
	RestorePending   bool
	// Cluster: the cluster's members (nil on a box alone; cluster.go).
	Cluster *clusterView
}

func (s *Screens) systemView(c *gin.Context) (*app.View, error) {
	ctx := c.Request.Context()
	u := app.CurrentUser(c)
	d := systemData{Version: s.D.Version, Settings: s.CurrentSettings(), Country: s.DefaultCountry(),
		TimeZone: s.Location().String(), Zones: setupZones, Cluster: s.systemCluster()}
	var err error
	owner := u.Name
	if u.Role == users.RoleAdmin {
		owner = ""
		if d.Users, err = s.D.Users.List(ctx); err != nil {
			return nil, err
		}
		d.Audit = s.RecentAudit(50)
		d.Update = s.UpdateView()
		if s.D.Restore != nil {
			d.RestoreAvailable, d.RestorePending = true, s.D.Restore.RestorePending()
		}
	}
	if d.Tokens, err = s.D.Users.ListTokens(ctx, owner); err != nil {
		return nil, err
	}
	v := s.NewView(c, "system", "nav.system", &d)
	v.Form["role"] = string(users.RoleOperator)
	return v, nil
}

func (s *Screens) SystemPage(c *gin.Context) {
	v, err := s.systemView(c)
	if err != nil {
		s.Log.Error("system page", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Render(c, http.StatusOK, "system", v)
}

// systemFail re-renders the system page with errs next to their fields.
func (s *Screens) systemFail(c *gin.Context, code int, form map[string]string, errs func(v *app.View)) {
	v, err := s.systemView(c)
	if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	for k, val := range form {
		v.Form[k] = val
	}
	errs(v)
	s.Render(c, code, "system", v)
}

func (s *Screens) AddUser(c *gin.Context) {
	name := strings.TrimSpace(c.PostForm("new_name"))
	role := users.Role(c.PostForm("role"))
	err := s.D.Users.Add(c.Request.Context(), name, c.PostForm("new_password"), role)
	if err != nil {
		form := map[string]string{"new_name": name, "role": string(role)}
		s.systemFail(c, http.StatusUnprocessableEntity, form, func(v *app.View) {
			switch {
			case errors.Is(err, users.ErrWeakPassword):
				v.Errors["new_password"] = v.T("user.err.weak_password", users.MinPasswordLength)
			case errors.Is(err, users.ErrExists):
				v.Errors["new_name"] = v.T("user.err.exists")
			case errors.Is(err, users.ErrInvalidName):
				v.Errors["new_name"] = v.T("user.err.name")
			case errors.Is(err, users.ErrInvalidRole):
				v.Errors["role"] = v.T("user.err.role")
			default:
				s.Log.Error("add user", "err", err)
				v.Errors["new_name"] = v.T("error.internal")
			}
		})
		return
	}
	s.Audit(c, "user.add", name+" ("+string(role)+")")
	s.Flash(c, "user.added")
	c.Redirect(http.StatusSeeOther, "/system")
}

func (s *Screens) userChange(c *gin.Context, action string, fn func(name string) error) {
	name := c.Param("name")
	err := fn(name)
	switch {
	case errors.Is(err, users.ErrLastAdmin):
		s.Flash(c, "user.err.last_admin")
	case errors.Is(err, users.ErrNotFound):
		s.Flash(c, "user.err.not_found")
	case errors.Is(err, users.ErrInvalidRole):
		s.Flash(c, "user.err.role")
	case err != nil:
		s.Log.Error("user change", "action", action, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	default:
		s.Audit(c, action, name)
		s.Flash(c, "user.changed")
	}
	c.Redirect(http.StatusSeeOther, "/system")
}

func (s *Screens) DeleteUser(c *gin.Context) {
	s.userChange(c, "user.delete", func(name string) error { return s.RemoveUser(c.Request.Context(), name) })
}

func (s *Screens) SetUserRole(c *gin.Context) {
	s.userChange(c, "user.role", func(name string) error {
		return s.D.Users.SetRole(c.Request.Context(), name, users.Role(c.PostForm("role")))
	})
}

func (s *Screens) ChangeOwnPassword(c *gin.Context) {
	err := s.ChangePassword(c, c.PostForm("current_password"), c.PostForm("password"), c.PostForm("password2"))
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		s.systemFail(c, http.StatusUnprocessableEntity, nil, func(v *app.View) { v.Errors[p.Field] = v.T(p.Key, p.Args...) })
		return
	} else if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Flash(c, "user.password_changed")
	c.Redirect(http.StatusSeeOther, "/system")
}

func (s *Screens) SaveRegion(c *gin.Context) {
	country := strings.ToUpper(strings.TrimSpace(c.PostForm("country")))
	tz := strings.TrimSpace(c.PostForm("timezone"))
	form := map[string]string{"country": country, "timezone": tz}
	_, err := s.ApplyRegion(c, "", country, tz)
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		s.systemFail(c, http.StatusUnprocessableEntity, form, func(v *app.View) { v.Errors[p.Field] = v.T(p.Key) })
		return
	} else if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Flash(c, "settings.saved")
	c.Redirect(http.StatusSeeOther, "/system")
}

func (s *Screens) CreateToken(c *gin.Context) {
	u := app.CurrentUser(c)
	label := strings.TrimSpace(c.PostForm("label"))
	if label == "" || len(label) > 64 {
		s.systemFail(c, http.StatusUnprocessableEntity, nil, func(v *app.View) { v.Errors["label"] = v.T("token.err.label") })
		return
	}
	tok, err := s.D.Users.CreateToken(c.Request.Context(), u.Name, label)
	if err != nil {
		s.Log.Error("create token", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Audit(c, "token.create", label)
	v, err := s.systemView(c)
	if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	// Shown once, in this response only (no-store), never stored in clear.
	v.Data.(*systemData).NewToken = tok
	s.Render(c, http.StatusOK, "system", v)
}

func (s *Screens) RevokeToken(c *gin.Context) {
	switch err := s.RevokeAPIToken(c, app.CurrentUser(c), c.Param("id")); {
	case errors.Is(err, app.ErrNotYourToken):
		s.RenderError(c, http.StatusForbidden, "error.forbidden")
		return
	case errors.Is(err, users.ErrBadToken):
		s.Flash(c, "token.err.not_found")
	case err != nil:
		s.Log.Error("revoking API token", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	default:
		s.Flash(c, "token.revoked")
	}
	c.Redirect(http.StatusSeeOther, "/system")
}

// Backup streams an online backup of the store (System > Backup); restore
// is the upload next to it (system_more.go) or `pbxgate restore` into an
// empty data directory with the daemon stopped.
func (s *Screens) Backup(c *gin.Context) {
	name := "pbxgate-backup-" + s.D.Now().UTC().Format("20060102-150405") + ".badger"
	s.Audit(c, "backup.download", name)
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := s.D.Store.Backup(c.Writer); err != nil {
		s.Log.Error("portal backup failed", "err", err)
		panic(http.ErrAbortHandler) // the client sees a broken download, not a short file
	}
}

// ResetPassword lets an admin set another user's password (forgotten
// passwords); the user's sessions end.
func (s *Screens) ResetPassword(c *gin.Context) {
	name := c.Param("name")
	field := "reset|" + name
	err := s.ResetUserPassword(c, name, c.PostForm("password"))
	switch {
	case errors.Is(err, users.ErrWeakPassword):
		s.systemFail(c, http.StatusUnprocessableEntity, nil, func(v *app.View) {
			v.Errors[field] = v.T("user.err.weak_password", users.MinPasswordLength)
		})
		return
	case errors.Is(err, users.ErrNotFound):
		s.Flash(c, "user.err.not_found")
	case err != nil:
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	default:
		s.Flash(c, "user.password_reset")
	}
	c.Redirect(http.StatusSeeOther, "/system")
}

// systemNotice renders the System page with a change to its data (an
// upload's outcome) instead of redirecting.
func (s *Screens) systemNotice(c *gin.Context, code int, fn func(v *app.View, d *systemData)) {
	v, err := s.systemView(c)
	if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	fn(v, v.Data.(*systemData))
	s.Render(c, code, "system", v)
}
