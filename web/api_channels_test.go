package web

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/api"
	"github.com/pbxgate/pbxgate/web/app"
)

// ussdFunc is a USSDRunner (the console against a real modem is in
// TestUSSDConsole).
type ussdFunc func(ctx context.Context, modem, code string) (string, error)

func (f ussdFunc) USSD(ctx context.Context, modem, code string) (string, error) {
	return f(ctx, modem, code)
}

func TestAPIDashboardAndModems(t *testing.T) {
	t.Parallel()
	hour := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	st := app.Status{
		Modems: []app.ModemStatus{{ID: "gsm1", Model: "EC25", Health: app.HealthOK, State: "ready", SignalBars: 4, Operator: "Telekom.de",
			Registration: "home", SIM: "…1234", SentToday: 7, DailyCap: 100}, {ID: "gsm2", Health: app.HealthDown, State: "no_sim"}},
		WhatsApp: []app.WhatsAppStatus{{PhoneNumber: "+4930123456", Name: "Praxis", Health: app.HealthOK, State: "connected", Tier: "TIER_1K"}},
		History:  []app.TrafficBucket{{Start: hour, Sent: 3, Delivered: 2, Failed: 1}, {Start: hour.Add(time.Hour), Sent: 5}},
	}
	env, admin, op := newAPIEnv(t, func(d *app.Deps) {
		d.Status = staticStatus{st}
		d.USSD = ussdFunc(func(_ context.Context, modem, code string) (string, error) {
			if code == "*199#" {
				return "", errors.New("network timeout")
			}
			return "Guthaben via " + modem + ": 5,00 EUR", nil
		})
	})

	var dash struct {
		Status    *app.Status           `json:"status"`
		Campaigns []app.CampaignSummary `json:"campaigns"`
		MaxBucket int                   `json:"max_bucket"`
	}
	op.ok("GET", "/dashboard", "", http.StatusOK, &dash)
	if dash.Status == nil || len(dash.Status.History) != 2 || dash.Status.History[0].Failed != 1 || dash.MaxBucket != 5 || dash.Campaigns == nil {
		t.Fatalf("dashboard: %+v", dash)
	}

	// The portal's chart stacks each hour: failed at the bottom, delivered
	// above it, the rest of sent on top (scale: the largest sent+failed, 5).
	c := env.client()
	if r := c.login("olga", "operator password"); r.code != http.StatusSeeOther {
		t.Fatalf("login: %d", r.code)
	}
	page0 := c.get("/")
	mustContain(t, page0.body, `<rect class="sent" x="1" y="20" width="8" height="80">`,
		`<rect class="delivered" x="1" y="40" width="8" height="40">`, `<rect class="failed" x="1" y="80" width="8" height="20">`,
		`<rect class="delivered" x="11" y="100" width="8" height="0">`, "Delivered")

	var modems app.Page[app.ModemStatus]
	op.ok("GET", "/modems?limit=1", "", http.StatusOK, &modems)
	if modems.Total != 2 || len(modems.Items) != 1 || modems.Items[0].Operator != "Telekom.de" || modems.Items[0].SignalBars != 4 || modems.Items[0].DailyCap != 100 {
		t.Fatalf("modems: %+v", modems)
	}

	// USSD: admins only, the code checked, the modem known.
	wantAPIError(t, op.call("POST", "/modems/gsm1/ussd", `{"code":"*100#"}`), http.StatusForbidden, "forbidden", "")
	wantAPIError(t, admin.call("POST", "/modems/gsm1/ussd", `{"code":"100"}`), http.StatusUnprocessableEntity, "invalid", "code")
	wantAPIError(t, admin.call("POST", "/modems/gsm9/ussd", `{"code":"*100#"}`), http.StatusNotFound, "not_found", "")
	wantAPIError(t, admin.call("POST", "/modems/gsm1/ussd", `{"code":"*199#"}`), http.StatusBadGateway, "ussd_failed", "")
	var ans struct{ Modem, Code, Answer string }
	admin.ok("POST", "/modems/gsm1/ussd", `{"code":"*100#"}`, http.StatusOK, &ans)
	if ans.Answer != "Guthaben via gsm1: 5,00 EUR" || ans.Modem != "gsm1" {
		t.Fatalf("ussd: %+v", ans)
	}
	if !env.auditHas("modem.ussd", "gsm1 *100#") {
		t.Fatal("the USSD code is not in the audit log")
	}
}

func TestAPIWithoutStatus(t *testing.T) {
	t.Parallel()
	_, admin, _ := newAPIEnv(t)
	var dash struct {
		Status    *app.Status           `json:"status"`
		Campaigns []app.CampaignSummary `json:"campaigns"`
	}
	admin.ok("GET", "/dashboard", "", http.StatusOK, &dash)
	if dash.Status != nil {
		t.Fatalf("dashboard without status: %+v", dash)
	}
	wantAPIError(t, admin.call("GET", "/modems", ""), http.StatusServiceUnavailable, "unavailable", "")
	wantAPIError(t, admin.call("POST", "/modems/gsm1/ussd", `{"code":"*100#"}`), http.StatusServiceUnavailable, "unavailable", "")
	wantAPIError(t, admin.call("GET", "/whatsapp/templates", ""), http.StatusServiceUnavailable, "unavailable", "")
	var wa struct {
		Configured bool
		Numbers    []app.WhatsAppStatus
	}
	admin.ok("GET", "/whatsapp", "", http.StatusOK, &wa)
	if wa.Configured || wa.Numbers == nil {
		t.Fatalf("whatsapp unconfigured: %+v", wa)
	}
}

