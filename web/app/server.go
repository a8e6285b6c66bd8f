package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/i18n"
	"github.com/pbxgate/pbxgate/web/live"
)

// Server holds the portal's state; one per New.
type Server struct {
	D        Deps
	Log      *slog.Logger
	Cat      *i18n.Catalog
	pages    *pages
	Sessions *sessions
	Limiter  *loginLimiter
	// AuditKeep is how many audit entries are kept.
	AuditKeep int
	// Live bounds and serves the live views' event streams.
	Live *live.Streams

	// settings are cached: every request checks SetupDone.
	mu       sync.RWMutex
	settings Settings
}

func NewServer(d Deps) (*Server, error) {
	if err := gin.New().SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, fmt.Errorf("web: trusted proxies: %w", err)
	}
	cat, err := i18n.Load()
	if err != nil {
		return nil, err
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		D:         d,
		Log:       d.Logger,
		Cat:       cat,
		pages:     p,
		Sessions:  &sessions{st: d.Store, now: d.Now},
		Limiter:   newLoginLimiter(d.Now, 5, 15*time.Minute),
		AuditKeep: defaultAuditKeep,
		Live:      live.New(d.LiveLimits, d.Stopping),
	}
	st, err := LoadSettings(d.Store)
	if err != nil {
		return nil, err
	}
	s.settings = st
	return s, nil
}

func (s *Server) CurrentSettings() Settings {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.settings
}

func (s *Server) SaveSettings(st Settings) error {
	if err := s.D.Store.Update(func(txn *store.Txn) error { return store.SetJSON(txn, settingsKey, st) }); err != nil {
		return err
	}
	s.mu.Lock()
	s.settings = st
	s.mu.Unlock()
	return nil
}

// Location is the portal's time zone for display and scheduling.
func (s *Server) Location() *time.Location {
	if tz := s.CurrentSettings().TimeZone; tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc
		}
	}
	return s.D.Location
}

func (s *Server) DefaultCountry() string {
	if c := s.CurrentSettings().DefaultCountry; c != "" {
		return c
	}
	return s.D.DefaultCountry
}

func IsAPI(c *gin.Context) bool { return strings.HasPrefix(c.Request.URL.Path, "/api/") }

// RequireSetup sends everything to /setup until first-run setup is done.
func (s *Server) RequireSetup(c *gin.Context) {
	if s.CurrentSettings().SetupDone {
		c.Next()
		return
	}
	if IsAPI(c) {
		APIError(c, http.StatusServiceUnavailable, "setup_required", "finish first-run setup in the portal first", "")
		return
	}
	c.Redirect(http.StatusSeeOther, "/setup")
	c.Abort()
}

// Context keys.
const (
	ctxUser    = "pbxgate.user"
	ctxSession = "pbxgate.session"
)

// RequireAuth accepts a session cookie, or (API and metrics) a bearer token.
// html decides whether a missing login redirects to /login or answers 401.
func (s *Server) RequireAuth(html bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		if h := c.GetHeader("Authorization"); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				APIError(c, http.StatusUnauthorized, "unauthorized", "use Authorization: Bearer <API token>", "")
				return
			}
			u, err := s.D.Users.TokenUser(ctx, strings.TrimSpace(tok))
			if err != nil {
				APIError(c, http.StatusUnauthorized, "unauthorized", "unknown or revoked API token", "")
				return
			}
			c.Set(ctxUser, u)
			c.Next()
			return
		}
		if sess, u, err := s.Sessions.FromRequest(ctx, c.Request, s.D.Users); err == nil {
			c.Set(ctxUser, u)
			c.Set(ctxSession, sess)
			c.Next()
			return
		} else if !errors.Is(err, errNoSession) {
			s.Log.Warn("session lookup failed", "err", err)
		}
		if html {
			c.Redirect(http.StatusSeeOther, "/login")
			c.Abort()
			return
		}
		APIError(c, http.StatusUnauthorized, "unauthorized", "log in or send Authorization: Bearer <API token>", "")
	}
}

func CurrentUser(c *gin.Context) users.User {
	u, _ := c.Get(ctxUser)
	uu, _ := u.(users.User)
	return uu
}

func CurrentSession(c *gin.Context) *session {
	v, _ := c.Get(ctxSession)
	sess, _ := v.(*session)
	return sess
}

// RequireRole rejects users without role (admins pass every check).
func (s *Server) RequireRole(role users.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		u := CurrentUser(c)
		if u.Role == role || u.Role == users.RoleAdmin {
			c.Next()
			return
		}
		if IsAPI(c) {
			APIError(c, http.StatusForbidden, "forbidden", "this needs the "+string(role)+" role", "")
			return
		}
		s.RenderError(c, http.StatusForbidden, "error.forbidden")
	}
}

