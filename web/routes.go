package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pbxgate/pbxgate/gateway/users"
)

// access is who may call a route.
type access int

const (
	// open: anyone (probes, assets, the language switch).
	open access = iota
	// setupPost: the first-run setup form (a pre-session form token).
	setupPost
	// guest: the login form (after setup, a pre-session form token).
	guest
	// member: any logged-in user (portal: session cookie; API: session or
	// bearer token); state changes need the session's CSRF token.
	member
	// admin: a member with the admin role.
	admin
	// scraper: /metrics, as metrics.token / metrics.require_auth say.
	scraper
)

// route is one row of the route table. Paths under /api/v1 are the JSON
// API (errors as JSON, 401 instead of a redirect to /login); the others
// are the portal's screens.
type route struct {
	method string
	path   string
	access access
	// confirm, when set, is the i18n key of the question a destructive
	// portal action asks first (confirm.go); param names the path
	// parameter the question quotes.
	confirm, param string
	handle         gin.HandlerFunc
}

// routes is the route table: every route the web layer serves, with its
// method, access and handler, in one place. The webhooks and simulators
// the daemon mounts (Deps.Extra) come on top; request body budgets are in
// bodylimit.go (uploadLimits), the API's documentation in openapi.json.
func (s *server) routes() []route {
	const api = "/api/v1"
	return []route{
		// Probes, metrics, assets, language.
		{method: "GET", path: "/healthz", access: open, handle: healthz},
		{method: "GET", path: "/readyz", access: open, handle: s.readyz},
		{method: "GET", path: "/metrics", access: scraper, handle: s.metrics()},
		{method: "GET", path: "/static/*file", access: open, handle: s.static},
		{method: "GET", path: "/lang/:code", access: open, handle: s.setLanguage},

		// First-run setup and login.
		{method: "GET", path: "/setup", access: open, handle: s.setupPage},
		{method: "POST", path: "/setup", access: setupPost, handle: s.setupSubmit},
		{method: "GET", path: "/login", access: guest, handle: s.loginPage},
		{method: "POST", path: "/login", access: guest, handle: s.loginSubmit},
		{method: "POST", path: "/logout", access: member, handle: s.logout},

		// Screens: dashboard.
		{method: "GET", path: "/", access: member, handle: s.dashboard},
		{method: "GET", path: "/dashboard/live", access: member, handle: s.dashboardLive},

		// Screens: campaigns.
		{method: "GET", path: "/campaigns", access: member, handle: s.campaignList},
		{method: "GET", path: "/campaigns/new", access: member, handle: s.campaignNew},
		{method: "POST", path: "/campaigns/new", access: member, handle: s.campaignCreate},
		{method: "POST", path: "/campaigns/preview-csv", access: member, handle: s.campaignPreviewCSV},
		{method: "GET", path: "/campaigns/:id", access: member, handle: s.campaignDetail},
		{method: "GET", path: "/campaigns/:id/export.csv", access: member, handle: s.campaignExport},
		{method: "GET", path: "/campaigns/:id/edit", access: member, handle: s.campaignEdit},
		{method: "POST", path: "/campaigns/:id/edit", access: member, handle: s.campaignCreate},
		{method: "POST", path: "/campaigns/:id/stop", access: member, handle: s.campaignAction("stop")},
		{method: "POST", path: "/campaigns/:id/retry", access: member, handle: s.campaignAction("retry")},
		{method: "POST", path: "/campaigns/:id/start", access: member, handle: s.campaignAction("start")},
		{method: "POST", path: "/campaigns/:id/resume", access: member, handle: s.campaignAction("resume")},
		{method: "POST", path: "/campaigns/:id/duplicate", access: member, handle: s.campaignAction("duplicate")},
		{method: "POST", path: "/campaigns/:id/delete", access: member, confirm: "confirm.q.campaign", handle: s.campaignDelete},

		// Screens: contacts (do-not-contact lists are compliance data:
		// only admins change them).
		{method: "GET", path: "/contacts", access: member, handle: s.contactsPage},
		{method: "POST", path: "/contacts/phonebooks", access: member, handle: s.importContacts("phonebook")},
		{method: "POST", path: "/contacts/dnc", access: admin, handle: s.importContacts("dnc")},
		{method: "POST", path: "/contacts/phonebooks/:name/delete", access: admin, confirm: "confirm.q.phonebook", param: "name", handle: s.deleteContacts("phonebook")},
		{method: "POST", path: "/contacts/dnc/:name/delete", access: admin, confirm: "confirm.q.dnc", param: "name", handle: s.deleteContacts("dnc")},

		// Screens: groups.
		{method: "GET", path: "/groups", access: member, handle: s.groupsPage},
		{method: "POST", path: "/groups", access: admin, handle: s.groupCreate},
		{method: "GET", path: "/groups/:name", access: member, handle: s.groupDetail},
		{method: "POST", path: "/groups/:name/members", access: admin, handle: s.groupAddMembers},
		{method: "POST", path: "/groups/:name/members/remove", access: admin, handle: s.groupRemoveMember},
		{method: "POST", path: "/groups/:name/delete", access: admin, handle: s.groupDelete},

		// Screens: chat sessions and the message log.
		{method: "GET", path: "/sessions", access: member, handle: s.sessionList},
		{method: "GET", path: "/sessions/:id", access: member, handle: s.sessionDetail},
		{method: "POST", path: "/sessions/:id/close", access: member, handle: s.sessionAction("close")},
		{method: "POST", path: "/sessions/:id/transfer", access: member, handle: s.sessionAction("transfer")},
		{method: "POST", path: "/sessions/:id/reply", access: member, handle: s.sessionAction("reply")},
		{method: "GET", path: "/sessions/:id/media/:media", access: member, handle: s.sessionMedia},
		{method: "GET", path: "/messages", access: member, handle: s.messagesPage},

		// Screens: click-to-chat.
		{method: "GET", path: "/clicktochat", access: member, handle: s.clickToChat},
		{method: "GET", path: "/clicktochat/qr.png", access: member, handle: s.clickToChatPNG},

		// Screens: automation (rules change how every inbound message is
		// handled: admins only) and the blacklist.
		{method: "GET", path: "/automation", access: member, handle: s.automationPage},
		{method: "POST", path: "/automation/test", access: member, handle: s.ruleTest},
		{method: "POST", path: "/automation/rules", access: admin, handle: s.ruleCreate},
		{method: "POST", path: "/automation/rules/:id/delete", access: admin, confirm: "confirm.q.rule", handle: s.ruleDelete},
		{method: "GET", path: "/blacklist", access: member, handle: s.blacklistPage},
		{method: "POST", path: "/blacklist", access: admin, handle: s.blacklistAdd},
		{method: "POST", path: "/blacklist/:id/delete", access: admin, confirm: "confirm.q.blacklist", handle: s.blacklistRemove},

		// Screens: channels (modems, WhatsApp, PBX).
		{method: "GET", path: "/modems", access: member, handle: s.modemsPage},
		{method: "POST", path: "/modems/ussd", access: admin, handle: s.ussd},
		{method: "POST", path: "/modems/:name/pacing", access: admin, handle: s.saveModemPacing},
		{method: "POST", path: "/modems/:name/pacing/reset", access: admin, handle: s.resetModemPacing},
		{method: "GET", path: "/whatsapp", access: member, handle: s.simplePage("whatsapp")},
		{method: "POST", path: "/whatsapp/sync", access: admin, handle: s.syncTemplates},
		{method: "GET", path: "/pbx", access: member, handle: s.pbxPage},
		{method: "POST", path: "/pbx/settings", access: admin, handle: s.savePBX},
		{method: "POST", path: "/pbx/settings/reset", access: admin, handle: s.resetPBX},

		// Screens: system (users, tokens, settings, backup, logs, updates).
		{method: "GET", path: "/system", access: member, handle: s.systemPage},
		{method: "POST", path: "/system/password", access: member, handle: s.changeOwnPassword},
		{method: "POST", path: "/system/tokens", access: member, handle: s.createToken},
		{method: "POST", path: "/system/tokens/:id/revoke", access: member, handle: s.revokeToken},
		{method: "POST", path: "/system/users", access: admin, handle: s.addUser},
		{method: "POST", path: "/system/users/:name/delete", access: admin, confirm: "confirm.q.user", param: "name", handle: s.deleteUser},
		{method: "POST", path: "/system/users/:name/role", access: admin, handle: s.setUserRole},
		{method: "POST", path: "/system/users/:name/password", access: admin, handle: s.resetPassword},
		{method: "POST", path: "/system/settings", access: admin, handle: s.saveRegion},
		{method: "GET", path: "/system/backup", access: admin, handle: s.backup},
		{method: "GET", path: "/system/logs", access: admin, handle: s.logsPage},
		{method: "GET", path: "/system/logs.txt", access: admin, handle: s.logsText},
		{method: "POST", path: "/system/update", access: admin, handle: s.uploadUpdate},
		{method: "POST", path: "/system/restore", access: admin, handle: s.uploadRestore},

		// API: about the API and the caller.
		{method: "GET", path: api + "/openapi.json", access: member, handle: apiOpenAPI},
		{method: "GET", path: api + "/me", access: member, handle: apiMe},
		{method: "GET", path: api + "/version", access: member, handle: s.apiVersion},
		{method: "GET", path: api + "/status", access: member, handle: s.apiStatus},
		{method: "GET", path: api + "/dashboard", access: member, handle: s.apiDashboard},

		// API: campaigns.
		{method: "GET", path: api + "/campaigns", access: member, handle: s.apiCampaigns},
		{method: "POST", path: api + "/campaigns", access: member, handle: s.apiCreateCampaign},
		{method: "POST", path: api + "/campaigns/preview-csv", access: member, handle: s.apiPreviewCSV},
		{method: "GET", path: api + "/campaigns/:id", access: member, handle: s.apiCampaign},
		{method: "PUT", path: api + "/campaigns/:id", access: member, handle: s.apiUpdateCampaign},
		{method: "DELETE", path: api + "/campaigns/:id", access: member, handle: s.apiDeleteCampaign},
		{method: "GET", path: api + "/campaigns/:id/recipients", access: member, handle: s.apiRecipients},
		{method: "GET", path: api + "/campaigns/:id/export.csv", access: member, handle: s.apiExportCampaign},
		{method: "POST", path: api + "/campaigns/:id/stop", access: member, handle: s.apiCampaignAction("stop")},
		{method: "POST", path: api + "/campaigns/:id/retry", access: member, handle: s.apiCampaignAction("retry")},
		{method: "POST", path: api + "/campaigns/:id/start", access: member, handle: s.apiCampaignAction("start")},
		{method: "POST", path: api + "/campaigns/:id/resume", access: member, handle: s.apiCampaignAction("resume")},
		{method: "POST", path: api + "/campaigns/:id/duplicate", access: member, handle: s.apiCampaignAction("duplicate")},

		// API: contacts, do-not-contact lists, blacklist, opt-outs.
		{method: "GET", path: api + "/phonebooks", access: member, handle: s.apiPhonebooks},
		{method: "POST", path: api + "/phonebooks", access: member, handle: s.apiImportContacts("phonebook")},
		{method: "GET", path: api + "/phonebooks/:name", access: member, handle: s.apiPhonebook},
		{method: "DELETE", path: api + "/phonebooks/:name", access: admin, handle: s.apiDeleteContacts("phonebook")},
		{method: "GET", path: api + "/dnc-lists", access: member, handle: s.apiDNCLists},
		{method: "POST", path: api + "/dnc-lists", access: admin, handle: s.apiImportContacts("dnc")},
		{method: "GET", path: api + "/dnc-lists/:name", access: member, handle: s.apiDNCList},
		{method: "DELETE", path: api + "/dnc-lists/:name", access: admin, handle: s.apiDeleteContacts("dnc")},
		{method: "GET", path: api + "/blacklist", access: member, handle: s.apiBlacklist},
		{method: "POST", path: api + "/blacklist", access: admin, handle: s.apiBlock},
		{method: "DELETE", path: api + "/blacklist/:id", access: admin, handle: s.apiUnblock},
		{method: "GET", path: api + "/opt-outs", access: member, handle: s.apiOptOuts},

		// API: groups.
		{method: "GET", path: api + "/groups", access: member, handle: s.apiGroups},
		{method: "POST", path: api + "/groups", access: admin, handle: s.apiCreateGroup},
		{method: "GET", path: api + "/groups/:name", access: member, handle: s.apiGroup},
		{method: "DELETE", path: api + "/groups/:name", access: admin, handle: s.apiDeleteGroup},
		{method: "POST", path: api + "/groups/:name/members", access: admin, handle: s.apiAddGroupMembers},
		{method: "DELETE", path: api + "/groups/:name/members/:number", access: admin, handle: s.apiRemoveGroupMember},

		// API: chat sessions and the message log.
		{method: "GET", path: api + "/sessions", access: member, handle: s.apiSessions},
		{method: "GET", path: api + "/sessions/:id", access: member, handle: s.apiSession},
		{method: "POST", path: api + "/sessions/:id/close", access: member, handle: s.apiSessionAction("close")},
		{method: "POST", path: api + "/sessions/:id/transfer", access: member, handle: s.apiSessionAction("transfer")},
		{method: "POST", path: api + "/sessions/:id/reply", access: member, handle: s.apiSessionAction("reply")},
		{method: "GET", path: api + "/sessions/:id/media/:media", access: member, handle: s.apiSessionMedia},
		{method: "GET", path: api + "/messages", access: member, handle: s.apiMessages},
		{method: "GET", path: api + "/messages/:id", access: member, handle: s.apiMessage},

		// API: automation rules.
		{method: "GET", path: api + "/rules", access: member, handle: s.apiRules},
		{method: "POST", path: api + "/rules", access: admin, handle: s.apiSaveRule(false)},
		{method: "POST", path: api + "/rules/test", access: member, handle: s.apiRuleTest},
		{method: "GET", path: api + "/rules/:id", access: member, handle: s.apiRule},
		{method: "PUT", path: api + "/rules/:id", access: admin, handle: s.apiSaveRule(true)},
		{method: "DELETE", path: api + "/rules/:id", access: admin, handle: s.apiDeleteRule},

		// API: channels (modems, WhatsApp, click-to-chat, PBX).
		{method: "GET", path: api + "/modems", access: member, handle: s.apiModems},
		{method: "GET", path: api + "/modems/pacing", access: member, handle: s.apiModemPacing},
		{method: "PUT", path: api + "/modems/:name/pacing", access: admin, handle: s.apiSetModemPacing},
		{method: "DELETE", path: api + "/modems/:name/pacing", access: admin, handle: s.apiResetModemPacing},
		{method: "POST", path: api + "/modems/:name/ussd", access: admin, handle: s.apiUSSD},
		{method: "GET", path: api + "/whatsapp", access: member, handle: s.apiWhatsApp},
		{method: "POST", path: api + "/whatsapp/media", access: member, handle: s.apiUploadMedia},
		{method: "GET", path: api + "/whatsapp/templates", access: member, handle: s.apiTemplates},
		{method: "POST", path: api + "/whatsapp/templates/sync", access: admin, handle: s.apiSyncTemplates},
		{method: "GET", path: api + "/clicktochat", access: member, handle: s.apiClickToChat},
		{method: "GET", path: api + "/clicktochat/qr.png", access: member, handle: s.apiClickToChatPNG},
		{method: "GET", path: api + "/pbx/settings", access: admin, handle: s.apiPBXSettings},
		{method: "PUT", path: api + "/pbx/settings", access: admin, handle: s.apiSavePBXSettings},

		// API: system (password, tokens, users, settings, backup, audit,
		// logs, updates, restore).
		{method: "PUT", path: api + "/me/password", access: member, handle: s.apiChangeOwnPassword},
		{method: "GET", path: api + "/tokens", access: member, handle: s.apiTokens},
		{method: "POST", path: api + "/tokens", access: member, handle: s.apiCreateToken},
		{method: "DELETE", path: api + "/tokens/:id", access: member, handle: s.apiRevokeToken},
		{method: "GET", path: api + "/settings", access: member, handle: s.apiSettings},
		{method: "PUT", path: api + "/settings", access: admin, handle: s.apiSaveSettings},
		{method: "GET", path: api + "/users", access: admin, handle: s.apiUsers},
		{method: "POST", path: api + "/users", access: admin, handle: s.apiAddUser},
		{method: "DELETE", path: api + "/users/:name", access: admin, handle: s.apiDeleteUser},
		{method: "PUT", path: api + "/users/:name/role", access: admin, handle: s.apiSetUserRole},
		{method: "PUT", path: api + "/users/:name/password", access: admin, handle: s.apiResetPassword},
		{method: "GET", path: api + "/backup", access: admin, handle: s.backup},
		{method: "GET", path: api + "/audit", access: admin, handle: s.apiAudit},
		{method: "GET", path: api + "/logs", access: admin, handle: s.apiLogs},
		{method: "GET", path: api + "/system/update", access: admin, handle: s.apiUpdateStatus},
		{method: "POST", path: api + "/system/update", access: admin, handle: s.apiUploadUpdate},
		{method: "POST", path: api + "/system/restore", access: admin, handle: s.apiUploadRestore},
	}
}

