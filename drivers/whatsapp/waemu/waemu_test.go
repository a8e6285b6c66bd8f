package waemu_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t    *testing.T
	emu  *waemu.Server
	srv  *httptest.Server
	clk  *clock
	base string
}

func newHarness(t *testing.T, o waemu.Options) *harness {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	o.Now = clk.Now
	emu := waemu.New(o)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	eo := emu.Options()
	return &harness{t: t, emu: emu, srv: srv, clk: clk, base: srv.URL + "/v23.0/" + eo.PhoneNumberID}
}

// call sends body and returns the HTTP status and the decoded answer.
func (h *harness) call(method, url, token string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (h *harness) send(body map[string]any) (int, map[string]any) {
	return h.call(http.MethodPost, h.base+"/messages", "emu-token", body)
}

func code(out map[string]any) int {
	e, _ := out["error"].(map[string]any)
	if e == nil {
		return 0
	}
	c, _ := e["code"].(float64)
	return int(c)
}

func text(to, body string) map[string]any {
	return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
		"text": map[string]any{"body": body}}
}

func tpl(name, lang string, components ...any) map[string]any {
	t := map[string]any{"name": name, "language": map[string]any{"code": lang}}
	if len(components) > 0 {
		t["components"] = components
	}
	return map[string]any{"messaging_product": "whatsapp", "to": "4917012345678", "type": "template", "template": t}
}

func body(vals ...string) map[string]any {
	var ps []any
	for _, v := range vals {
		ps = append(ps, map[string]any{"type": "text", "text": v})
	}
	return map[string]any{"type": "body", "parameters": ps}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, waemu.Options{})
	if st, out := h.call(http.MethodPost, h.base+"/messages", "wrong", text("4917012345678", "x")); st != 401 || code(out) != 190 {
		t.Errorf("bad token: %d %v", st, out)
	}
	if st, out := h.call(http.MethodPost, h.base+"/messages", "", text("4917012345678", "x")); st != 401 || code(out) != 190 {
		t.Errorf("no token: %d %v", st, out)
	}
	if _, out := h.call(http.MethodPost, h.srv.URL+"/v23.0/1234/messages", "emu-token", text("4917012345678", "x")); code(out) != 100 {
		t.Errorf("unknown phone number id: %v", out)
	}
	cases := []struct {
		name string
		body map[string]any
		code int
	}{
		{"no messaging_product", map[string]any{"to": "4917012345678", "type": "text", "text": map[string]any{"body": "x"}}, 100},
		{"no to", map[string]any{"messaging_product": "whatsapp", "type": "text", "text": map[string]any{"body": "x"}}, 100},
		{"bad to", text("call me", "x"), 131009},
		{"unknown key", func() map[string]any { b := text("4917012345678", "x"); b["priority"] = "high"; return b }(), 100},
		{"type object missing", map[string]any{"messaging_product": "whatsapp", "to": "4917012345678", "type": "image"}, 100},
		{"empty text", text("4917012345678", " "), 100},
		{"text too long", text("4917012345678", strings.Repeat("x", 4097)), 100},
		{"unknown text field", map[string]any{"messaging_product": "whatsapp", "to": "4917012345678", "type": "text", "text": map[string]any{"body": "x", "bold": true}}, 100},
		{"image id and link", map[string]any{"messaging_product": "whatsapp", "to": "4917012345678", "type": "image", "image": map[string]any{"id": "1", "link": "https://x/y"}}, 100}, // netscope: the emulator validates links, never fetches them
		{"image never uploaded", map[string]any{"messaging_product": "whatsapp", "to": "4917012345678", "type": "image", "image": map[string]any{"id": "42"}}, 131053},
		{"template missing", tpl("nope", "en_US"), 132001},
		{"template language missing", tpl("hello_world", "de"), 132001},
		{"template rejected", tpl("old_offer", "de"), 132001},
		{"template paused", tpl("summer_sale", "de", body("10")), 132015},
		{"template disabled", tpl("legacy_notice", "de"), 132016},
		{"too few parameters", tpl("2023_april_promo", "en_US", body("Mark")), 132000},
		{"too many parameters", tpl("2023_april_promo", "en_US", body("Mark", "FALL25", "x")), 132000},
		{"header format mismatch", tpl("invoice_ready", "de", map[string]any{"type": "header", "parameters": []any{map[string]any{"type": "image", "image": map[string]any{"link": "https://x/y.jpg"}}}}, body("1", "2")), 132012}, // netscope: the emulator validates links, never fetches them
		{"header missing", tpl("invoice_ready", "de", body("1", "2")), 132000},
		{"url button missing", tpl("appointment_reminder", "de", map[string]any{"type": "header", "parameters": []any{map[string]any{"type": "text", "text": "x"}}}, body("a", "b", "c")), 132000},
		{"outside window", text("4917012345678", "hello"), 131047},
	}
	for _, c := range cases {
		st, out := h.send(c.body)
		if code(out) != c.code || st < 400 {
			t.Errorf("%s: HTTP %d %v, want code %d", c.name, st, out, c.code)
		}
		if e, _ := out["error"].(map[string]any); e != nil && (e["message"] == "" || e["fbtrace_id"] == "") {
			t.Errorf("%s: error shape %v", c.name, e)
		}
	}
	if n := len(h.emu.Sent()); n != 0 {
		t.Errorf("%d refused requests were accepted", n)
	}
}

