package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/settings"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// poolPacing backs the Modems page with a real SMS pool and the portal's
// store, the way the daemon does: validated, applied to the pool, stored.
type poolPacing struct {
	st   *store.Store
	pool *smspool.Pool
	file map[string]config.Pacing
}

func (p poolPacing) ModemPacing(context.Context) ([]app.SIMPacing, error) {
	recs, err := settings.LoadPacing(p.st)
	if err != nil {
		return nil, err
	}
	var out []app.SIMPacing
	for _, st := range p.pool.SIMStates() {
		cur, _ := p.pool.Pacing(st.Name)
		sp := app.SIMPacing{Modem: st.Name, Pacing: cur, File: p.file[st.Name], SentToday: st.SentToday, SentMonth: st.SentMonth}
		if r, ok := recs[st.Name]; ok {
			sp.Changed, sp.By, sp.At = true, r.By, r.At
		}
		out = append(out, sp)
	}
	return out, nil
}

func (p poolPacing) SetModemPacing(_ context.Context, name string, pc config.Pacing, by string) error {
	if _, ok := p.pool.Pacing(name); !ok {
		return app.ErrUnknownModem
	}
	if err := config.ValidatePacing("pacing", pc); err != nil {
		return err
	}
	if err := p.pool.SetPacing(name, pc); err != nil {
		return err
	}
	return settings.SavePacing(p.st, settings.PacingRecord{Modem: name, Pacing: pc, By: by, At: time.Now()})
}

func (p poolPacing) ResetModemPacing(_ context.Context, name, _ string) error {
	if _, ok := p.pool.Pacing(name); !ok {
		return app.ErrUnknownModem
	}
	if err := settings.ResetPacing(p.st, name); err != nil {
		return err
	}
	return p.pool.SetPacing(name, p.file[name])
}

func newPacingEnv(t *testing.T) (*testEnv, *smspool.Pool) {
	t.Helper()
	file := map[string]config.Pacing{
		"ec25-1": {PerMinute: 6, DelayMin: 2 * time.Second, DelayMax: 8 * time.Second, DailyCap: 300, MonthlyCap: 5000, QuietHours: "22:00-07:00"},
		"ec25-2": {},
	}
	var pool *smspool.Pool
	env := newEnv(t, func(d *app.Deps) {
		var err error
		pool, err = smspool.New(smspool.Config{Store: d.Store, Pacing: file,
			Channels: []config.SMSChannel{{Name: "sms", Modems: []string{"ec25-1", "ec25-2"}}}})
		if err != nil {
			t.Fatal(err)
		}
		d.ModemPacing = poolPacing{st: d.Store, pool: pool, file: file}
	})
	return env, pool
}

// after reports whether want appears in body after the element with
// id and before the next form field, i.e. at that field.
func atField(body, id, want string) bool {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return false
	}
	rest := body[i+len(id)+5:]
	if j := strings.Index(rest, "<label"); j >= 0 {
		rest = rest[:j]
	}
	return strings.Contains(rest, want)
}