func TestAPIWhatsApp(t *testing.T) {
	t.Parallel()
	var syncs atomic.Int32
	var failSync atomic.Bool
	tpls := templateList{{Name: "termin", Language: "de", Status: "APPROVED", Category: "UTILITY", Variables: []string{"1"}, Body: "Ihr Termin am {{1}}"}}
	env, admin, op := newAPIEnv(t, func(d *app.Deps) {
		d.Status = staticStatus{app.Status{WhatsApp: []app.WhatsAppStatus{{PhoneNumber: "+4930123456", Health: app.HealthOK, State: "connected"}}}}
		d.WhatsApp = &app.WhatsAppSetup{WebhookPath: "/webhooks/whatsapp", VerifyToken: "verify-me-123", PhoneNumberID: "1055", BusinessID: "2077",
			APIVersion: "v21.0", TokenSet: true}
		d.Templates = tpls
		d.SyncTemplates = func(context.Context) error {
			if failSync.Load() {
				return errors.New("meta: 401 invalid token")
			}
			syncs.Add(1)
			return nil
		}
	})
	type setup struct {
		WebhookURL    string `json:"webhook_url"`
		VerifyToken   string `json:"verify_token"`
		PhoneNumberID string `json:"phone_number_id"`
		TokenSet      bool   `json:"token_set"`
	}
	var wa struct {
		Configured bool                 `json:"configured"`
		Setup      setup                `json:"setup"`
		Numbers    []app.WhatsAppStatus `json:"numbers"`
	}
	r := op.ok("GET", "/whatsapp", "", http.StatusOK, &wa)
	if !wa.Configured || wa.Setup.WebhookURL != env.srv.URL+"/webhooks/whatsapp" || wa.Setup.PhoneNumberID != "1055" || !wa.Setup.TokenSet || len(wa.Numbers) != 1 {
		t.Fatalf("whatsapp: %s", r.body)
	}
	if strings.Contains(r.body, "verify-me-123") {
		t.Fatal("an operator gets the verify token")
	}
	admin.ok("GET", "/whatsapp", "", http.StatusOK, &wa)
	if wa.Setup.VerifyToken != "verify-me-123" {
		t.Fatalf("admin lacks the verify token: %+v", wa.Setup)
	}

	var list app.Page[api.TemplateJSON]
	op.ok("GET", "/whatsapp/templates", "", http.StatusOK, &list)
	if list.Total != 1 || list.Items[0].Name != "termin" || list.Items[0].Status != "APPROVED" || len(list.Items[0].Variables) != 1 {
		t.Fatalf("templates: %+v", list)
	}
	wantAPIError(t, op.call("POST", "/whatsapp/templates/sync", ""), http.StatusForbidden, "forbidden", "")
	admin.ok("POST", "/whatsapp/templates/sync", "", http.StatusOK, &list)
	if syncs.Load() != 1 || list.Total != 1 {
		t.Fatalf("sync: %d syncs, %+v", syncs.Load(), list)
	}
	if !env.auditHas("whatsapp.sync", "") {
		t.Fatal("the sync is not in the audit log")
	}
	failSync.Store(true)
	wantAPIError(t, admin.call("POST", "/whatsapp/templates/sync", ""), http.StatusBadGateway, "sync_failed", "")
}

func TestAPIClickToChat(t *testing.T) {
	t.Parallel()
	_, _, op := newAPIEnv(t)
	var link struct{ Kind, Number, Link string }
	op.ok("GET", "/clicktochat?number=0171+1234567&text=Hallo+Praxis", "", http.StatusOK, &link)
	if link.Kind != "whatsapp" || link.Number != "+491711234567" || link.Link != "https://wa.me/491711234567?text=Hallo%20Praxis" { // netscope: a link built, not followed
		t.Fatalf("link: %+v", link)
	}
	op.ok("GET", "/clicktochat?kind=sms&number=%2B491711234567&text=Hi", "", http.StatusOK, &link)
	if !strings.HasPrefix(link.Link, "sms:+491711234567") {
		t.Fatalf("sms link: %+v", link)
	}
	wantAPIError(t, op.call("GET", "/clicktochat?number=12", ""), http.StatusUnprocessableEntity, "invalid", "number")
	wantAPIError(t, op.call("GET", "/clicktochat", ""), http.StatusBadRequest, "required", "number")
	wantAPIError(t, op.call("GET", "/clicktochat?kind=fax&number=0171+1234567", ""), http.StatusBadRequest, "invalid", "kind")
	wantAPIError(t, op.call("GET", "/clicktochat/qr.png?number=12", ""), http.StatusUnprocessableEntity, "invalid", "number")

	r := op.call("GET", "/clicktochat/qr.png?number=0171+1234567", "")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr: %d %v", r.code, r.header)
	}
	img, err := png.Decode(bytes.NewReader([]byte(r.body)))
	if err != nil || img.Bounds().Dx() < 512 {
		t.Fatalf("qr png: %v", err)
	}
}