func TestAcceptAndStatusWebhooks(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []map[string]any
	done := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte("emu-app-secret"))
		m.Write(b)
		if r.Header.Get("X-Hub-Signature-256") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Error("webhook signature wrong")
		}
		var n map[string]any
		json.Unmarshal(b, &n)
		mu.Lock()
		got = append(got, n)
		if len(got) == 4 {
			close(done)
		}
		mu.Unlock()
	}))
	defer hook.Close()
	h := newHarness(t, waemu.Options{CallbackURL: hook.URL})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.emu.Run(ctx)
	h.emu.FailDelivery("4917099999999", 131026)
	st, out := h.send(tpl("2023_april_promo", "en_US", body("Mark", "FALL25")))
	if st != 200 {
		t.Fatalf("HTTP %d %v", st, out)
	}
	// The answer has the shape of Meta's example (plus message_status).
	want, _ := os.ReadFile("../testdata/responses/send_message.json")
	var ex map[string]any
	json.Unmarshal(want, &ex)
	for k := range ex {
		if _, ok := out[k]; !ok {
			t.Errorf("answer lacks %q: %v", k, out)
		}
	}
	failing := tpl("2023_april_promo", "en_US", body("Mark", "FALL25"))
	failing["to"] = "4917099999999"
	if st, out := h.send(failing); st != 200 {
		t.Fatalf("HTTP %d %v", st, out)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("webhooks did not arrive")
	}
	statuses := map[string][]string{}
	for _, n := range got {
		v := n["entry"].([]any)[0].(map[string]any)["changes"].([]any)[0].(map[string]any)["value"].(map[string]any)
		s := v["statuses"].([]any)[0].(map[string]any)
		statuses[s["recipient_id"].(string)] = append(statuses[s["recipient_id"].(string)], s["status"].(string))
		if s["status"] == "failed" && s["errors"].([]any)[0].(map[string]any)["code"].(float64) != 131026 {
			t.Errorf("failed status without its code: %v", s)
		}
	}
	if strings.Join(statuses["4917012345678"], ",") != "sent,delivered,read" || strings.Join(statuses["4917099999999"], ",") != "failed" {
		t.Errorf("statuses %v", statuses)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, waemu.Options{Throughput: 5, PairBurst: 2})
	ok, throttled := 0, 0
	for i := range 8 {
		b := tpl("hello_world", "en_US")
		b["to"] = "49170000000" + string(rune('0'+i))
		switch _, out := h.send(b); code(out) {
		case 0:
			ok++
		case 130429:
			throttled++
		default:
			t.Fatalf("unexpected %v", out)
		}
	}
	if ok != 5 || throttled != 3 {
		t.Errorf("%d accepted, %d throttled; want 5 and 3 at 5/s", ok, throttled)
	}
	h.clk.Add(time.Second)
	pair := []int{}
	for range 3 {
		b := tpl("hello_world", "en_US")
		b["to"] = "4917055555555"
		_, out := h.send(b)
		pair = append(pair, code(out))
	}
	if pair[0] != 0 || pair[1] != 0 || pair[2] != 131056 {
		t.Errorf("pair rate codes %v, want 0 0 131056", pair)
	}
	h.clk.Add(6 * time.Second)
	b := tpl("hello_world", "en_US")
	b["to"] = "4917055555555"
	if _, out := h.send(b); code(out) != 0 {
		t.Errorf("after 6 s: %v", out)
	}
}

func TestTemplatePagingAndMedia(t *testing.T) {
	t.Parallel()
	h := newHarness(t, waemu.Options{})
	eo := h.emu.Options()
	url := h.srv.URL + "/v23.0/" + eo.WABAID + "/message_templates?limit=4"
	var names []string
	pages := 0
	for url != "" {
		st, out := h.call(http.MethodGet, url, "emu-token", nil)
		if st != 200 {
			t.Fatalf("HTTP %d %v", st, out)
		}
		pages++
		for _, d := range out["data"].([]any) {
			names = append(names, d.(map[string]any)["name"].(string))
		}
		next, _ := out["paging"].(map[string]any)["next"].(string)
		url = next
	}
	if len(names) != len(waemu.DefaultTemplates()) || pages != 3 {
		t.Errorf("%d templates on %d pages", len(names), pages)
	}
	// Upload, retrieve the URL, download with the bearer token.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("messaging_product", "whatsapp")
	mw.WriteField("type", "image/jpeg")
	fw, _ := mw.CreateFormFile("file", "a.jpg")
	fw.Write([]byte("jpeg bytes"))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/media", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer emu-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up map[string]string
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	st, info := h.call(http.MethodGet, h.srv.URL+"/v23.0/"+up["id"], "emu-token", nil)
	if st != 200 || info["mime_type"] != "image/jpeg" || info["file_size"] != "10" {
		t.Fatalf("media info %d %v", st, info)
	}
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, info["url"].(string), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 && string(b) != "jpeg bytes" {
			t.Errorf("downloaded %q", b)
		}
		return resp.StatusCode
	}
	if get("") != 401 || get("emu-token") != 200 {
		t.Error("media download must need the bearer token")
	}
	h.clk.Add(6 * time.Minute)
	if get("emu-token") != 404 {
		t.Error("media URL still valid after 5 minutes")
	}
}
