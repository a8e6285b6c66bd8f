package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/live"
)

// Deps is everything the web layer needs from the daemon. Store, Users and
// Logger are required; nil services make their screens say "not available".
type Deps struct {
	// Cluster, when set (a clustered box), shows the cluster's members on
	// the System page and the shared campaigns (cluster.go).
	Cluster ClusterService
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
	// ShortLinks: short links and click statistics (reach.go); nil: off.
	ShortLinks ShortLinkService
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
	Telegram TelegramSetup // nil: no Telegram bot (telegram.go)
	Viber    ViberSetup    // nil: no Viber bot (viber.go)
	VK       VKSetup       // nil: no VK community (vk.go)

	// Messenger and Instagram: nil when not configured (messenger.go).
	Messenger MetaSetup
	Instagram MetaSetup
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
	// Page; nil: the page only shows the status.
	PBX PBXSettings
	// ModemPacing lets admins change each SIM's pacing and caps on the
	// Modems page (applied at once); nil: the page shows no pacing.
	ModemPacing ModemPacing
	// ModemConsole gives admins each modem's AT trace and an AT console
	// (modem_console.go, /modems/at); nil: those pages answer 404.
	ModemConsole ModemConsole
	// MMS sends MMS through the modems and shows their capability (mms.go,
	// /mms); nil: the page answers 404.
	MMS MMSService
	// Restart restarts the daemon (after a restore upload); nil: the admin
	// restarts it.
	Restart func(reason string)
	// Extra handlers are mounted as-is, without authentication (webhooks).
	// A path ending in "/" also serves everything below it.
	Extra map[string]http.Handler
	// ShortLinkHost is the short links' own domain (http.short_link_url's
	// host): requests for it get only what lies under ShortLinkPath, the
	// rest a bare 404. Empty: no such domain.
	ShortLinkHost, ShortLinkPath string
	// SecureCookies forces the Secure flag on cookies even for plain-HTTP
	// requests (set it when a TLS proxy fronts pbxgate without
	// X-Forwarded-Proto). Requests over TLS always get Secure cookies.
	SecureCookies bool
	// TrustedProxies are the addresses (CIDRs) of reverse proxies whose
	// X-Forwarded-For names the client; none by default, so a client cannot
	// dodge the login rate limit by sending the header itself.
	TrustedProxies []string
	// Stopping, when closed, ends the live views' event streams: the daemon
	// closes it as the HTTP server shuts down (http.Server.Shutdown waits
	// for streaming responses, it does not end them). Nil: they end with
	// their connection or after live.Limits.MaxAge.
	Stopping <-chan struct{}
	// LiveLimits bound the live views' streams (zero: live.DefaultLimits).
	LiveLimits live.Limits
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

	// WebhookMaxBytes is the body budget of the webhook
	// (whatsapp.webhook_max_bytes) when above DefaultBodyLimit.
	WebhookMaxBytes int64

	// Account backs the number, signal and template screens
	// (whatsapp_account.go); nil: they say WhatsApp is not configured.
	Account WhatsAppAccount
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
