package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/i18n"
)

const (
	auditPrefix = "audit/"
	// defaultAuditKeep bounds the audit log on a small SD card; the oldest
	// entries go first (they are in the daemon's log as well).
	defaultAuditKeep = 10000
)

// AuditEntry records one administrative change.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
}

// audit records an administrative change in the log and the store.
func (s *server) audit(c *gin.Context, action, target string) {
	e := AuditEntry{Time: s.d.Now().UTC(), User: currentUser(c).Name, Action: action, Target: target}
	s.log.Info("audit", "user", e.User, "action", action, "target", target, "remote", c.ClientIP())
	// Big-endian-sortable key: newest last; the random suffix keeps two
	// changes in the same nanosecond apart.
	key := fmt.Sprintf("%s%020d-%s", auditPrefix, e.Time.UnixNano(), randomToken()[:6])
	err := s.d.Store.Update(func(txn *store.Txn) error {
		if err := store.SetJSON(txn, key, e); err != nil {
			return err
		}
		excess := store.Count(txn, auditPrefix) - s.auditKeep
		if excess <= 0 {
			return nil
		}
		var old []string
		_ = store.Each(txn, auditPrefix, func(k string, _ []byte) error {
			if len(old) == excess {
				return io.EOF
			}
			old = append(old, k)
			return nil
		})
		for _, k := range old {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("audit log write failed", "err", err)
	}
}

func (s *server) recentAudit(limit int) []AuditEntry {
	var all []AuditEntry
	_ = s.d.Store.View(func(txn *store.Txn) error {
		return store.Each(txn, auditPrefix, func(_ string, val []byte) error {
			var e AuditEntry
			if jsonUnmarshal(val, &e) == nil {
				all = append(all, e)
			}
			return nil
		})
	})
	if len(all) > limit {
		all = all[len(all)-limit:]
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

type systemData struct {
	Users    []users.User
	Tokens   []users.Token
	NewToken string // plaintext, shown once
	Version  VersionInfo
	Settings Settings
	Country  string
	TimeZone string
	Audit    []AuditEntry
	Zones    []string
	// Admin-only: firmware update, restore.
	Update           *updateView
	RestoreAvailable bool
	RestorePending   bool
}

func (s *server) systemView(c *gin.Context) (*view, error) {
	ctx := c.Request.Context()
	u := currentUser(c)
	d := systemData{Version: s.d.Version, Settings: s.currentSettings(), Country: s.defaultCountry(),
		TimeZone: s.location().String(), Zones: setupZones}
	var err error
	owner := u.Name
	if u.Role == users.RoleAdmin {
		owner = ""
		if d.Users, err = s.d.Users.List(ctx); err != nil {
			return nil, err
		}
		d.Audit = s.recentAudit(50)
		d.Update = s.updateView()
		if s.d.Restore != nil {
			d.RestoreAvailable, d.RestorePending = true, s.d.Restore.RestorePending()
		}
	}
	if d.Tokens, err = s.d.Users.ListTokens(ctx, owner); err != nil {
		return nil, err
	}
	v := s.newView(c, "system", "nav.system", &d)
	v.Form["role"] = string(users.RoleOperator)
	return v, nil
}

func (s *server) systemPage(c *gin.Context) {
	v, err := s.systemView(c)
	if err != nil {
		s.log.Error("system page", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "system", v)
}

// systemFail re-renders the system page with errs next to their fields.
func (s *server) systemFail(c *gin.Context, code int, form map[string]string, errs func(v *view)) {
	v, err := s.systemView(c)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	for k, val := range form {
		v.Form[k] = val
	}
	errs(v)
	s.render(c, code, "system", v)
}

func (s *server) addUser(c *gin.Context) {
	name := strings.TrimSpace(c.PostForm("new_name"))
	role := users.Role(c.PostForm("role"))
	err := s.d.Users.Add(c.Request.Context(), name, c.PostForm("new_password"), role)
	if err != nil {
		form := map[string]string{"new_name": name, "role": string(role)}
		s.systemFail(c, http.StatusUnprocessableEntity, form, func(v *view) {
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
				s.log.Error("add user", "err", err)
				v.Errors["new_name"] = v.T("error.internal")
			}
		})
		return
	}
	s.audit(c, "user.add", name+" ("+string(role)+")")
	s.flash(c, "user.added")
	c.Redirect(http.StatusSeeOther, "/system")
}

func (s *server) userChange(c *gin.Context, action string, fn func(name string) error) {
	name := c.Param("name")
	err := fn(name)
	switch {
	case errors.Is(err, users.ErrLastAdmin):
		s.flash(c, "user.err.last_admin")
	case errors.Is(err, users.ErrNotFound):
		s.flash(c, "user.err.not_found")
	case errors.Is(err, users.ErrInvalidRole):
		s.flash(c, "user.err.role")
	case err != nil:
		s.log.Error("user change", "action", action, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	default:
		s.audit(c, action, name)
		s.flash(c, "user.changed")
	}
	c.Redirect(http.StatusSeeOther, "/system")
}

func (s *server) deleteUser(c *gin.Context) {
	s.userChange(c, "user.delete", func(name string) error { return s.removeUser(c.Request.Context(), name) })
}

// removeUser deletes a user, the user's tokens and portal sessions.
func (s *server) removeUser(ctx context.Context, name string) error {
	if err := s.d.Users.Delete(ctx, name); err != nil {
		return err
	}
	return s.sessions.deleteUser(name, nil)
}

func (s *server) setUserRole(c *gin.Context) {
	s.userChange(c, "user.role", func(name string) error {
		return s.d.Users.SetRole(c.Request.Context(), name, users.Role(c.PostForm("role")))
	})
}

func (s *server) changeOwnPassword(c *gin.Context) {
	err := s.changePassword(c, c.PostForm("current_password"), c.PostForm("password"), c.PostForm("password2"))
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		s.systemFail(c, http.StatusUnprocessableEntity, nil, func(v *view) { v.Errors[p.Field] = v.T(p.Key, p.Args...) })
		return
	} else if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.flash(c, "user.password_changed")
	c.Redirect(http.StatusSeeOther, "/system")
}

// changePassword changes the caller's own password after checking the
// current one, ends the caller's other portal sessions and audits it.
// Problems are *inputProblem for current_password, password2 or password.
func (s *server) changePassword(c *gin.Context, current, pw, pw2 string) error {
	u := currentUser(c)
	ctx := c.Request.Context()
	if _, err := s.d.Users.Authenticate(ctx, u.Name, current); errors.Is(err, users.ErrBusy) {
		return problem("current_password", "busy", "login.busy")
	} else if err != nil {
		return problem("current_password", "wrong_password", "setup.err.current")
	}
	if pw != pw2 {
		return problem("password2", "mismatch", "user.err.mismatch")
	}
	if err := s.d.Users.SetPassword(ctx, u.Name, pw); errors.Is(err, users.ErrWeakPassword) {
		return problem("password", "weak_password", "user.err.weak_password", users.MinPasswordLength)
	} else if err != nil {
		return err
	}
	// Other browsers logged in as this user must log in again.
	if err := s.sessions.deleteUser(u.Name, currentSession(c)); err != nil {
		s.log.Error("end other sessions", "err", err)
	}
	s.audit(c, "user.password", u.Name)
	return nil
}

func (s *server) saveRegion(c *gin.Context) {
	country := strings.ToUpper(strings.TrimSpace(c.PostForm("country")))
	tz := strings.TrimSpace(c.PostForm("timezone"))
	form := map[string]string{"country": country, "timezone": tz}
	_, err := s.applyRegion(c, "", country, tz)
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		s.systemFail(c, http.StatusUnprocessableEntity, form, func(v *view) { v.Errors[p.Field] = v.T(p.Key) })
		return
	} else if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.flash(c, "settings.saved")
	c.Redirect(http.StatusSeeOther, "/system")
}

func validCountry(country string) bool {
	return len(country) == 2 && strings.Trim(country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

func validTimeZone(tz string) bool {
	_, err := time.LoadLocation(tz)
	return err == nil && tz != "" && tz != "Local"
}

// applyRegion saves the default country (upper case), the time zone and,
// unless lang is "", the language chosen at setup, and audits it.
// Problems are *inputProblem for country, timezone or language.
func (s *server) applyRegion(c *gin.Context, lang, country, tz string) (Settings, error) {
	l, langOK := i18n.Parse(lang)
	switch {
	case !validCountry(country):
		return Settings{}, problem("country", "invalid", "setup.err.country")
	case !validTimeZone(tz):
		return Settings{}, problem("timezone", "invalid", "setup.err.timezone")
	case lang != "" && !langOK:
		return Settings{}, problem("language", "invalid", "setup.err.language")
	}
	st := s.currentSettings()
	st.DefaultCountry, st.TimeZone, st.Updated = country, tz, s.d.Now().UTC()
	target := country + " " + tz
	if lang != "" {
		st.Language = string(l)
		target += " " + st.Language
	}
	if err := s.saveSettings(st); err != nil {
		return Settings{}, err
	}
	s.audit(c, "settings.region", target)
	return st, nil
}

func (s *server) createToken(c *gin.Context) {
	u := currentUser(c)
	label := strings.TrimSpace(c.PostForm("label"))
	if label == "" || len(label) > 64 {
		s.systemFail(c, http.StatusUnprocessableEntity, nil, func(v *view) { v.Errors["label"] = v.T("token.err.label") })
		return
	}
	tok, err := s.d.Users.CreateToken(c.Request.Context(), u.Name, label)
	if err != nil {
		s.log.Error("create token", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.audit(c, "token.create", label)
	v, err := s.systemView(c)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	// Shown once, in this response only (no-store), never stored in clear.
	v.Data.(*systemData).NewToken = tok
	s.render(c, http.StatusOK, "system", v)
}

func (s *server) revokeToken(c *gin.Context) {
	u := currentUser(c)
	ctx := c.Request.Context()
	id := c.Param("id")
	// Operators may revoke only their own tokens.
	if u.Role != users.RoleAdmin {
		toks, err := s.d.Users.ListTokens(ctx, u.Name)
		if err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		own := false
		for _, t := range toks {
			own = own || t.ID == id
		}
		if !own {
			s.renderError(c, http.StatusForbidden, "error.forbidden")
			return
		}
	}
	if err := s.d.Users.RevokeToken(ctx, id); errors.Is(err, users.ErrBadToken) {
		s.flash(c, "token.err.not_found")
	} else if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	} else {
		s.audit(c, "token.revoke", id)
		s.flash(c, "token.revoked")
	}
	c.Redirect(http.StatusSeeOther, "/system")
}

// backup streams an online backup of the store (System > Backup); restore
// is the upload next to it (system_more.go) or `pbxgate restore` into an
// empty data directory with the daemon stopped.
func (s *server) backup(c *gin.Context) {
	name := "pbxgate-backup-" + s.d.Now().UTC().Format("20060102-150405") + ".badger"
	s.audit(c, "backup.download", name)
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := s.d.Store.Backup(c.Writer); err != nil {
		s.log.Error("portal backup failed", "err", err)
		panic(http.ErrAbortHandler) // the client sees a broken download, not a short file
	}
}

// resetPassword lets an admin set another user's password (forgotten
// passwords); the user's sessions end.
func (s *server) resetPassword(c *gin.Context) {
	name := c.Param("name")
	field := "reset|" + name
	err := s.resetUserPassword(c, name, c.PostForm("password"))
	switch {
	case errors.Is(err, users.ErrWeakPassword):
		s.systemFail(c, http.StatusUnprocessableEntity, nil, func(v *view) {
			v.Errors[field] = v.T("user.err.weak_password", users.MinPasswordLength)
		})
		return
	case errors.Is(err, users.ErrNotFound):
		s.flash(c, "user.err.not_found")
	case err != nil:
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	default:
		s.flash(c, "user.password_reset")
	}
	c.Redirect(http.StatusSeeOther, "/system")
}

// resetUserPassword sets another user's password (an admin's reset), ends
// that user's portal sessions and audits it.
func (s *server) resetUserPassword(c *gin.Context, name, pw string) error {
	if err := s.d.Users.SetPassword(c.Request.Context(), name, pw); err != nil {
		return err
	}
	if err := s.sessions.deleteUser(name, currentSession(c)); err != nil {
		s.log.Error("end sessions after password reset", "err", err)
	}
	s.audit(c, "user.password", name)
	return nil
}

// streamingUpload: the handler streams the body itself (requireCSRF then
// takes the token from the query string instead of parsing the form).
func streamingUpload(c *gin.Context) bool {
	if c.Request.Method != http.MethodPost {
		return false
	}
	switch c.Request.URL.Path {
	case "/system/update", "/system/restore":
		return true
	}
	return false
}

// systemNotice renders the System page with a change to its data (an
// upload's outcome) instead of redirecting.
func (s *server) systemNotice(c *gin.Context, code int, fn func(v *view, d *systemData)) {
	v, err := s.systemView(c)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	fn(v, v.Data.(*systemData))
	s.render(c, code, "system", v)
}
