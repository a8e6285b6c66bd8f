// Package web is pbxgate's HTTP face: liveness/readiness probes, Prometheus
// metrics, the administrators' portal (server-rendered, German and English)
// and the REST API under /api/v1. Everything except the probes, metrics,
// login, first-run setup and the mounted webhooks requires authentication.
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// Deps is everything the web layer needs from the daemon. Store, Users and
// Logger are required; nil services make their screens say "not available".
type Deps struct {
	// Disk, when set, shows a banner on every page while the disk is
	// almost full (disk.go).
	Disk   DiskWatch
	Store  *store.Store
	Users  *users.Service
	Logger *slog.Logger
	// Gatherer serves /metrics; nil disables the endpoint.
	Gatherer prometheus.Gatherer
	// MetricsRequireAuth puts /metrics behind login/bearer tokens (default:
	// open, as usual for a Prometheus scraping a loopback or LAN address).
	MetricsRequireAuth bool
	// MetricsToken, when set, is the only credential /metrics accepts:
	// "Authorization: Bearer <MetricsToken>" (config metrics.token).
	MetricsToken string
	// Ready reports readiness for /readyz; nil means always ready.
	Ready   func(ctx context.Context) Readiness
	Version VersionInfo
	// Location and DefaultCountry are the defaults until first-run setup
	// stores the administrator's choice.
	Location       *time.Location
	DefaultCountry string
	// Status feeds the dashboard (modems, WhatsApp numbers, SIP).
	Status StatusSource
	// USSD enables the admins' USSD console on the Modems page.
	USSD USSDRunner
	// Campaigns backs the campaign screens and API (EngineCampaigns adapts
	// the campaign engine).
	Campaigns CampaignService
	// Templates feeds the WhatsApp template picker and the WhatsApp page's
	// template list; nil hides them.
	Templates TemplateSource
	// SyncTemplates fetches the templates from Meta now (whatsapp.Templates
	// Sync); nil hides the button.
	SyncTemplates func(ctx context.Context) error
	// Sessions backs the chat session screens (*session.Manager).
	Sessions SessionService
	// Media serves the media of chat sessions (WhatsApp); nil: media links
	// answer 404.
	Media MediaSource
	// MediaUploader takes campaign header files to Meta; nil: URL/ID only.
	MediaUploader MediaUploader
	// Rules backs the Automation screens and the message log (*rules.Engine).
	Rules RuleService
	// Consent backs the blacklist and opt-out screen (*consent.Consent).
	Consent ConsentService
	// Messages backs the message log screen and API (*msglog.Log); nil:
	// the page says it is not available.
	Messages MessageLogService
	// WhatsApp is what the WhatsApp page shows for Meta's webhook settings;
	// nil when the channel is not configured.
	WhatsApp *WhatsAppSetup
	// Logs are the daemon's recent log records (System > Logs); nil hides
	// the page's content.
	Logs LogSource
	// Updates takes firmware bundles uploaded in System (appliance); nil:
	// the card explains `pbxgate update FILE`.
	Updates UpdateSpool
	// Restore loads an uploaded backup for the next start; nil hides the
	// upload.
	Restore RestoreStager
	// PBX lets admins change the PBX connection and routing on the PBX
	// page; nil: the page only shows the status.
	PBX PBXSettings
	// ModemPacing lets admins change each SIM's pacing and caps on the
	// Modems page (applied at once); nil: the page shows no pacing.
	ModemPacing ModemPacing
	// Restart restarts the daemon (after a restore upload); nil: the admin
	// restarts it.
	Restart func(reason string)
	// Extra handlers are mounted as-is, without authentication (webhooks).
	// A path ending in "/" also serves everything below it.
	Extra map[string]http.Handler
	// SecureCookies forces the Secure flag on cookies even for plain-HTTP
	// requests (set it when a TLS proxy fronts pbxgate without
	// X-Forwarded-Proto). Requests over TLS always get Secure cookies.
	SecureCookies bool
	// TrustedProxies are the addresses (CIDRs) of reverse proxies whose
	// X-Forwarded-For names the client; none by default, so a client cannot
	// dodge the login rate limit by sending the header itself.
	TrustedProxies []string
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// WhatsAppSetup is the WhatsApp channel's configuration as the portal shows
// it: the values an admin pastes into Meta's App Dashboard. The access token
// is never passed in, only whether it is set.
type WhatsAppSetup struct {
	WebhookPath   string // where Extra mounts the webhook, e.g. "/webhooks/whatsapp"
	VerifyToken   string // shown to admins only, to paste into Meta's webhook form
	PhoneNumberID string
	BusinessID    string
	APIVersion    string
	TokenSet      bool
}

// VersionInfo describes the running build (System > About).
type VersionInfo struct {
	Version, Commit, BuildDate, GoVersion, Platform string
}

// Readiness is the /readyz answer.
type Readiness struct {
	Ready      bool        `json:"ready"`
	Components []Component `json:"components"`
}

// Component is one part's readiness.
type Component struct {
	Name   string `json:"name"`
	State  string `json:"state"` // "ok", "degraded" or "down"
	Detail string `json:"detail,omitempty"`
}

// New builds the HTTP handler. It fails when a required dependency is
// missing or the embedded templates do not parse.
func New(d Deps) (http.Handler, error) {
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
	_ = e.SetTrustedProxies(s.d.TrustedProxies)
	e.ContextWithFallback = true
	e.RedirectTrailingSlash = false
	e.HandleMethodNotAllowed = false
	e.Use(s.logRequests, s.recovery, s.limitBody)

	for path, h := range s.d.Extra {
		wrapped := gin.WrapH(h)
		if len(path) > 1 && path[len(path)-1] == '/' {
			e.Any(path+"*rest", wrapped)
		} else {
			e.Any(path, wrapped)
		}
	}
	s.mount(e)
	return e
}

// requireMetricsToken lets a scrape through only with the configured
// bearer token. Both sides are hashed before the constant-time compare, so
// neither the content nor the length of the token leaks through timing.
func (s *server) requireMetricsToken(c *gin.Context) {
	got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	want := sha256.Sum256([]byte(s.d.MetricsToken))
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="pbxgate metrics"`)
		apiError(c, http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <metrics.token>", "")
		return
	}
	c.Next()
}

func (s *server) readyz(c *gin.Context) {
	r := Readiness{Ready: true, Components: []Component{}}
	if s.d.Ready != nil {
		r = s.d.Ready(c.Request.Context())
		if r.Components == nil {
			r.Components = []Component{}
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
	case path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/dashboard/live" || strings.HasPrefix(path, "/static/"):
		level = slog.LevelDebug
	case c.Writer.Status() >= 500:
		level = slog.LevelError
	// Page views would crowd the actions out of the log (System > Logs
	// keeps the last 2,000 records); changes and refusals stay at info.
	case (c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead) && c.Writer.Status() < 400:
		level = slog.LevelDebug
	}
	// Only the path: query strings may carry search terms or numbers.
	s.log.Log(c.Request.Context(), level, "http request",
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
			s.log.Error("panic in HTTP handler", "path", c.Request.URL.Path, "panic", fmt.Sprint(v))
			if !c.Writer.Written() {
				c.AbortWithStatusJSON(http.StatusInternalServerError, apiErrorBody("internal", "internal error; see the pbxgate log", ""))
			} else {
				c.Abort()
			}
		}
	}()
	c.Next()
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics", "err", fmt.Sprint(v...)) }
