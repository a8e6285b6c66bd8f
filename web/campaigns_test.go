package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// reportingChannel stands in for the modem pool (which has its own tests
// against the simulator): it accepts every message, refuses numbers in
// reject with campaign.ErrRejected, and reports delivery through the real
// engine like a modem's status report would.
type reportingChannel struct {
	name string

	mu     sync.Mutex
	eng    *campaign.Engine
	reject map[string]bool
	sent   map[string]bool
}

func (c *reportingChannel) Name() string { return c.name }

func (c *reportingChannel) Kind() message.Kind { return message.SMS }

func (c *reportingChannel) MaxPerMinute() int { return 0 }

func (c *reportingChannel) Senders() []string { return []string{"sim1"} }

func (c *reportingChannel) Send(ctx context.Context, m message.Outbound) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reject[m.To] {
		return fmt.Errorf("%w: number %s is barred by the network", campaign.ErrRejected, m.To)
	}
	if c.sent[m.ID] {
		return nil // idempotent by ID, as the Channel contract asks
	}
	c.sent[m.ID] = true
	eng := c.eng
	// Delivery reports arrive later and on another goroutine, as from a
	// modem.
	go func() {
		_ = eng.HandleStatus(context.Background(), message.StatusEvent{ID: m.ID, Status: message.Delivered, At: time.Now()})
	}()
	return nil
}

func (c *reportingChannel) setReject(num string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reject[num] = on
}

// withEngine runs a real campaign engine on the test store.
func withEngine(t *testing.T, env **testEnv) (envOption, *reportingChannel, func() *campaign.Engine) {
	ch := &reportingChannel{name: "gsm", reject: map[string]bool{}, sent: map[string]bool{}}
	var eng *campaign.Engine
	opt := func(d *app.Deps) {
		eng = startEngine(t, d, map[string]campaign.Channel{"gsm": ch}, campaign.Config{DNC: recipients.NewLists(d.Store)})
		ch.eng = eng
	}
	return opt, ch, func() *campaign.Engine { return eng }
}

// waitState waits (on the engine's change notifications) until campaign id
// is in state.
func waitState(t *testing.T, eng *campaign.Engine, id string, state campaign.State) campaign.Campaign {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changes := eng.Changes()
		c, err := eng.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State == state {
			return c
		}
		select {
		case <-changes:
		case <-deadline:
			t.Fatalf("campaign %s stuck in %s (%s), want %s", id, c.State, c.Reason, state)
		}
	}
}

type multipartForm struct {
	fields map[string]string
	file   string // CSV content
}

func (c *client) postMultipart(path string, f multipartForm) resp {
	c.env.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range f.fields {
		w.WriteField(k, v)
	}
	if f.file != "" {
		fw, _ := w.CreateFormFile("csv", "recipients.csv")
		fw.Write([]byte(f.file))
	}
	w.Close()
	return c.do("POST", path, &buf, map[string]string{"Content-Type": w.FormDataContentType()})
}

const testCSV = "name;phone\nAnna;0171 1234567\nBernd;not a number\nCarla;+43 664 1234567\n"

var idRE = regexp.MustCompile(`^/campaigns/([^/]+)$`)

