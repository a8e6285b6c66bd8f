// Package web is pbxgate's HTTP face: liveness/readiness probes, Prometheus
// metrics, the administrators' portal (server-rendered, German and English)
// and the REST API under /api/v1. Everything except the probes, metrics,
// login, first-run setup and the mounted webhooks requires authentication.
//
// Where things are:
//   - routes.go: the route table, every route with method, path, access
//     and handler, and the middleware each access level puts in front;
//   - web/screens: the portal's pages, one file per screen;
//   - web/api: the JSON API, one file per resource, and openapi.json;
//   - web/app: what both share (state, auth, rendering, templates, the
//     service interfaces in Deps, JSON helpers);
//   - web/i18n: the German and English catalogs.
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"
)

// New builds the HTTP handler. It fails when a required dependency is
// missing or the embedded templates do not parse.
func New(d app.Deps) (http.Handler, error) {
	if d.Store == nil || d.Users == nil {
		return nil, errors.New("web: Store and Users are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Location == nil {
		d.Location = time.UTC
	}
	if d.DefaultCountry == "" {
		d.DefaultCountry = "DE"
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s, err := newServer(d)
	if err != nil {
		return nil, err
	}
	return s.handler(), nil
}

// gin keeps its mode in a package variable; release mode only silences gin's
// own debug printing, so setting it once for the process is harmless.
func init() { gin.SetMode(gin.ReleaseMode) }

func (s *server) engine() *gin.Engine {
	e := gin.New()
	// Only fails for malformed CIDRs, which newServer has checked.
	_ = e.SetTrustedProxies(s.D.TrustedProxies)
	e.ContextWithFallback = true
	e.RedirectTrailingSlash = false
	e.HandleMethodNotAllowed = false
	e.Use(s.logRequests, s.recovery, s.onlyRedirectsOnShortLinkHost, s.LimitBody)

	for path, h := range s.D.Extra {
		wrapped := withClientIP(h)
		if len(path) > 1 && path[len(path)-1] == '/' {
			e.Any(path+"*rest", wrapped)
		} else {
			e.Any(path, wrapped)
		}
	}
	s.mount(e)
	return e
}

// clientIPKey carries the client address gin works out (the
// trusted-proxy rule, Deps.TrustedProxies) to the Extra handlers.
type clientIPKey struct{}

// withClientIP mounts h with the client's address in its request context.
func withClientIP(h http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := context.WithValue(c.Request.Context(), clientIPKey{}, c.ClientIP())
		h.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
	}
}

// ClientIP is the client address of a request served by an Extra handler:
// behind a trusted proxy the address its X-Forwarded-For names, else the
// connection's. Outside the portal's handler it is the connection's.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// onlyRedirectsOnShortLinkHost keeps the portal off the short links' own
// domain (Deps.ShortLinkHost): there only the redirects are served, and
// everything else is a bare 404, so the domain printed in campaign texts
// reveals nothing of the gateway.
func (s *server) onlyRedirectsOnShortLinkHost(c *gin.Context) {
	if s.D.ShortLinkHost == "" || !strings.EqualFold(hostOnly(c.Request.Host), s.D.ShortLinkHost) ||
		(s.D.ShortLinkPath != "" && strings.HasPrefix(c.Request.URL.Path, s.D.ShortLinkPath)) {
		c.Next()
		return
	}
	c.AbortWithStatus(http.StatusNotFound)
}

// hostOnly is the host of a Host header without its port.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// requireMetricsToken lets a scrape through only with the configured
// bearer token. Both sides are hashed before the constant-time compare, so
// neither the content nor the length of the token leaks through timing.
func (s *server) requireMetricsToken(c *gin.Context) {
	got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	want := sha256.Sum256([]byte(s.D.MetricsToken))
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="pbxgate metrics"`)
		app.APIError(c, http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <metrics.token>", "")
		return
	}
	c.Next()
}

func (s *server) readyz(c *gin.Context) {
	r := app.Readiness{Ready: true, Components: []app.Component{}}
	if s.D.Ready != nil {
		r = s.D.Ready(c.Request.Context())
		if r.Components == nil {
			r.Components = []app.Component{}
		}
	}
	code := http.StatusOK
	if !r.Ready {
		code = http.StatusServiceUnavailable
	}
	c.JSON(code, r)
}

// logRequests logs every request at debug (probes and assets) or info.
func (s *server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	path := c.Request.URL.Path
	level := slog.LevelInfo
	switch {
	// Probes, scrapes, assets and the dashboard's poll would drown the log.
	case path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/dashboard/live" || strings.HasSuffix(path, "/events") || strings.HasPrefix(path, "/static/"):
		level = slog.LevelDebug
	case c.Writer.Status() >= 500:
		level = slog.LevelError
	// Page views would crowd the actions out of the log (System > Logs
	// keeps the last 2,000 records); changes and refusals stay at info.
	case (c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead) && c.Writer.Status() < 400:
		level = slog.LevelDebug
	}
	// Only the path: query strings may carry search terms or numbers.
	s.Log.Log(c.Request.Context(), level, "http request",
		"method", c.Request.Method, "path", path, "status", c.Writer.Status(),
		"duration", time.Since(start).Round(time.Microsecond), "remote", c.ClientIP())
}

// recovery turns a panic into a 500 and a logged stack-free error, so one
// broken screen never takes the daemon down.
func (s *server) recovery(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Log.Error("panic in HTTP handler", "path", c.Request.URL.Path, "panic", fmt.Sprint(v))
			if !c.Writer.Written() {
				c.AbortWithStatusJSON(http.StatusInternalServerError, app.APIErrorBody("internal", "internal error; see the pbxgate log", ""))
			} else {
				c.Abort()
			}
		}
	}()
	c.Next()
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics", "err", fmt.Sprint(v...)) }
