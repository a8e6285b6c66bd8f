package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/settings"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// storedPBX keeps the settings in the portal's store and validates them
// against the default configuration, as the daemon does.
type storedPBX struct {
	st   *store.Store
	file config.SIP
}

func (p storedPBX) SIP() (config.SIP, bool, string, time.Time) {
	if r, _ := settings.LoadSIP(p.st); r != nil {
		return r.SIP, true, r.By, r.At
	}
	return p.file, false, "", time.Time{}
}

func (p storedPBX) SaveSIP(_ context.Context, s config.SIP, by string) error {
	if _, err := config.Default().WithSIP(s, nil); err != nil {
		return err
	}
	return settings.SaveSIP(p.st, settings.SIPRecord{SIP: s, By: by, At: time.Now()})
}

func (p storedPBX) ResetSIP(context.Context, string) error { return settings.ResetSIP(p.st) }

func (p storedPBX) Channels() []string { return []string{"sms", "whatsapp"} }

func TestPBXSettingsPage(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	restarts := 0
	file := config.Default().SIP
	file.Enabled, file.Registrar, file.Username, file.Password = true, "pbx.lan:5060", "gw", "file-secret" // netscope: settings rendered; no SIP stack in this test
	env := newEnv(t, func(d *app.Deps) {
		d.PBX = storedPBX{st: d.Store, file: file}
		d.Restart = func(string) { mu.Lock(); restarts++; mu.Unlock() }
	})
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/pbx")
	mustContain(t, c.body, `id="pbx-form"`, `value="pbx.lan:5060"`, "These settings come from the configuration file.", "(unchanged)") // netscope: rendered
	if strings.Contains(c.body, "file-secret") {
		t.Fatal("the SIP password is rendered into the page")
	}

	form := func(kv ...string) map[string][]string {
		base := []string{"csrf_token", tok, "enabled", "on", "mode", "register", "transport", "udp", "listen", "0.0.0.0:5070",
			"registrar", "pbx.lan:5060", "username", "gw", "expiry", "5m", "max_body_bytes", "1000", "idle_timeout", "24h", // netscope: a form value
			"route_to|sms", "queue:support", "route_fallback|sms", "200", "queues", "2",
			"q0_name", "support", "q0_members", "201, 202", "q0_assignment", "manual", "q0_distribution", "ringall", "q0_answer_timeout", "2m",
			"q0_days", "mon, tue, wed, thu, fri", "q0_open", "09:00", "q0_close", "17:00", "q0_auto_reply", "Wir sind Mo-Fr 9-17 Uhr da.",
			"q1_assignment", "manual", "q1_distribution", "ringall"}
		vals := map[string][]string{}
		for i := 0; i+1 < len(base); i += 2 {
			vals[base[i]] = []string{base[i+1]}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			vals[kv[i]] = []string{kv[i+1]}
		}
		return vals
	}

	// Errors next to their fields, in German, nothing stored.
	c.get("/lang/de")
	r := c.post("/pbx/settings", form("expiry", "fünf Minuten", "q0_members", "", "route_to|sms", "queue:vertrieb"))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid form: %d", r.code)
	}
	mustContain(t, r.body, "Geben Sie eine Dauer wie 90s, 2m oder 24h an.", `value="fünf Minuten"`)
	r = c.post("/pbx/settings", form("q0_members", "", "route_to|sms", "queue:vertrieb"))
	mustContain(t, r.body, "Nicht angenommen: a queue needs at least one extension", "no queue named \"vertrieb\"")
	if rec, _ := settings.LoadSIP(env.store); rec != nil {
		t.Fatal("invalid settings were stored")
	}

	c.get("/lang/en")
	r = c.post("/pbx/settings", form())
	if r.code != http.StatusOK {
		t.Fatalf("save: %d\n%s", r.code, r.body)
	}
	mustContain(t, r.body, "PBX settings saved. pbxgate restarts now", `data-then="/pbx"`)
	rec, err := settings.LoadSIP(env.store)
	if err != nil || rec == nil {
		t.Fatalf("not stored: %v", err)
	}
	q := rec.SIP.Sessions.Queues
	if rec.SIP.Password.Reveal() != "file-secret" || len(q) != 1 || q[0].Name != "support" || strings.Join(q[0].Members, ",") != "201,202" ||
		q[0].AnswerTimeout != 2*time.Minute || q[0].Hours == nil || q[0].Hours.Open != "09:00" || rec.By != "admin" ||
		len(rec.SIP.Sessions.Routes) != 1 || rec.SIP.Sessions.Routes[0] != (config.SessionRoute{Channel: "sms", To: "queue:support", Fallback: "200"}) {
		t.Fatalf("stored %+v", rec)
	}
	mu.Lock()
	if restarts != 1 {
		t.Fatalf("%d restarts after saving", restarts)
	}
	mu.Unlock()
	r = c.get("/pbx")
	mustContain(t, r.body, "Changed in the portal by admin", `value="support"`, `value="201, 202"`, `id="pbx-reset"`)

	// A new password replaces the stored one; a queue is deleted.
	c.post("/pbx/settings", form("password", "new-secret", "q0_delete", "on", "route_to|sms", "201"))
	rec, _ = settings.LoadSIP(env.store)
	if rec.SIP.Password.Reveal() != "new-secret" || len(rec.SIP.Sessions.Queues) != 0 {
		t.Fatalf("after password change and delete: %+v", rec.SIP)
	}

	// The API: read (password only as set), write, refuse.
	apiTok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	auth := map[string]string{"Authorization": "Bearer " + apiTok, "Content-Type": "application/json"}
	r = c.do("GET", "/api/v1/pbx/settings", nil, auth)
	mustContain(t, r.body, `"password_set":true`, `"changed_in_portal":true`, `"registrar":"pbx.lan:5060"`) // netscope: rendered
	if strings.Contains(r.body, "new-secret") {
		t.Fatal("API shows the SIP password")
	}
	r = c.do("PUT", "/api/v1/pbx/settings", strings.NewReader(`{"enabled":true,"mode":"peer","transport":"udp","listen":"0.0.0.0:5070","peer_address":"","max_body_bytes":1000,"idle_timeout":"24h"}`), auth)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field":"sip.`) {
		t.Fatalf("peer mode without address: %d %s", r.code, r.body)
	}
	r = c.do("PUT", "/api/v1/pbx/settings", strings.NewReader(`{"enabled":true,"mode":"peer","transport":"tcp","listen":"0.0.0.0:5070","peer_address":"127.0.0.5:5060","allow_from":["127.0.0.5"],"max_body_bytes":0,"idle_timeout":"12h","queues":[{"name":"sales","members":["301"]}],"routes":[{"channel":"whatsapp","to":"queue:sales"}]}`), auth)
	if r.code != http.StatusAccepted {
		t.Fatalf("api save: %d %s", r.code, r.body)
	}
	rec, _ = settings.LoadSIP(env.store)
	if rec.SIP.Mode != "peer" || rec.SIP.Transport != "tcp" || rec.SIP.Password.Reveal() != "new-secret" || rec.SIP.Sessions.IdleTimeout != 12*time.Hour {
		t.Fatalf("after API save: %+v", rec.SIP)
	}

	op := operatorClient(t, env)
	opTok := op.csrf("/pbx")
	if strings.Contains(op.body, "pbx-form") {
		t.Fatal("operator sees the PBX form")
	}
	if r := op.post("/pbx/settings", map[string][]string{"csrf_token": {opTok}, "mode": {"peer"}}); r.code != http.StatusForbidden {
		t.Fatalf("operator saves PBX settings: %d", r.code)
	}

	c.post("/pbx/settings/reset", map[string][]string{"csrf_token": {tok}})
	if rec, _ := settings.LoadSIP(env.store); rec != nil {
		t.Fatal("reset kept the portal's settings")
	}
	mustContain(t, c.get("/pbx").body, "These settings come from the configuration file.")
}