func TestCampaignCreateFlow(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, ch, engine := withEngine(t, &env)
	env = newEnv(t, opt)
	c := env.client()
	c.setup("admin password")

	tok := c.csrf("/campaigns/new")
	mustContain(t, c.body, "Basic settings", "Message content", "Sending rules", `value="gsm|sim1"`)

	// CSV preview: detected columns and the bad row with its line.
	r := c.do("POST", "/campaigns/preview-csv", bytes.NewReader(nil), map[string]string{"X-CSRF-Token": tok})
	mustContain(t, r.body, "Choose a CSV file.")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, _ := w.CreateFormFile("csv", "r.csv")
	fw.Write([]byte(testCSV))
	w.Close()
	r = c.do("POST", "/campaigns/preview-csv", &buf, map[string]string{"Content-Type": w.FormDataContentType(), "X-CSRF-Token": tok})
	if r.code != http.StatusOK {
		t.Fatalf("preview: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, "phone (phone)", "2 valid recipients", "1 invalid row:", "Line 3", "not a number")

	fields := map[string]string{"csrf_token": tok, "name": "Spring sale", "sender": "gsm|sim1",
		"numbers": "+49 151 23456789\n0171 1234567", "text": "Hello, 20% off today", "send": "now"}
	// The bad row blocks until the admin chooses to skip it; nothing is
	// lost: the form comes back with the numbers and the list of problems.
	r = c.postMultipart("/campaigns/new", multipartForm{fields: fields, file: testCSV})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("create with bad row: %d", r.code)
	}
	mustContain(t, r.body, "1 entry is invalid", "Line 3", "+49 151 23456789")

	fields["skip_invalid"] = "1"
	r = c.postMultipart("/campaigns/new", multipartForm{fields: fields, file: testCSV})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %q %s", r.code, r.location, r.body)
	}
	id := m[1]
	camp := waitState(t, engine(), id, campaign.Completed)
	// 3 unique numbers: two typed (one also in the CSV) and Carla.
	if camp.Recipients != 3 {
		t.Fatalf("recipients = %d, want 3", camp.Recipients)
	}
	r = c.get("/campaigns/" + id)
	mustContain(t, r.body, "Spring sale", "st-completed", "Completed", "+4917112345", "+436641234567")

	// German list shows the seed's words.
	c.lang = "de"
	c.get("/lang/de")
	r = c.get("/campaigns?state=completed")
	mustContain(t, r.body, "Vollendet", "Spring sale", "Hinzufügen")
	r = c.get("/campaigns?state=draft")
	mustContain(t, r.body, "Keine Kampagnen gefunden.")

	// Export.
	r = c.get("/campaigns/" + id + "/export.csv")
	if r.code != http.StatusOK || !strings.Contains(r.header.Get("Content-Type"), "text/csv") || !strings.Contains(r.body, "+4915123456") {
		t.Fatalf("export: %d %s", r.code, r.body)
	}

	// Duplicate makes a draft that can be sent from its page.
	tok = c.csrf("/campaigns/" + id)
	r = c.post("/campaigns/"+id+"/duplicate", formVals("csrf_token", tok))
	m = idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil || m[1] == id {
		t.Fatalf("duplicate: %d %s", r.code, r.location)
	}
	dup := m[1]
	r = c.get("/campaigns/" + dup)
	mustContain(t, r.body, "Entwurf", "(Kopie)", `id="campaign-start"`)
	ch.setReject("+4915123456789", true)
	r = c.post("/campaigns/"+dup+"/start", formVals("csrf_token", tok))
	if r.code != http.StatusSeeOther {
		t.Fatalf("start: %d", r.code)
	}
	done := waitState(t, engine(), dup, campaign.Completed)
	if done.Counts.Failed != 1 {
		t.Fatalf("duplicate counts = %+v, want one failure", done.Counts)
	}
	// Retry the failed one after the network lets it through.
	r = c.get("/campaigns/" + dup)
	mustContain(t, r.body, `id="campaign-retry"`, "barred by the network")
	ch.setReject("+4915123456789", false)
	r = c.post("/campaigns/"+dup+"/retry", formVals("csrf_token", tok))
	if r.code != http.StatusSeeOther {
		t.Fatalf("retry: %d", r.code)
	}
	deadline := time.After(10 * time.Second)
	for {
		changes := engine().Changes()
		cur, _ := engine().Get(context.Background(), dup)
		if cur.State == campaign.Completed && cur.Counts.Failed == 0 {
			break
		}
		select {
		case <-changes:
		case <-deadline:
			t.Fatalf("retry did not complete: %+v", cur)
		}
	}
	// Stopping a completed campaign is refused with a message, not a 500.
	r = c.post("/campaigns/"+dup+"/stop", formVals("csrf_token", tok))
	if r.code != http.StatusSeeOther {
		t.Fatalf("stop completed: %d", r.code)
	}
	mustContain(t, c.get(r.location).body, "im aktuellen Status")
}

func formVals(kv ...string) map[string][]string {
	v := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = append(v[kv[i]], kv[i+1])
	}
	return v
}