// mount registers the route table on e, each route behind the checks its
// access asks for.
func (s *server) mount(e *gin.Engine) {
	for _, r := range s.routes() {
		if r.handle == nil {
			continue // a part this installation lacks (no metrics gatherer)
		}
		chain := append(s.guards(r), r.handle)
		e.Handle(r.method, r.path, chain...)
	}
	e.NoRoute(func(c *gin.Context) {
		if isAPI(c) {
			apiError(c, http.StatusNotFound, "not_found", "no such endpoint", "")
			return
		}
		s.renderError(c, http.StatusNotFound, "error.not_found")
	})
}

// guards are the middleware in front of r's handler.
func (s *server) guards(r route) []gin.HandlerFunc {
	var g []gin.HandlerFunc
	switch r.access {
	case open:
	case setupPost:
		g = append(g, s.requireFormToken)
	case guest:
		g = append(g, s.requireSetup)
		if r.method == http.MethodPost {
			g = append(g, s.requireFormToken)
		}
	case scraper:
		switch {
		case s.d.MetricsToken != "":
			g = append(g, s.requireMetricsToken)
		case s.d.MetricsRequireAuth:
			g = append(g, s.requireAuth(false))
		}
	case member, admin:
		g = append(g, s.requireSetup, s.requireAuth(!strings.HasPrefix(r.path, "/api/")), s.requireCSRF)
		if r.access == admin {
			g = append(g, s.requireRole(users.RoleAdmin))
		}
	}
	if r.confirm != "" {
		g = append(g, s.requireConfirm(r.confirm, r.param))
	}
	return g
}

func healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// metrics serves the Prometheus gatherer; nil when there is none.
func (s *server) metrics() gin.HandlerFunc {
	if s.d.Gatherer == nil {
		return nil
	}
	return gin.WrapH(promhttp.HandlerFor(s.d.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}}))
}
