package screens

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// FormCookie carries the double-submit token of the forms shown before a
// session exists (login, setup).
const FormCookie = "pbxgate_form"

// formToken returns the request's form token, setting the cookie if new.
func (s *Screens) formToken(c *gin.Context) string {
	if v, err := c.Cookie(FormCookie); err == nil && len(v) >= 32 {
		return v
	}
	v := app.RandomToken()
	s.SetCookie(c, &http.Cookie{Name: FormCookie, Value: v, Path: "/"})
	return v
}

// RequireFormToken checks the double-submit token of pre-session forms.
func (s *Screens) RequireFormToken(c *gin.Context) {
	ck, err := c.Cookie(FormCookie)
	if err != nil || !app.ConstantEqual(c.PostForm("form_token"), ck) {
		s.RenderError(c, http.StatusForbidden, "error.csrf")
		return
	}
	c.Next()
}

func (s *Screens) LoginPage(c *gin.Context) {
	if _, _, err := s.Sessions.FromRequest(c.Request.Context(), c.Request, s.D.Users); err == nil {
		c.Redirect(http.StatusSeeOther, "/")
		return
	}
	v := s.NewView(c, "", "login.title", nil)
	v.FormToken = s.formToken(c)
	s.Render(c, http.StatusOK, "login", v)
}