func TestCampaignValidationInUserLanguage(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env = newEnv(t, opt)
	c := env.client()
	c.setup("admin password")
	c.get("/lang/de")
	tok := c.csrf("/campaigns/new")
	r := c.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{
		"csrf_token": tok, "name": "", "sender": "gsm|nope", "numbers": "", "text": strings.Repeat("x", 1601),
		"send": "schedule", "schedule_at": "2001-01-01T10:00", "rate": "0"}})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid form: %d", r.code)
	}
	// Each message sits right after its field.
	for field, msg := range map[string]string{
		`id="name"`:        "Bitte einen Namen eingeben.",
		`id="sender"`:      "Bitte einen Nachrichtenkanal und Absender wählen.",
		`id="numbers"`:     "mindestens einen Empfänger",
		`id="text"`:        "höchstens 1600 Zeichen",
		`id="schedule_at"`: "in der Zukunft",
		`id="rate"`:        "zwischen 1 und 1000",
	} {
		i := strings.Index(r.body, field)
		if i < 0 {
			t.Fatalf("no field %s", field)
		}
		next := r.body[i:]
		if j := strings.Index(next[1:], "<label"); j > 0 {
			next = next[:j+1]
		}
		if !strings.Contains(next, msg) {
			t.Errorf("field %s: message %q not next to it:\n%s", field, msg, next)
		}
	}
	// Same in English.
	c.get("/lang/en")
	r = c.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{"csrf_token": tok, "name": "x", "sender": "gsm|sim1", "numbers": "+4915112345678", "text": ""}})
	mustContain(t, r.body, "Enter the message text.", "Choose when to send.")
	// The engine's own rule (unique names) comes back next to the name.
	r = c.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{"csrf_token": tok, "name": "dup", "sender": "gsm|", "numbers": "+4915112345678", "text": "hi", "send": "draft"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("draft: %d %s", r.code, r.body)
	}
	r = c.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{"csrf_token": tok, "name": "dup", "sender": "gsm|", "numbers": "+4915112345678", "text": "hi", "send": "draft"}})
	mustContain(t, r.body, "This name is already taken")
}

func TestCampaignAPI(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, engine := withEngine(t, &env)
	env = newEnv(t, opt)
	env.client().setup("admin password")
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	c := env.client()
	auth := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	call := func(method, path, body string) (int, map[string]any) {
		r := c.do(method, path, strings.NewReader(body), auth)
		var m map[string]any
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, r.body)
		}
		return r.code, m
	}
	errOf := func(m map[string]any) (code, field string) {
		e, _ := m["error"].(map[string]any)
		code, _ = e["code"].(string)
		field, _ = e["field"].(string)
		return
	}
	code, m := call("POST", "/api/v1/campaigns", `{"name":"api","channel":"gsm","numbers":["+4915112345678","12"],"text":"hi","send":"now"}`)
	if ec, f := errOf(m); code != http.StatusUnprocessableEntity || ec != "invalid_rows" || f != "numbers" {
		t.Fatalf("bad number: %d %v", code, m)
	}
	code, m = call("POST", "/api/v1/campaigns", `{"name":"api",`)
	if ec, _ := errOf(m); code != http.StatusBadRequest || ec != "bad_json" {
		t.Fatalf("bad json: %d %v", code, m)
	}
	for i := range 3 {
		code, m = call("POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"api %d","channel":"gsm","numbers":["+4915112345678"],"text":"hi","send":"draft"}`, i))
		if code != http.StatusCreated || m["state"] != "draft" {
			t.Fatalf("create: %d %v", code, m)
		}
	}
	id := m["id"].(string)
	code, m = call("GET", "/api/v1/campaigns?limit=2&offset=1", "")
	if code != http.StatusOK || m["total"].(float64) != 3 || len(m["items"].([]any)) != 2 || m["limit"].(float64) != 2 {
		t.Fatalf("list: %d %v", code, m)
	}
	code, m = call("GET", "/api/v1/campaigns?state=bogus", "")
	if ec, f := errOf(m); code != http.StatusBadRequest || f != "state" || ec != "invalid" {
		t.Fatalf("bad state: %d %v", code, m)
	}
	code, m = call("GET", "/api/v1/campaigns/nope", "")
	if ec, _ := errOf(m); code != http.StatusNotFound || ec != "not_found" {
		t.Fatalf("404: %d %v", code, m)
	}
	code, m = call("POST", "/api/v1/campaigns/"+id+"/stop", "")
	if ec, _ := errOf(m); code != http.StatusConflict || ec != "state" {
		t.Fatalf("stop draft: %d %v", code, m)
	}
	code, m = call("POST", "/api/v1/campaigns/"+id+"/start", "")
	if code != http.StatusOK {
		t.Fatalf("start: %d %v", code, m)
	}
	waitState(t, engine(), id, campaign.Completed)
	code, m = call("GET", "/api/v1/campaigns/"+id+"/recipients", "")
	items, _ := m["items"].([]any)
	if code != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["state"] != "delivered" {
		t.Fatalf("recipients: %d %v", code, m)
	}
	// A session without the CSRF header cannot use the API to change things.
	sc := env.client()
	sc.login("admin", "admin password")
	if r := sc.do("POST", "/api/v1/campaigns/"+id+"/duplicate", nil, nil); r.code != http.StatusForbidden || !strings.Contains(r.body, `"code":"csrf"`) {
		t.Fatalf("session API without CSRF: %d %s", r.code, r.body)
	}
}

