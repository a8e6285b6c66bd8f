package web

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
)

// server holds the portal's state; one per New.
type server struct {
	d        Deps
	log      *slog.Logger
	cat      *i18n.Catalog
	pages    *pages
	sessions *sessions
	limiter  *loginLimiter
	// auditKeep is how many audit entries are kept.
	auditKeep int

	// settings are cached: every request checks SetupDone.
	mu       sync.RWMutex
	settings Settings
}

func newServer(d Deps) (*server, error) {
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
	s := &server{
		d:         d,
		log:       d.Logger,
		cat:       cat,
		pages:     p,
		sessions:  &sessions{st: d.Store, now: d.Now},
		limiter:   newLoginLimiter(d.Now, 5, 15*time.Minute),
		auditKeep: defaultAuditKeep,
	}
	st, err := LoadSettings(d.Store)
	if err != nil {
		return nil, err
	}
	s.settings = st
	return s, nil
}

func (s *server) handler() http.Handler {
	// CrossOriginProtection rejects cross-site non-safe requests by
	// Sec-Fetch-Site/Origin; the per-session token (requireCSRF) covers
	// old browsers that send neither.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusForbidden, "csrf", "cross-origin request rejected", "")
	}))
	return cop.Handler(s.engine())
}

func (s *server) currentSettings() Settings {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.settings
}

func (s *server) saveSettings(st Settings) error {
	if err := s.d.Store.Update(func(txn *store.Txn) error { return store.SetJSON(txn, settingsKey, st) }); err != nil {
		return err
	}
	s.mu.Lock()
	s.settings = st
	s.mu.Unlock()
	return nil
}

// location is the portal's time zone for display and scheduling.
func (s *server) location() *time.Location {
	if tz := s.currentSettings().TimeZone; tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc
		}
	}
	return s.d.Location
}

func (s *server) defaultCountry() string {
	if c := s.currentSettings().DefaultCountry; c != "" {
		return c
	}
	return s.d.DefaultCountry
}

func isAPI(c *gin.Context) bool { return strings.HasPrefix(c.Request.URL.Path, "/api/") }

// requireSetup sends everything to /setup until first-run setup is done.
func (s *server) requireSetup(c *gin.Context) {
	if s.currentSettings().SetupDone {
		c.Next()
		return
	}
	if isAPI(c) {
		apiError(c, http.StatusServiceUnavailable, "setup_required", "finish first-run setup in the portal first", "")
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

// requireAuth accepts a session cookie, or (API and metrics) a bearer token.
// html decides whether a missing login redirects to /login or answers 401.
func (s *server) requireAuth(html bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		if h := c.GetHeader("Authorization"); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				apiError(c, http.StatusUnauthorized, "unauthorized", "use Authorization: Bearer <API token>", "")
				return
			}
			u, err := s.d.Users.TokenUser(ctx, strings.TrimSpace(tok))
			if err != nil {
				apiError(c, http.StatusUnauthorized, "unauthorized", "unknown or revoked API token", "")
				return
			}
			c.Set(ctxUser, u)
			c.Next()
			return
		}
		if sess, u, err := s.sessions.fromRequest(ctx, c.Request, s.d.Users); err == nil {
			c.Set(ctxUser, u)
			c.Set(ctxSession, sess)
			c.Next()
			return
		} else if !errors.Is(err, errNoSession) {
			s.log.Warn("session lookup failed", "err", err)
		}
		if html {
			c.Redirect(http.StatusSeeOther, "/login")
			c.Abort()
			return
		}
		apiError(c, http.StatusUnauthorized, "unauthorized", "log in or send Authorization: Bearer <API token>", "")
	}
}

func currentUser(c *gin.Context) users.User {
	u, _ := c.Get(ctxUser)
	uu, _ := u.(users.User)
	return uu
}

func currentSession(c *gin.Context) *session {
	v, _ := c.Get(ctxSession)
	sess, _ := v.(*session)
	return sess
}

// requireRole rejects users without role (admins pass every check).
func (s *server) requireRole(role users.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		u := currentUser(c)
		if u.Role == role || u.Role == users.RoleAdmin {
			c.Next()
			return
		}
		if isAPI(c) {
			apiError(c, http.StatusForbidden, "forbidden", "this needs the "+string(role)+" role", "")
			return
		}
		s.renderError(c, http.StatusForbidden, "error.forbidden")
	}
}

// requireCSRF checks the session's token on state-changing requests made
// with a session cookie; bearer-token requests carry no ambient credentials
// and need none.
func (s *server) requireCSRF(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	sess := currentSession(c)
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
	if !constantEqual(got, sess.CSRF) {
		if isAPI(c) {
			apiError(c, http.StatusForbidden, "csrf", "missing or wrong CSRF token; reload the page", "")
			return
		}
		s.renderError(c, http.StatusForbidden, "error.csrf")
		return
	}
	c.Next()
}

// lang is the request's language: cookie, then Accept-Language, then the
// language chosen at setup.
func (s *server) lang(c *gin.Context) i18n.Lang {
	cookie, _ := c.Cookie(langCookie)
	fallback := i18n.Lang(s.currentSettings().Language)
	return i18n.Negotiate(cookie, c.GetHeader("Accept-Language"), fallback)
}

const langCookie = "pbxgate_lang"

func (s *server) setLanguage(c *gin.Context) {
	l, ok := i18n.Parse(c.Param("code"))
	if !ok {
		l = i18n.Default
	}
	s.setCookie(c, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600})
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

// setCookie sets HttpOnly, SameSite=Lax and (over TLS) Secure.
func (s *server) setCookie(c *gin.Context, ck *http.Cookie) {
	ck.HttpOnly = true
	ck.SameSite = http.SameSiteLaxMode
	ck.Secure = s.d.SecureCookies || c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https"
	http.SetCookie(c.Writer, ck)
}
