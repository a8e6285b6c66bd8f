package web

import (
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/api"
	"github.com/pbxgate/pbxgate/web/app"

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
	const v1 = "/api/v1"
	return []route{
		// Probes, metrics, assets, language.
		{method: "GET", path: "/healthz", access: open, handle: healthz},
		{method: "GET", path: "/readyz", access: open, handle: s.readyz},
		{method: "GET", path: "/metrics", access: scraper, handle: s.metrics()},
		{method: "GET", path: "/static/*file", access: open, handle: s.Static},
		{method: "GET", path: "/lang/:code", access: open, handle: s.SetLanguage},

		// First-run setup and login.
		{method: "GET", path: "/setup", access: open, handle: s.SetupPage},
		{method: "POST", path: "/setup", access: setupPost, handle: s.SetupSubmit},
		{method: "GET", path: "/login", access: guest, handle: s.LoginPage},
		{method: "POST", path: "/login", access: guest, handle: s.LoginSubmit},
		{method: "POST", path: "/logout", access: member, handle: s.Logout},

		// Screens: dashboard.
		{method: "GET", path: "/", access: member, handle: s.Dashboard},
		{method: "GET", path: "/dashboard/live", access: member, handle: s.DashboardLive},
		{method: "GET", path: "/dashboard/events", access: member, handle: s.DashboardEvents},

		// Screens: campaigns.
		{method: "GET", path: "/campaigns", access: member, handle: s.CampaignList},
		{method: "GET", path: "/campaigns/new", access: member, handle: s.CampaignNew},
		{method: "POST", path: "/campaigns/new", access: member, handle: s.CampaignCreate},
		{method: "POST", path: "/campaigns/preview-csv", access: member, handle: s.CampaignPreviewCSV},
		{method: "POST", path: "/campaigns/bulk", access: member, handle: s.CampaignBulk},
		{method: "POST", path: "/campaigns/bulk-delete", access: member, confirm: "confirm.q.campaigns", handle: s.CampaignBulk},
		{method: "GET", path: "/campaigns/:id", access: member, handle: s.CampaignDetail},
		{method: "GET", path: "/campaigns/:id/export.csv", access: member, handle: s.CampaignExport},
		{method: "GET", path: "/campaigns/:id/events", access: member, handle: s.CampaignEvents},
		{method: "GET", path: "/campaigns/:id/edit", access: member, handle: s.CampaignEdit},
		{method: "POST", path: "/campaigns/:id/edit", access: member, handle: s.CampaignCreate},
		{method: "POST", path: "/campaigns/:id/stop", access: member, handle: s.CampaignAction("stop")},
		{method: "POST", path: "/campaigns/:id/retry", access: member, handle: s.CampaignAction("retry")},
		{method: "POST", path: "/campaigns/:id/start", access: member, handle: s.CampaignAction("start")},
		{method: "POST", path: "/campaigns/:id/resume", access: member, handle: s.CampaignAction("resume")},
		{method: "POST", path: "/campaigns/:id/duplicate", access: member, handle: s.CampaignAction("duplicate")},
		{method: "POST", path: "/campaigns/:id/delete", access: member, confirm: "confirm.q.campaign", handle: s.CampaignDelete},

		// Screens: contacts (do-not-contact lists are compliance data:
		// only admins change them).
		{method: "GET", path: "/contacts", access: member, handle: s.ContactsPage},
		{method: "POST", path: "/contacts/phonebooks", access: member, handle: s.ImportContacts("phonebook")},
		{method: "POST", path: "/contacts/dnc", access: admin, handle: s.ImportContacts("dnc")},
		{method: "POST", path: "/contacts/phonebooks/:name/delete", access: admin, confirm: "confirm.q.phonebook", param: "name", handle: s.DeleteContacts("phonebook")},
		{method: "POST", path: "/contacts/dnc/:name/delete", access: admin, confirm: "confirm.q.dnc", param: "name", handle: s.DeleteContacts("dnc")},
		{method: "GET", path: "/contacts/lists", access: member, handle: s.ContactListsPage},
		{method: "POST", path: "/contacts/lists", access: member, handle: s.ImportContactList},
		{method: "POST", path: "/contacts/lists/:name/delete", access: admin, handle: s.DeleteContacts("list")},

		// Screens: groups.
		{method: "GET", path: "/groups", access: member, handle: s.GroupsPage},
		{method: "POST", path: "/groups", access: admin, handle: s.GroupCreate},
		{method: "GET", path: "/groups/:name", access: member, handle: s.GroupDetail},
		{method: "POST", path: "/groups/:name/members", access: admin, handle: s.GroupAddMembers},
		{method: "POST", path: "/groups/:name/members/remove", access: admin, handle: s.GroupRemoveMember},
		{method: "POST", path: "/groups/:name/delete", access: admin, handle: s.GroupDelete},

		// Screens: chat sessions and the message log.
		{method: "GET", path: "/sessions", access: member, handle: s.SessionList},
		{method: "GET", path: "/sessions/events", access: member, handle: s.SessionEvents},
		{method: "GET", path: "/sessions/:id", access: member, handle: s.SessionDetail},
		{method: "POST", path: "/sessions/:id/close", access: member, handle: s.SessionAction("close")},
		{method: "POST", path: "/sessions/:id/transfer", access: member, handle: s.SessionAction("transfer")},
		{method: "POST", path: "/sessions/:id/reply", access: member, handle: s.SessionAction("reply")},
		{method: "POST", path: "/sessions/:id/textblock", access: member, handle: s.SessionTextBlock},
		{method: "GET", path: "/sessions/:id/media/:media", access: member, handle: s.SessionMedia},
		{method: "GET", path: "/messages", access: member, handle: s.MessagesPage},

		// Screens: click-to-chat.
		{method: "GET", path: "/clicktochat", access: member, handle: s.ClickToChat},
		{method: "GET", path: "/clicktochat/qr.png", access: member, handle: s.ClickToChatPNG},

		// Screens: automation (rules change how every inbound message is
		// handled: admins only) and the blacklist.
		{method: "GET", path: "/automation", access: member, handle: s.AutomationPage},
		{method: "POST", path: "/automation/test", access: member, handle: s.RuleTest},
		{method: "POST", path: "/automation/rules", access: admin, handle: s.RuleCreate},
		{method: "POST", path: "/automation/rules/:id/delete", access: admin, confirm: "confirm.q.rule", handle: s.RuleDelete},
		{method: "GET", path: "/blacklist", access: member, handle: s.BlacklistPage},
		{method: "POST", path: "/blacklist", access: admin, handle: s.BlacklistAdd},
		{method: "POST", path: "/blacklist/:id/delete", access: admin, confirm: "confirm.q.blacklist", handle: s.BlacklistRemove},

		// Screens: channels (modems, WhatsApp, PBX).
		{method: "GET", path: "/modems", access: member, handle: s.ModemsPage},
		{method: "POST", path: "/modems/ussd", access: admin, handle: s.USSD},
		{method: "POST", path: "/modems/:name/pacing", access: admin, handle: s.SaveModemPacing},
		{method: "POST", path: "/modems/:name/pacing/reset", access: admin, handle: s.ResetModemPacing},
		// The installer's AT trace and audited AT console (modem_at.go).
		{method: "GET", path: "/modems/at", access: admin, handle: s.ATPage},
		{method: "GET", path: "/modems/at/trace", access: admin, handle: s.ATTraceLive},
		{method: "POST", path: "/modems/at", access: admin, handle: s.ATRun},

		// MMS through the modems (docs/mms.md): screen and API.
		{method: "GET", path: "/mms", access: member, handle: s.MMSPage},
		{method: "POST", path: "/mms", access: member, handle: s.MMSSend},
		{method: "GET", path: v1 + "/mms/modems", access: member, handle: s.APIMMSModems},
		{method: "GET", path: v1 + "/mms/presets", access: member, handle: s.APIMMSPresets},
		{method: "POST", path: v1 + "/mms/fit", access: member, handle: s.APIMMSFit},
		{method: "POST", path: v1 + "/mms/messages", access: member, handle: s.APIMMSSend},
		{method: "GET", path: "/whatsapp", access: member, handle: s.SimplePage("whatsapp")},
		{method: "POST", path: "/whatsapp/sync", access: admin, handle: s.SyncTemplates},
		// WhatsApp account: numbers' standing at Meta, account signals,
		// templates (screens/whatsapp.go) and their API
		// (api/api_whatsapp_account.go).
		{method: "GET", path: "/whatsapp/account", access: member, handle: s.WhatsAppAccountPage},
		{method: "POST", path: "/whatsapp/account/refresh", access: admin, handle: s.WhatsAppAccountRefresh},
		{method: "GET", path: "/whatsapp/templates", access: member, handle: s.WhatsAppTemplatesPage},
		{method: "POST", path: "/whatsapp/templates", access: admin, handle: s.WhatsAppTemplateCreate},
		{method: "POST", path: "/whatsapp/templates/:name/delete", access: admin, confirm: "whatsapp.confirm.q.template", param: "name", handle: s.WhatsAppTemplateDelete},
		{method: "GET", path: "/whatsapp/templates/:name/:lang/edit", access: admin, handle: s.WhatsAppTemplateEditPage},
		{method: "POST", path: "/whatsapp/templates/:name/:lang/edit", access: admin, handle: s.WhatsAppTemplateEdit},
		{method: "POST", path: "/whatsapp/typing/:id", access: member, handle: s.WhatsAppTyping},
		{method: "GET", path: v1 + "/whatsapp/numbers", access: member, handle: s.APIWhatsAppNumbers},
		{method: "POST", path: v1 + "/whatsapp/numbers/refresh", access: admin, handle: s.APIWhatsAppRefresh},
		{method: "GET", path: v1 + "/whatsapp/signals", access: member, handle: s.APIWhatsAppSignals},
		{method: "GET", path: "/telegram", access: member, handle: s.TelegramPage},
		{method: "POST", path: "/telegram/test", access: admin, handle: s.TelegramPage},
		{method: "GET", path: "/telegram/qr.png", access: member, handle: s.TelegramPNG},
		{method: "GET", path: "/viber", access: member, handle: s.ViberPage},
		{method: "POST", path: "/viber/test", access: admin, handle: s.ViberPage},
		{method: "GET", path: "/viber/qr.png", access: member, handle: s.ViberPNG},
		{method: "GET", path: "/vk", access: member, handle: s.VKPage},
		{method: "POST", path: "/vk/test", access: admin, handle: s.VKPage},
		{method: "GET", path: "/vk/qr.png", access: member, handle: s.VKPNG},

		// Facebook Messenger and Instagram (screens/messenger.go).
		{method: "GET", path: "/messenger", access: member, handle: s.MessengerPage},
		{method: "POST", path: "/messenger/test", access: admin, handle: s.MessengerPage},
		{method: "GET", path: "/messenger/qr.png", access: member, handle: s.MessengerPNG},
		{method: "GET", path: "/instagram", access: member, handle: s.InstagramPage},
		{method: "POST", path: "/instagram/test", access: admin, handle: s.InstagramPage},
		{method: "GET", path: "/instagram/qr.png", access: member, handle: s.InstagramPNG},
		{method: "GET", path: "/pbx", access: member, handle: s.PBXPage},
		{method: "POST", path: "/pbx/settings", access: admin, handle: s.SavePBX},
		{method: "POST", path: "/pbx/settings/reset", access: admin, handle: s.ResetPBX},

		// Screens: the cluster's shared campaigns (a clustered box only).
		{method: "GET", path: "/cluster/campaigns", access: member, handle: s.ClusterCampaigns},
		{method: "POST", path: "/cluster/campaigns", access: admin, handle: s.ClusterCampaignCreate},
		{method: "POST", path: "/cluster/campaigns/:id/stop", access: admin, handle: s.ClusterCampaignAction("stop")},
		{method: "POST", path: "/cluster/campaigns/:id/resume", access: admin, handle: s.ClusterCampaignAction("resume")},
		{method: "POST", path: "/cluster/campaigns/:id/delete", access: admin, confirm: "cluster.confirm_delete_id", param: "id", handle: s.ClusterCampaignAction("delete")},

		// Screens: system (users, tokens, settings, backup, logs, updates).
		{method: "GET", path: "/system", access: member, handle: s.SystemPage},
		{method: "POST", path: "/system/password", access: member, handle: s.ChangeOwnPassword},
		{method: "POST", path: "/system/tokens", access: member, handle: s.CreateToken},
		{method: "POST", path: "/system/tokens/:id/revoke", access: member, handle: s.RevokeToken},
		{method: "POST", path: "/system/users", access: admin, handle: s.AddUser},
		{method: "POST", path: "/system/users/:name/delete", access: admin, confirm: "confirm.q.user", param: "name", handle: s.DeleteUser},
		{method: "POST", path: "/system/users/:name/role", access: admin, handle: s.SetUserRole},
		{method: "POST", path: "/system/users/:name/password", access: admin, handle: s.ResetPassword},
		{method: "POST", path: "/system/settings", access: admin, handle: s.SaveRegion},
		{method: "GET", path: "/system/backup", access: admin, handle: s.Backup},
		{method: "GET", path: "/system/logs", access: admin, handle: s.LogsPage},
		{method: "GET", path: "/system/logs.txt", access: admin, handle: s.LogsText},
		{method: "POST", path: "/system/update", access: admin, handle: s.UploadUpdate},
		{method: "POST", path: "/system/restore", access: admin, handle: s.UploadRestore},

		// API: about the API and the caller.
		{method: "GET", path: v1 + "/openapi.json", access: member, handle: api.APIOpenAPI},
		{method: "GET", path: v1 + "/me", access: member, handle: api.APIMe},
		{method: "GET", path: v1 + "/version", access: member, handle: s.APIVersion},
		{method: "GET", path: v1 + "/status", access: member, handle: s.APIStatus},
		{method: "GET", path: v1 + "/dashboard", access: member, handle: s.APIDashboard},

		// API: the cluster and its shared campaigns (404 on a box alone).
		{method: "GET", path: v1 + "/cluster", access: member, handle: s.APICluster},
		{method: "GET", path: v1 + "/cluster/campaigns", access: member, handle: s.APIClusterCampaigns},
		{method: "POST", path: v1 + "/cluster/campaigns", access: admin, handle: s.APIClusterCreate},
		{method: "GET", path: v1 + "/cluster/campaigns/:id", access: member, handle: s.APIClusterCampaign},
		{method: "POST", path: v1 + "/cluster/campaigns/:id/stop", access: admin, handle: s.APIClusterAction("stop")},
		{method: "POST", path: v1 + "/cluster/campaigns/:id/resume", access: admin, handle: s.APIClusterAction("resume")},
		{method: "DELETE", path: v1 + "/cluster/campaigns/:id", access: admin, handle: s.APIClusterAction("delete")},

		// API: campaigns.
		{method: "GET", path: v1 + "/campaigns", access: member, handle: s.APICampaigns},
		{method: "POST", path: v1 + "/campaigns", access: member, handle: s.APICreateCampaign},
		{method: "POST", path: v1 + "/campaigns/preview-csv", access: member, handle: s.APIPreviewCSV},
		{method: "POST", path: v1 + "/campaigns/bulk", access: member, handle: s.APIBulkCampaigns},
		{method: "GET", path: v1 + "/campaigns/:id", access: member, handle: s.APICampaign},
		{method: "PUT", path: v1 + "/campaigns/:id", access: member, handle: s.APIUpdateCampaign},
		{method: "DELETE", path: v1 + "/campaigns/:id", access: member, handle: s.APIDeleteCampaign},
		{method: "GET", path: v1 + "/campaigns/:id/recipients", access: member, handle: s.APIRecipients},
		{method: "GET", path: v1 + "/campaigns/:id/recipients/reasons", access: member, handle: s.APIRecipientReasons},
		{method: "GET", path: v1 + "/campaigns/:id/export.csv", access: member, handle: s.APIExportCampaign},
		{method: "POST", path: v1 + "/campaigns/:id/stop", access: member, handle: s.APICampaignAction("stop")},
		{method: "POST", path: v1 + "/campaigns/:id/retry", access: member, handle: s.APICampaignAction("retry")},
		{method: "POST", path: v1 + "/campaigns/:id/start", access: member, handle: s.APICampaignAction("start")},
		{method: "POST", path: v1 + "/campaigns/:id/resume", access: member, handle: s.APICampaignAction("resume")},
		{method: "POST", path: v1 + "/campaigns/:id/duplicate", access: member, handle: s.APICampaignAction("duplicate")},

		// Campaigns, issue 20 (screens and API): retry one failed
		// recipient (the recipient lists filter by ?state=); the archive.
		{method: "POST", path: "/campaigns/:id/recipients/:number/retry", access: member, handle: s.CampaignRetryRecipient},
		{method: "POST", path: v1 + "/campaigns/:id/recipients/:number/retry", access: member, handle: s.APIRetryRecipient},
		{method: "POST", path: "/campaigns/:id/recipients/retry", access: member, handle: s.CampaignRetrySelected},
		{method: "POST", path: v1 + "/campaigns/:id/recipients/retry", access: member, handle: s.APIRetrySelected},
		// The archive (GET lists take ?archived=1 / ?archived=true).
		{method: "POST", path: "/campaigns/:id/archive", access: member, handle: s.CampaignArchive(true)},
		{method: "POST", path: "/campaigns/:id/unarchive", access: member, handle: s.CampaignArchive(false)},
		{method: "POST", path: v1 + "/campaigns/:id/archive", access: member, handle: s.APIArchiveCampaign(true)},
		{method: "POST", path: v1 + "/campaigns/:id/unarchive", access: member, handle: s.APIArchiveCampaign(false)},

		// API: contacts, do-not-contact lists, blacklist, opt-outs.
		{method: "GET", path: v1 + "/phonebooks", access: member, handle: s.APIPhonebooks},
		{method: "POST", path: v1 + "/phonebooks", access: member, handle: s.APIImportContacts("phonebook")},
		{method: "GET", path: v1 + "/phonebooks/:name", access: member, handle: s.APIPhonebook},
		{method: "DELETE", path: v1 + "/phonebooks/:name", access: admin, handle: s.APIDeleteContacts("phonebook")},
		{method: "GET", path: v1 + "/dnc-lists", access: member, handle: s.APIDNCLists},
		{method: "POST", path: v1 + "/dnc-lists", access: admin, handle: s.APIImportContacts("dnc")},
		{method: "GET", path: v1 + "/dnc-lists/:name", access: member, handle: s.APIDNCList},
		{method: "DELETE", path: v1 + "/dnc-lists/:name", access: admin, handle: s.APIDeleteContacts("dnc")},
		{method: "GET", path: v1 + "/blacklist", access: member, handle: s.APIBlacklist},
		{method: "POST", path: v1 + "/blacklist", access: admin, handle: s.APIBlock},
		{method: "DELETE", path: v1 + "/blacklist/:id", access: admin, handle: s.APIUnblock},
		{method: "GET", path: v1 + "/opt-outs", access: member, handle: s.APIOptOuts},

		// API: contact lists (campaign recipients, always-running campaigns).
		{method: "GET", path: v1 + "/contact-lists", access: member, handle: s.APIContactLists},
		{method: "GET", path: v1 + "/contact-lists/:name", access: member, handle: s.APIContactList},
		{method: "DELETE", path: v1 + "/contact-lists/:name", access: admin, handle: s.APIDeleteContacts("list")},
		{method: "POST", path: v1 + "/contact-lists/:name/contacts", access: member, handle: s.APIAddListContacts},
		{method: "POST", path: v1 + "/contact-lists/:name/import", access: member, handle: s.APIImportListCSV},

		// API: groups.
		{method: "GET", path: v1 + "/groups", access: member, handle: s.APIGroups},
		{method: "POST", path: v1 + "/groups", access: admin, handle: s.APICreateGroup},
		{method: "GET", path: v1 + "/groups/:name", access: member, handle: s.APIGroup},
		{method: "DELETE", path: v1 + "/groups/:name", access: admin, handle: s.APIDeleteGroup},
		{method: "POST", path: v1 + "/groups/:name/members", access: admin, handle: s.APIAddGroupMembers},
		{method: "DELETE", path: v1 + "/groups/:name/members/:number", access: admin, handle: s.APIRemoveGroupMember},

		// API: chat sessions and the message log.
		{method: "GET", path: v1 + "/sessions", access: member, handle: s.APISessions},
		{method: "GET", path: v1 + "/sessions/:id", access: member, handle: s.APISession},
		{method: "POST", path: v1 + "/sessions/:id/close", access: member, handle: s.APISessionAction("close")},
		{method: "POST", path: v1 + "/sessions/:id/transfer", access: member, handle: s.APISessionAction("transfer")},
		{method: "POST", path: v1 + "/sessions/:id/reply", access: member, handle: s.APISessionAction("reply")},
		{method: "GET", path: v1 + "/sessions/:id/media/:media", access: member, handle: s.APISessionMedia},
		{method: "GET", path: v1 + "/messages", access: member, handle: s.APIMessages},
		{method: "GET", path: v1 + "/messages/:id", access: member, handle: s.APIMessage},

		// API: automation rules.
		{method: "GET", path: v1 + "/rules", access: member, handle: s.APIRules},
		{method: "POST", path: v1 + "/rules", access: admin, handle: s.APISaveRule(false)},
		{method: "POST", path: v1 + "/rules/test", access: member, handle: s.APIRuleTest},
		{method: "GET", path: v1 + "/rules/:id", access: member, handle: s.APIRule},
		{method: "PUT", path: v1 + "/rules/:id", access: admin, handle: s.APISaveRule(true)},
		{method: "DELETE", path: v1 + "/rules/:id", access: admin, handle: s.APIDeleteRule},

		// API: channels (modems, WhatsApp, click-to-chat, PBX).
		{method: "GET", path: v1 + "/modems", access: member, handle: s.APIModems},
		{method: "GET", path: v1 + "/modems/pacing", access: member, handle: s.APIModemPacing},
		{method: "PUT", path: v1 + "/modems/:name/pacing", access: admin, handle: s.APISetModemPacing},
		{method: "DELETE", path: v1 + "/modems/:name/pacing", access: admin, handle: s.APIResetModemPacing},
		{method: "POST", path: v1 + "/modems/:name/ussd", access: admin, handle: s.APIUSSD},
		{method: "GET", path: v1 + "/whatsapp", access: member, handle: s.APIWhatsApp},
		{method: "POST", path: v1 + "/whatsapp/media", access: member, handle: s.APIUploadMedia},
		{method: "GET", path: v1 + "/whatsapp/templates", access: member, handle: s.APITemplates},
		{method: "POST", path: v1 + "/whatsapp/templates/sync", access: admin, handle: s.APISyncTemplates},
		{method: "PUT", path: v1 + "/whatsapp/templates/:name/:language", access: admin, handle: s.APIEditWhatsAppTemplate},
		{method: "GET", path: v1 + "/clicktochat", access: member, handle: s.APIClickToChat},
		{method: "GET", path: v1 + "/clicktochat/qr.png", access: member, handle: s.APIClickToChatPNG},
		{method: "GET", path: v1 + "/pbx/settings", access: admin, handle: s.APIPBXSettings},
		{method: "PUT", path: v1 + "/pbx/settings", access: admin, handle: s.APISavePBXSettings},

		// API: system (password, tokens, users, settings, backup, audit,
		// logs, updates, restore).
		{method: "PUT", path: v1 + "/me/password", access: member, handle: s.APIChangeOwnPassword},
		{method: "GET", path: v1 + "/tokens", access: member, handle: s.APITokens},
		{method: "POST", path: v1 + "/tokens", access: member, handle: s.APICreateToken},
		{method: "DELETE", path: v1 + "/tokens/:id", access: member, handle: s.APIRevokeToken},
		{method: "GET", path: v1 + "/settings", access: member, handle: s.APISettings},
		{method: "PUT", path: v1 + "/settings", access: admin, handle: s.APISaveSettings},
		{method: "GET", path: v1 + "/users", access: admin, handle: s.APIUsers},
		{method: "POST", path: v1 + "/users", access: admin, handle: s.APIAddUser},
		{method: "DELETE", path: v1 + "/users/:name", access: admin, handle: s.APIDeleteUser},
		{method: "PUT", path: v1 + "/users/:name/role", access: admin, handle: s.APISetUserRole},
		{method: "PUT", path: v1 + "/users/:name/password", access: admin, handle: s.APIResetPassword},
		{method: "GET", path: v1 + "/backup", access: admin, handle: s.Backup},
		{method: "GET", path: v1 + "/audit", access: admin, handle: s.APIAudit},
		{method: "GET", path: v1 + "/logs", access: admin, handle: s.APILogs},
		{method: "GET", path: v1 + "/system/update", access: admin, handle: s.APIUpdateStatus},
		{method: "POST", path: v1 + "/system/update", access: admin, handle: s.APIUploadUpdate},
		{method: "POST", path: v1 + "/system/restore", access: admin, handle: s.APIUploadRestore},
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
		if app.IsAPI(c) {
			app.APIError(c, http.StatusNotFound, "not_found", "no such endpoint", "")
			return
		}
		s.RenderError(c, http.StatusNotFound, "error.not_found")
	})
}

// guards are the middleware in front of r's handler.
func (s *server) guards(r route) []gin.HandlerFunc {
	var g []gin.HandlerFunc
	switch r.access {
	case open:
	case setupPost:
		g = append(g, s.RequireFormToken)
	case guest:
		g = append(g, s.RequireSetup)
		if r.method == http.MethodPost {
			g = append(g, s.RequireFormToken)
		}
	case scraper:
		switch {
		case s.D.MetricsToken != "":
			g = append(g, s.requireMetricsToken)
		case s.D.MetricsRequireAuth:
			g = append(g, s.RequireAuth(false))
		}
	case member, admin:
		g = append(g, s.RequireSetup, s.RequireAuth(!strings.HasPrefix(r.path, "/api/")), s.RequireCSRF)
		if r.access == admin {
			g = append(g, s.RequireRole(users.RoleAdmin))
		}
	}
	if r.confirm != "" {
		g = append(g, s.RequireConfirm(r.confirm, r.param))
	}
	return g
}

func healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// metrics serves the Prometheus gatherer; nil when there is none.
func (s *server) metrics() gin.HandlerFunc {
	if s.D.Gatherer == nil {
		return nil
	}
	return gin.WrapH(promhttp.HandlerFor(s.D.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.Log}}))
}