func TestCampaignFromPhonebook(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, engine := withEngine(t, &env)
	env = newEnv(t, opt)
	book := "name;mobile;work\nAnna;0171 1234567;030 1234567\nBernd;0151 23456789;\n"
	if _, err := recipients.NewPhonebooks(env.store).ImportCSV(context.Background(), "Kunden", strings.NewReader(book), recipients.CSVOptions{Region: "DE"}); err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/campaigns/new")
	mustContain(t, c.body, `<option value="Kunden"`, "Number type")
	base := map[string]string{"csrf_token": tok, "name": "Kunden", "sender": "gsm|", "phonebook": "Kunden", "text": "Hallo", "send": "draft"}
	// No number type chosen: said next to the phonebook.
	r := c.postMultipart("/campaigns/new", multipartForm{fields: base})
	mustContain(t, r.body, "Choose at least one number type.")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range base {
		w.WriteField(k, v)
	}
	w.WriteField("number_type", "mobile")
	w.Close()
	r = c.do("POST", "/campaigns/new", &buf, map[string]string{"Content-Type": w.FormDataContentType()})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create from phonebook: %d %s", r.code, r.body)
	}
	camp, err := engine().Get(context.Background(), m[1])
	if err != nil || camp.Recipients != 2 {
		t.Fatalf("campaign from phonebook (mobile only) = %+v, %v", camp, err)
	}
}

func TestCampaignEditDraft(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, engine := withEngine(t, &env)
	env = newEnv(t, opt)
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/campaigns/new")
	r := c.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{"csrf_token": tok, "name": "Entwurf A", "sender": "gsm|",
		"numbers": "+4915123456789\n+4917112345678", "text": "erste Fassung", "send": "draft", "rate": "20"}})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create draft: %d %s", r.code, r.body)
	}
	id := m[1]
	r = c.get("/campaigns/" + id + "/edit")
	mustContain(t, r.body, `action="/campaigns/`+id+`/edit"`, `value="Entwurf A"`, "erste Fassung", `value="20"`, "current ones stay")
	// Empty text: the error is shown, nothing changes.
	r = c.postMultipart("/campaigns/"+id+"/edit", multipartForm{fields: map[string]string{"csrf_token": tok, "name": "Entwurf B", "sender": "gsm|", "text": "", "send": "draft"}})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid edit: %d", r.code)
	}
	r = c.postMultipart("/campaigns/"+id+"/edit", multipartForm{fields: map[string]string{"csrf_token": tok, "name": "Entwurf B", "sender": "gsm|", "text": "zweite Fassung", "send": "now"}})
	if r.code != http.StatusSeeOther || r.location != "/campaigns/"+id {
		t.Fatalf("edit: %d %s %s", r.code, r.location, r.body)
	}
	done := waitState(t, engine(), id, campaign.Completed)
	if done.Spec.Name != "Entwurf B" || done.Spec.Content.Text != "zweite Fassung" || done.Recipients != 2 {
		t.Fatalf("after edit: %+v", done)
	}
	// A completed campaign cannot be edited.
	r = c.get("/campaigns/" + id + "/edit")
	if r.code != http.StatusSeeOther {
		t.Fatalf("edit completed: %d", r.code)
	}
	mustContain(t, c.get(r.location).body, "not possible in the campaign")
}