// RequireCSRF checks the session's token on state-changing requests made
// with a session cookie; bearer-token requests carry no ambient credentials
// and need none.
func (s *Server) RequireCSRF(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	sess := CurrentSession(c)
	if sess == nil {
		c.Next()
		return
	}
	got := c.GetHeader("X-CSRF-Token")
	if got == "" && streamingUpload(c) {
		// Firmware and backup uploads are streamed to disk by their
		// handlers; parsing the form here would spool them first.
		got = c.Query("csrf_token")
	}
	if got == "" {
		// Reading the token parses the form, within the route's body
		// budget (limitBody).
		var err error
		if strings.HasPrefix(c.ContentType(), "multipart/") {
			err = c.Request.ParseMultipartForm(32 << 20)
		} else {
			err = c.Request.ParseForm()
		}
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			s.tooLarge(c, tooLarge.Limit)
			c.Abort()
			return
		}
		got = c.PostForm("csrf_token")
	}
	if !ConstantEqual(got, sess.CSRF) {
		if IsAPI(c) {
			APIError(c, http.StatusForbidden, "csrf", "missing or wrong CSRF token; reload the page", "")
			return
		}
		s.RenderError(c, http.StatusForbidden, "error.csrf")
		return
	}
	c.Next()
}

// Lang is the request's language: cookie, then Accept-Language, then the
// language chosen at setup.
func (s *Server) Lang(c *gin.Context) i18n.Lang {
	cookie, _ := c.Cookie(LangCookie)
	fallback := i18n.Lang(s.CurrentSettings().Language)
	return i18n.Negotiate(cookie, c.GetHeader("Accept-Language"), fallback)
}

const LangCookie = "pbxgate_lang"

func (s *Server) SetLanguage(c *gin.Context) {
	l, ok := i18n.Parse(c.Param("code"))
	if !ok {
		l = i18n.Default
	}
	s.SetCookie(c, &http.Cookie{Name: LangCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600})
	c.Redirect(http.StatusSeeOther, localPath(c.Query("next")))
}

// localPath returns next when it is a path on this site, else "/": never
// an open redirect. Browsers (WHATWG URL standard) drop TAB, CR and LF
// anywhere in a URL, trim leading C0 controls and spaces, and read "\" as
// "/", so "/\t/evil.example/" and "/\evil" mean "//evil…", another host.
// Accepted: an absolute path that starts with exactly one "/", with no
// control characters, no backslash and no scheme or host, also after one
// more round of percent-decoding.
func localPath(next string) string {
	if len(next) > 2048 {
		return "/"
	}
	for _, cand := range []string{next, unescapeOnce(next)} {
		if !strings.HasPrefix(cand, "/") || strings.HasPrefix(cand, "//") || strings.ContainsRune(cand, '\\') {
			return "/"
		}
		for _, r := range cand {
			if r < 0x20 || r == 0x7f || unicode.IsControl(r) || unicode.IsSpace(r) && r != ' ' {
				return "/"
			}
		}
		u, err := url.Parse(cand)
		if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
			return "/"
		}
	}
	return next
}

// unescapeOnce percent-decodes s once; undecodable input stays as is (and
// is checked as is).
func unescapeOnce(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// SetCookie sets HttpOnly, SameSite=Lax and (over TLS) Secure.
func (s *Server) SetCookie(c *gin.Context, ck *http.Cookie) {
	ck.HttpOnly = true
	ck.SameSite = http.SameSiteLaxMode
	ck.Secure = s.D.SecureCookies || c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https"
	http.SetCookie(c.Writer, ck)
}

// Stream serves a live view as server-sent events (web/live); over the
// stream bound it answers 503 and the page keeps reloading instead.
func (s *Server) Stream(c *gin.Context, v live.View) {
	if c.Request.ContentLength != 0 || len(c.Request.TransferEncoding) > 0 {
		// EventSource sends none; a body here is a mistake or an attack.
		c.String(http.StatusBadRequest, "an event stream takes no request body")
		c.Abort()
		return
	}
	err := s.Live.Serve(c.Request.Context(), c.Writer, v)
	switch {
	case errors.Is(err, live.ErrBusy):
		c.Header("Retry-After", "30")
		c.String(http.StatusServiceUnavailable, "too many live views open")
		c.Abort()
	case err != nil && c.Request.Context().Err() == nil:
		s.Log.Debug("live view ended", "path", c.Request.URL.Path, "err", err)
	}
}