func TestModemPacingPage(t *testing.T) {
	t.Parallel()
	env, pool := newPacingEnv(t)
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/modems")
	mustContain(t, c.body, `id="pacing-form-ec25-1"`, `action="/modems/ec25-1/pacing"`, `value="22:00-07:00"`, `value="8s"`,
		"Sent today: 0 of 300", "Sent this month: 0 of 5000", "Sent today: 0 (no cap)", "From the configuration file.")

	form := func(kv ...string) url.Values {
		v := url.Values{"csrf_token": {tok}, "per_minute": {"4"}, "delay_min": {"3s"}, "delay_max": {"10"},
			"daily_cap": {"3"}, "monthly_cap": {"90"}, "quiet_hours": {"21:30-08:00"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	// Invalid values: German messages at their fields, typed values kept,
	// nothing applied or stored.
	c.get("/lang/de")
	r := c.post("/modems/ec25-1/pacing", form("daily_cap", "-3", "delay_min", "zwei Sekunden", "quiet_hours", "22-7"))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid pacing: %d\n%s", r.code, r.body)
	}
	mustContain(t, r.body, "Der Sendetakt wurde nicht gespeichert", `value="zwei Sekunden"`, `value="22-7"`)
	for id, want := range map[string]string{
		"ec25-1-daily_cap":   "Geben Sie eine ganze Zahl ab 0 an",
		"ec25-1-delay_min":   "Geben Sie eine Dauer ab 0 an, z. B. 2s",
		"ec25-1-quiet_hours": "Geben Sie die Ruhezeit als Beginn-Ende an, z. B. 22:00-07:00",
	} {
		if !atField(r.body, id, want) {
			t.Errorf("no %q at field %s:\n%s", want, id, r.body)
		}
	}
	if atField(r.body, "ec25-2-daily_cap", "Geben Sie") {
		t.Error("the error shows at the other SIM's field too")
	}
	// Parsed fine, refused by the configuration's rules.
	r = c.post("/modems/ec25-1/pacing", form("delay_min", "9s", "delay_max", "2s", "quiet_hours", "23:00-23:00"))
	if r.code != http.StatusUnprocessableEntity || !atField(r.body, "ec25-1-delay_max", "Die größte Pause darf nicht kürzer als die kleinste sein.") ||
		!atField(r.body, "ec25-1-quiet_hours", "Beginn und Ende verschieden") {
		t.Fatalf("delays out of order, empty quiet window: %d\n%s", r.code, r.body)
	}
	if p, _ := pool.Pacing("ec25-1"); p.DailyCap != 300 {
		t.Fatalf("refused pacing applied: %+v", p)
	}
	if m, _ := settings.LoadPacing(env.store); len(m) != 0 {
		t.Fatalf("refused pacing stored: %+v", m)
	}

	// Without the CSRF token: refused.
	if r := c.post("/modems/ec25-1/pacing", url.Values{"daily_cap": {"1"}}); r.code != http.StatusForbidden {
		t.Fatalf("without CSRF token: %d", r.code)
	}

	// A valid change applies to the pool at once and is stored.
	c.get("/lang/en")
	r = c.post("/modems/ec25-1/pacing", form())
	if r.code != http.StatusSeeOther || r.location != "/modems#pacing-ec25-1" {
		t.Fatalf("save: %d %s\n%s", r.code, r.location, r.body)
	}
	want := config.Pacing{PerMinute: 4, DelayMin: 3 * time.Second, DelayMax: 10 * time.Second, DailyCap: 3, MonthlyCap: 90, QuietHours: "21:30-08:00"}
	if p, _ := pool.Pacing("ec25-1"); p != want {
		t.Fatalf("pool runs %+v, want %+v", p, want)
	}
	m, _ := settings.LoadPacing(env.store)
	if rec := m["ec25-1"]; rec.Pacing != want || rec.By != "admin" {
		t.Fatalf("stored %+v", m)
	}
	r = c.get("/modems")
	mustContain(t, r.body, "Pacing saved; it applies now.", "Changed in the portal by admin", "Sent today: 0 of 3", `value="10s"`, `id="pacing-reset-ec25-1"`)

	// Operators see the values, not the forms, and cannot change them.
	op := operatorClient(t, env)
	opTok := op.csrf("/modems")
	mustContain(t, op.body, `id="pacing-table"`, "21:30-08:00", "3s to 10s", "Sent today: 0 of 3", "unlimited")
	if strings.Contains(op.body, "pacing-form") {
		t.Fatal("operator sees the pacing form")
	}
	if r := op.post("/modems/ec25-1/pacing", url.Values{"csrf_token": {opTok}, "daily_cap": {"1000"}}); r.code != http.StatusForbidden {
		t.Fatalf("operator changes pacing: %d", r.code)
	}
	if r := op.post("/modems/ec25-1/pacing/reset", url.Values{"csrf_token": {opTok}}); r.code != http.StatusForbidden {
		t.Fatalf("operator resets pacing: %d", r.code)
	}
	if p, _ := pool.Pacing("ec25-1"); p != want {
		t.Fatalf("after the operator's attempts: %+v", p)
	}

	// Unknown modem.
	if r := c.post("/modems/nope/pacing", form()); r.code != http.StatusNotFound {
		t.Fatalf("unknown modem: %d", r.code)
	}

	// Reset: the file's pacing runs again.
	r = c.post("/modems/ec25-1/pacing/reset", url.Values{"csrf_token": {tok}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("reset: %d", r.code)
	}
	if p, _ := pool.Pacing("ec25-1"); p.DailyCap != 300 || p.QuietHours != "22:00-07:00" {
		t.Fatalf("after reset: %+v", p)
	}
	if m, _ := settings.LoadPacing(env.store); len(m) != 0 {
		t.Fatalf("reset kept %+v", m)
	}
	mustContain(t, c.get("/modems").body, "The SIM's pacing follows the configuration file again.")
}

func TestModemPacingAPI(t *testing.T) {
	t.Parallel()
	env, pool := newPacingEnv(t)
	c := env.client()
	c.setup("admin password")
	adminTok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	auth := map[string]string{"Authorization": "Bearer " + adminTok, "Content-Type": "application/json"}

	r := c.do("GET", "/api/v1/modems/pacing", nil, auth)
	mustContain(t, r.body, `"modem":"ec25-1"`, `"daily_cap":300`, `"delay_max":"8s"`, `"quiet_hours":"22:00-07:00"`, `"sent_today":0`, `"changed_in_portal":false`)

	put := func(name, body string) resp {
		return c.do("PUT", "/api/v1/modems/"+name+"/pacing", strings.NewReader(body), auth)
	}
	if r := put("ec25-2", `{"daily_cap":3,"quiet_hours":"7-22"}`); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field":"quiet_hours"`) {
		t.Fatalf("bad quiet hours: %d %s", r.code, r.body)
	}
	if r := put("ec25-2", `{"delay_min":"soon"}`); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field":"delay_min"`) {
		t.Fatalf("bad delay: %d %s", r.code, r.body)
	}
	if r := put("ec25-2", `{"daily_cap":-1}`); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field":"daily_cap"`) {
		t.Fatalf("negative cap: %d %s", r.code, r.body)
	}
	if r := put("nope", `{"daily_cap":3}`); r.code != http.StatusNotFound {
		t.Fatalf("unknown modem: %d %s", r.code, r.body)
	}
	if r := put("ec25-2", `[1]`); r.code != http.StatusBadRequest {
		t.Fatalf("bad JSON: %d %s", r.code, r.body)
	}
	r = put("ec25-2", `{"per_minute":2,"delay_min":"1s","delay_max":"1m30s","daily_cap":3,"monthly_cap":0,"quiet_hours":"23:00-06:00"}`)
	if r.code != http.StatusOK {
		t.Fatalf("put: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, `"modem":"ec25-2"`, `"daily_cap":3`, `"delay_max":"1m30s"`, `"changed_in_portal":true`, `"changed_by":"admin"`)
	if p, _ := pool.Pacing("ec25-2"); p != (config.Pacing{PerMinute: 2, DelayMin: time.Second, DelayMax: 90 * time.Second, DailyCap: 3, QuietHours: "23:00-06:00"}) {
		t.Fatalf("pool runs %+v", p)
	}

	// Operators read, but do not write.
	if err := env.users.Add(context.Background(), "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	opTok, _ := env.users.CreateToken(context.Background(), "olga", "api")
	opAuth := map[string]string{"Authorization": "Bearer " + opTok, "Content-Type": "application/json"}
	if r := c.do("GET", "/api/v1/modems/pacing", nil, opAuth); r.code != http.StatusOK || !strings.Contains(r.body, `"changed_by":"admin"`) {
		t.Fatalf("operator reads: %d %s", r.code, r.body)
	}
	if r := c.do("PUT", "/api/v1/modems/ec25-2/pacing", strings.NewReader(`{"daily_cap":1000}`), opAuth); r.code != http.StatusForbidden {
		t.Fatalf("operator writes: %d %s", r.code, r.body)
	}
	if r := c.do("DELETE", "/api/v1/modems/ec25-2/pacing", nil, opAuth); r.code != http.StatusForbidden {
		t.Fatalf("operator resets: %d %s", r.code, r.body)
	}

	// A session-cookie request without the CSRF header is refused.
	c.get("/modems")
	if r := c.do("PUT", "/api/v1/modems/ec25-2/pacing", strings.NewReader(`{"daily_cap":1000}`), map[string]string{"Content-Type": "application/json"}); r.code != http.StatusForbidden || !strings.Contains(r.body, `"code":"csrf"`) {
		t.Fatalf("cookie PUT without CSRF: %d %s", r.code, r.body)
	}
	if p, _ := pool.Pacing("ec25-2"); p.DailyCap != 3 {
		t.Fatalf("refused writes applied: %+v", p)
	}

	r = c.do("DELETE", "/api/v1/modems/ec25-2/pacing", nil, auth)
	if r.code != http.StatusOK || !strings.Contains(r.body, `"changed_in_portal":false`) {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	if p, _ := pool.Pacing("ec25-2"); p != (config.Pacing{}) {
		t.Fatalf("after reset: %+v", p)
	}
	if _, err := settings.LoadPacing(env.store); err != nil {
		t.Fatal(err)
	}
}