func (s *Screens) LoginSubmit(c *gin.Context) {
	name := strings.TrimSpace(c.PostForm("username"))
	pw := c.PostForm("password")
	v := s.NewView(c, "", "login.title", nil)
	v.FormToken = s.formToken(c)
	v.Form["username"] = name

	ipKey, userKey := "ip:"+c.ClientIP(), "user:"+limiterName(name)
	wait := max(s.Limiter.RetryAfter(ipKey), s.Limiter.RetryAfter(userKey))
	if wait > 0 {
		mins := int(math.Ceil(wait.Minutes()))
		c.Header("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		v.Errors["form"] = v.T("login.rate_limited", mins)
		s.Log.Warn("login refused: too many failures", "user", name, "remote", c.ClientIP())
		s.Render(c, http.StatusTooManyRequests, "login", v)
		return
	}
	u, err := s.D.Users.Authenticate(c.Request.Context(), name, pw)
	if errors.Is(err, users.ErrBusy) {
		// Password checks are bounded (users.HashGate): not a failed
		// login, only a "not now".
		s.busy(c, v, "form")
		s.Render(c, http.StatusServiceUnavailable, "login", v)
		return
	}
	if err != nil {
		if !errors.Is(err, users.ErrBadCredentials) {
			s.Log.Error("login failed", "err", err)
		}
		s.Limiter.Fail(ipKey)
		s.Limiter.Fail(userKey)
		s.Log.Warn("failed portal login", "user", name, "remote", c.ClientIP())
		v.Errors["form"] = v.T("login.bad_credentials")
		s.Render(c, http.StatusUnauthorized, "login", v)
		return
	}
	s.Limiter.Reset(userKey)
	if err := s.startSession(c, u.Name); err != nil {
		s.Log.Error("create session", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Log.Info("portal login", "user", u.Name, "remote", c.ClientIP())
	c.Redirect(http.StatusSeeOther, "/")
}

// busy shows "too many logins being checked, try again" at field and
// sets Retry-After (the HashGate's queue was full).
func (s *Screens) busy(c *gin.Context, v *app.View, field string) {
	c.Header("Retry-After", "2")
	v.Errors[field] = v.T("login.busy")
	s.Log.Warn("password check refused: too many waiting", "remote", c.ClientIP())
}

// limiterName is the login limiter's key for a typed user name: user names
// are at most 64 characters (users.ErrInvalidName), so anything longer
// shares one key instead of growing the limiter by what a caller sends.
func limiterName(name string) string {
	if len(name) > 64 {
		return "(too long)"
	}
	return name
}

func (s *Screens) startSession(c *gin.Context, user string) error {
	id, _, err := s.Sessions.Create(user)
	if err != nil {
		return err
	}
	s.SetCookie(c, &http.Cookie{Name: app.SessionCookie, Value: id, Path: "/", MaxAge: int(app.SessionMax.Seconds())})
	return nil
}

func (s *Screens) Logout(c *gin.Context) {
	if sess := app.CurrentSession(c); sess != nil {
		if err := s.Sessions.Delete(sess); err != nil {
			s.Log.Error("delete session", "err", err)
		}
	}
	s.SetCookie(c, &http.Cookie{Name: app.SessionCookie, Path: "/", MaxAge: -1})
	c.Redirect(http.StatusSeeOther, "/login")
}

// setupData is the first-run form's context.
type setupData struct {
	// Generated: the daemon created "admin" with a password printed on its
	// console; the form asks for it and for a new one.
	Generated bool
	// Existing: users were created before the first start (pbxgate user
	// add); an existing administrator confirms with their own password.
	Existing  bool
	Admin     string
	Countries []string
	Zones     []string
}

// Region choices offered at setup; any ISO code works in the config file.
var setupCountries = []string{"DE", "AT", "CH", "LI", "LU", "NL", "BE", "FR", "IT", "PL", "CZ", "DK", "GB", "IE", "ES", "US"}

var setupZones = []string{"Europe/Berlin", "Europe/Vienna", "Europe/Zurich", "Europe/Luxembourg", "Europe/Amsterdam",
	"Europe/Brussels", "Europe/Paris", "Europe/Rome", "Europe/Warsaw", "Europe/Prague", "Europe/Copenhagen",
	"Europe/London", "Europe/Dublin", "Europe/Madrid", "America/New_York", "UTC"}

func (s *Screens) setupState(c *gin.Context) (setupData, error) {
	d := setupData{Admin: users.FirstAdmin, Countries: setupCountries, Zones: setupZones}
	list, err := s.D.Users.List(c.Request.Context())
	if err != nil {
		return d, err
	}
	for _, u := range list {
		if u.Name == users.FirstAdmin && u.MustChangePassword {
			d.Generated = true
		}
	}
	d.Existing = !d.Generated && len(list) > 0
	return d, nil
}

func (s *Screens) setupView(c *gin.Context, data setupData) *app.View {
	v := s.NewView(c, "", "setup.title", data)
	v.FormToken = s.formToken(c)
	st := s.CurrentSettings()
	v.Form["language"] = string(s.Lang(c))
	v.Form["country"] = s.DefaultCountry()
	v.Form["timezone"] = app.CmpOr(st.TimeZone, s.D.Location.String())
	return v
}

func (s *Screens) SetupPage(c *gin.Context) {
	if s.CurrentSettings().SetupDone {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	data, err := s.setupState(c)
	if err != nil {
		s.Log.Error("setup state", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Render(c, http.StatusOK, "setup", s.setupView(c, data))
}

func (s *Screens) SetupSubmit(c *gin.Context) {
	if s.CurrentSettings().SetupDone {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	ctx := c.Request.Context()
	data, err := s.setupState(c)
	if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	v := s.setupView(c, data)
	lang, langOK := i18n.Parse(c.PostForm("language"))
	if langOK {
		// Answer in the language just chosen.
		v.Language = lang
	}
	for _, f := range []string{"language", "country", "timezone", "username"} {
		v.Form[f] = c.PostForm(f)
	}
	current, pw, pw2 := c.PostForm("current_password"), c.PostForm("password"), c.PostForm("password2")
	country := strings.ToUpper(strings.TrimSpace(c.PostForm("country")))
	tz := strings.TrimSpace(c.PostForm("timezone"))

	if !langOK {
		v.Errors["language"] = v.T("setup.err.language")
	}
	if !app.ValidCountry(country) {
		v.Errors["country"] = v.T("setup.err.country")
	}
	if !app.ValidTimeZone(tz) {
		v.Errors["timezone"] = v.T("setup.err.timezone")
	}
	if !data.Existing {
		if len([]rune(pw)) < users.MinPasswordLength {
			v.Errors["password"] = v.T("user.err.weak_password", users.MinPasswordLength)
		} else if pw != pw2 {
			v.Errors["password2"] = v.T("user.err.mismatch")
		}
	}
	ipKey := "ip:" + c.ClientIP()
	admin := users.FirstAdmin
	if data.Existing {
		admin = strings.TrimSpace(c.PostForm("username"))
		if wait := s.Limiter.RetryAfter(ipKey); wait > 0 {
			v.Errors["current_password"] = v.T("login.rate_limited", int(math.Ceil(wait.Minutes())))
		} else if u, err := s.D.Users.Authenticate(ctx, admin, current); errors.Is(err, users.ErrBusy) {
			s.busy(c, v, "current_password")
		} else if err != nil {
			s.Limiter.Fail(ipKey)
			v.Errors["current_password"] = v.T("login.bad_credentials")
		} else if u.Role != users.RoleAdmin {
			v.Errors["username"] = v.T("error.forbidden")
		}
	}
	if data.Generated {
		if wait := s.Limiter.RetryAfter(ipKey); wait > 0 {
			v.Errors["current_password"] = v.T("login.rate_limited", int(math.Ceil(wait.Minutes())))
		} else if _, err := s.D.Users.Authenticate(ctx, users.FirstAdmin, current); errors.Is(err, users.ErrBusy) {
			s.busy(c, v, "current_password")
		} else if err != nil {
			s.Limiter.Fail(ipKey)
			v.Errors["current_password"] = v.T("setup.err.current")
		} else if current == pw {
			v.Errors["password"] = v.T("setup.err.same")
		}
	}
	if len(v.Errors) > 0 {
		code := http.StatusUnprocessableEntity
		if c.Writer.Header().Get("Retry-After") != "" {
			code = http.StatusServiceUnavailable
		}
		s.Render(c, code, "setup", v)
		return
	}

	switch {
	case data.Generated:
		err = s.D.Users.SetPassword(ctx, users.FirstAdmin, pw)
	case data.Existing:
		// The administrator keeps the password just proven.
	default:
		// No user at all (the daemon normally creates one before serving):
		// setup creates the admin.
		err = s.D.Users.Add(ctx, users.FirstAdmin, pw, users.RoleAdmin)
	}
	if err != nil {
		s.Log.Error("setup: admin password", "err", err)
		v.Errors["password"] = v.T("error.internal")
		s.Render(c, http.StatusInternalServerError, "setup", v)
		return
	}
	st := app.Settings{SetupDone: true, Language: string(lang), DefaultCountry: country, TimeZone: tz, Updated: s.D.Now().UTC()}
	if err := s.SaveSettings(st); err != nil {
		s.Log.Error("setup: save settings", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Log.Info("first-run setup done", "language", st.Language, "default_country", country, "time_zone", tz)
	s.SetCookie(c, &http.Cookie{Name: app.LangCookie, Value: string(lang), Path: "/", MaxAge: 365 * 24 * 3600})
	if err := s.startSession(c, admin); err != nil {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	s.Flash(c, "setup.done")
	c.Redirect(http.StatusSeeOther, "/")
}
