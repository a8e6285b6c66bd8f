package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/msglog"
)

// withMessageLog gives the portal a real message log on its store.
func withMessageLog(l **msglog.Log) envOption {
	return func(d *app.Deps) {
		log, err := msglog.New(msglog.Config{Store: d.Store})
		if err != nil {
			panic(err)
		}
		*l, d.Messages = log, log
	}
}

// seedMessages records a small day of traffic.
func seedMessages(t *testing.T, l *msglog.Log) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 5, 4, 8, 30, 0, 0, time.UTC)
	in := message.Inbound{ID: "sms-in1", Kind: message.SMS, Channel: "sms", Receiver: "sim1", From: "+4917011112222",
		Text: "Bitte um Rückruf wegen der Rechnung", At: at}
	if err := l.Inbound(ctx, in); err != nil {
		t.Fatal(err)
	}
	outs := []struct {
		kind    message.Kind
		o       message.Outbound
		summary string
		ev      message.StatusEvent
	}{
		{message.SMS, message.Outbound{ID: "reply-sms-in1-ab12", Channel: "sms", Sender: "sim1", To: "+4917011112222", Text: "Wir melden uns heute."}, "",
			message.StatusEvent{Status: message.Sent}},
		{message.SMS, message.Outbound{ID: "campaign-c7-1-1", Channel: "sms", To: "+4917033334444", Ref: "campaign/c7",
			Text: strings.Repeat("Großer Frühjahrsverkauf mit vielen Angeboten. ", 4) + "ENDE-DES-TEXTES"}, "",
			message.StatusEvent{Status: message.Failed, Reason: "CMS ERROR 1: unassigned number", ReasonCode: message.Reason{Code: "cms.1"}, Code: "1"}},
		{message.WhatsApp, message.Outbound{ID: "ses-s9-3", Channel: "whatsapp", Sender: "1234567890", To: "+4917055556666", Ref: "session/s9"},
			"template hello_world (de)", message.StatusEvent{Status: message.Delivered}},
	}
	for i, x := range outs {
		// Recorded a minute apart, in order: the newest comes first.
		if err := l.Record(ctx, msglog.OutboundEntry(x.kind, x.o, x.summary, at.Add(time.Duration(i+1)*time.Minute))); err != nil {
			t.Fatal(err)
		}
		x.ev.ID = x.o.ID
		if err := l.Status(ctx, x.ev); err != nil {
			t.Fatal(err)
		}
	}
}

func rowIDs(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<tr id="msg-([^"]+)"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestMessagesPage(t *testing.T) {
	t.Parallel()
	var l *msglog.Log
	env := newEnv(t, withMessageLog(&l))
	seedMessages(t, l)
	admin := env.client()
	admin.setup("a long new password")

	r := admin.get("/messages")
	if r.code != http.StatusOK {
		t.Fatalf("GET /messages: %d", r.code)
	}
	if got, want := strings.Join(rowIDs(r.body), " "), "ses-s9-3 campaign-c7-1-1 reply-sms-in1-ab12 sms-in1"; got != want {
		t.Fatalf("rows %q, want %q (newest first)", got, want)
	}
	mustContain(t, r.body, `id="nav-messages" aria-current="page"`, "Message log",
		"Bitte um Rückruf wegen der Rechnung", "+4917011112222", "Inbound", "Outbound", "Received", "Sent", "Delivered", "Failed",
		// the reason translated from its code, with the channel's code
		"unassigned (unallocated) number: check the recipient&#39;s number", "(1)",
		// origins link to their campaign and chat session
		`<a href="/campaigns/c7">Campaign</a>`, `<a href="/sessions/s9">Chat session</a>`, "Automatic answer",
		"template hello_world (de)", "2026-05-04 10:31")
	// A long text is shortened, the whole text one click (or hover) away.
	mustContain(t, r.body, "<details><summary", "ENDE-DES-TEXTES")
	if strings.Count(r.body, "ENDE-DES-TEXTES") != 2 {
		t.Errorf("long text should show in the title and the expanded part only")
	}

	// German.
	de := env.client()
	de.lang = "de"
	de.login("admin", "a long new password")
	r = de.get("/messages")
	mustContain(t, r.body, "Nachrichtenprotokoll", "Eingehend", "Ausgehend", "Empfangen", "Zugestellt", "Fehlgeschlagen",
		"nicht vergebene Nummer: bitte die Nummer des Empfängers prüfen", "Kampagne", "Chat-Sitzung", "Automatische Antwort", "04.05.2026 10:31")

	// Filters (the GET form's parameters).
	for _, c := range []struct{ query, want string }{
		{"dir=in", "sms-in1"},
		{"dir=out&kind=sms", "campaign-c7-1-1 reply-sms-in1-ab12"},
		{"kind=whatsapp", "ses-s9-3"},
		{"status=failed", "campaign-c7-1-1"},
		{"q=" + url.QueryEscape("RÜCKRUF"), "sms-in1"},
		{"q=" + url.QueryEscape("0170 1111 2222"), "reply-sms-in1-ab12 sms-in1"},
		{"q=hello_world", "ses-s9-3"},
		{"channel=whatsapp", "ses-s9-3"},
	} {
		r := admin.get("/messages?" + c.query)
		if got := strings.Join(rowIDs(r.body), " "); got != c.want {
			t.Errorf("%s: rows %q, want %q", c.query, got, c.want)
		}
	}
	r = admin.get("/messages?q=nichtda")
	mustContain(t, r.body, `id="messages-none"`, "No messages found.")
	mustContain(t, admin.get("/messages?status=failed").body, `<option value="failed" selected>`)
	r = admin.get("/messages?dir=sideways")
	mustContain(t, r.body, "A filter in the address is not valid and was ignored.")
	if len(rowIDs(r.body)) != 4 {
		t.Errorf("bad filter: %v", rowIDs(r.body))
	}

	// Operators read the log too.
	op := operatorClient(t, env)
	r = op.get("/messages?dir=in")
	if r.code != http.StatusOK || strings.Join(rowIDs(r.body), " ") != "sms-in1" {
		t.Fatalf("operator: %d %v", r.code, rowIDs(r.body))
	}
	mustContain(t, op.get("/").body, `href="/messages" id="nav-messages"`)
}

func TestMessagesPagePagination(t *testing.T) {
	t.Parallel()
	var l *msglog.Log
	env := newEnv(t, withMessageLog(&l))
	at := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	for i := range 60 {
		e := msglog.OutboundEntry(message.SMS, message.Outbound{ID: fmt.Sprintf("cli-%02d", i), Channel: "sms", To: "+4917012345678",
			Text: fmt.Sprintf("Nachricht %d", i)}, "", at.Add(time.Duration(i)*time.Second))
		if err := l.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	admin := env.client()
	admin.setup("a long new password")
	r := admin.get("/messages?kind=sms")
	first := rowIDs(r.body)
	if len(first) != 50 || first[0] != "cli-59" || first[49] != "cli-10" {
		t.Fatalf("first page: %d rows %v…", len(first), first[:min(3, len(first))])
	}
	m := regexp.MustCompile(`href="([^"]+)" id="messages-older"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no older link:\n%s", r.body)
	}
	older := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.Contains(older, "kind=sms") {
		t.Errorf("older link drops the filter: %s", older)
	}
	r = admin.get(older)
	second := rowIDs(r.body)
	if len(second) != 10 || second[0] != "cli-09" || second[9] != "cli-00" {
		t.Fatalf("second page: %v", second)
	}
	mustContain(t, r.body, `id="messages-newest"`)
	if strings.Contains(r.body, `id="messages-older"`) {
		t.Error("the last page offers an older one")
	}
	r = admin.get("/messages?cursor=garbage!")
	mustContain(t, r.body, "This page link is not valid; showing the newest messages.")
	if len(rowIDs(r.body)) != 50 {
		t.Errorf("bad cursor: %d rows", len(rowIDs(r.body)))
	}
}

func TestMessagesAPI(t *testing.T) {
	t.Parallel()
	var l *msglog.Log
	env := newEnv(t, withMessageLog(&l))
	seedMessages(t, l)
	admin := env.client()
	admin.setup("a long new password")
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	get := func(path string, v any) resp {
		t.Helper()
		r := admin.do("GET", path, nil, auth)
		if v != nil && r.code == http.StatusOK {
			if err := json.Unmarshal([]byte(r.body), v); err != nil {
				t.Fatalf("%s: %v\n%s", path, err, r.body)
			}
		}
		return r
	}
	type page struct {
		Items []struct {
			ID, Direction, Kind, Peer, Text, Status, Origin string
			OriginID                                        string                `json:"origin_id"`
			ReasonCode                                      struct{ Code string } `json:"reason_code"`
		} `json:"items"`
		Limit      int    `json:"limit"`
		NextCursor string `json:"next_cursor"`
	}
	// Two at a time through all four, no duplicates, no gaps.
	var seen []string
	cursor := ""
	for range 5 {
		var p page
		path := "/api/v1/messages?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if r := get(path, &p); r.code != http.StatusOK || p.Limit != 2 {
			t.Fatalf("%s: %d %s", path, r.code, r.body)
		}
		for _, it := range p.Items {
			seen = append(seen, it.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if got := strings.Join(seen, " "); got != "ses-s9-3 campaign-c7-1-1 reply-sms-in1-ab12 sms-in1" {
		t.Fatalf("paged ids: %s", got)
	}
	var p page
	get("/api/v1/messages?dir=out&status=failed", &p)
	if len(p.Items) != 1 || p.Items[0].ID != "campaign-c7-1-1" || p.Items[0].Origin != "campaign" || p.Items[0].OriginID != "c7" ||
		p.Items[0].ReasonCode.Code != "cms.1" || p.NextCursor != "" || p.Limit != 50 {
		t.Fatalf("filtered: %+v", p)
	}
	if r := get("/api/v1/messages?q=nichtda", nil); !strings.Contains(r.body, `"items":[]`) {
		t.Errorf("empty list: %s", r.body)
	}

	var e struct{ ID, Direction, Status, Text, Peer string }
	if r := get("/api/v1/messages/sms-in1", &e); r.code != http.StatusOK || e.Direction != "in" || e.Status != "received" || e.Peer != "+4917011112222" {
		t.Fatalf("one message: %d %+v", r.code, e)
	}
	r := get("/api/v1/messages/no-such-id", nil)
	if r.code != http.StatusNotFound || !strings.Contains(r.body, `"code":"not_found"`) {
		t.Fatalf("unknown id: %d %s", r.code, r.body)
	}
	for _, c := range []struct{ query, field string }{
		{"dir=up", "dir"}, {"kind=fax", "kind"}, {"status=lost", "status"}, {"limit=0", "limit"}, {"limit=501", "limit"}, {"cursor=%21%21", "cursor"},
	} {
		r := get("/api/v1/messages?"+c.query, nil)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s", c.query, r.code, r.body)
		}
	}
	// Operators' tokens read it too.
	op := operatorClient(t, env)
	opTok, _ := env.users.CreateToken(context.Background(), "olga", "api")
	if r := op.do("GET", "/api/v1/messages", nil, map[string]string{"Authorization": "Bearer " + opTok}); r.code != http.StatusOK {
		t.Fatalf("operator: %d", r.code)
	}
}

func TestMessagesUnavailable(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.client()
	admin.setup("a long new password")
	mustContain(t, admin.get("/messages").body, "The message log is not available in this installation.")
	tok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	r := admin.do("GET", "/api/v1/messages", nil, map[string]string{"Authorization": "Bearer " + tok})
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "the message log is not available") {
		t.Fatalf("API without the log: %d %s", r.code, r.body)
	}
}

// from and to: days in the portal's time zone on the page (to includes
// its day), RFC 3339 times in the API (to exclusive); bad ones are named.
func TestMessagesTimeRange(t *testing.T) {
	t.Parallel()
	var l *msglog.Log
	env := newEnv(t, withMessageLog(&l))
	seedMessages(t, l) // 2026-05-04 08:30–08:33 UTC, 10:30–10:33 in Berlin
	admin := env.client()
	admin.setup("a long new password") // time zone Europe/Berlin
	for q, want := range map[string]string{
		"from=2026-05-04&to=2026-05-04":                     "ses-s9-3 campaign-c7-1-1 reply-sms-in1-ab12 sms-in1",
		"from=2026-05-05":                                   "",
		"to=2026-05-03":                                     "",
		"from=2026-05-04&dir=in":                            "sms-in1",
		"from=2026-05-04T08:31:00Z&to=2026-05-04T08:33:00Z": "campaign-c7-1-1 reply-sms-in1-ab12",
	} {
		r := admin.get("/messages?" + q)
		if got := strings.Join(rowIDs(r.body), " "); r.code != http.StatusOK || got != want {
			t.Errorf("/messages?%s: %d %q, want %q", q, r.code, got, want)
		}
	}
	r := admin.get("/messages?from=2026-05-04")
	mustContain(t, r.body, `id="m-from" name="from" type="date" value="2026-05-04"`)

	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	r = admin.do("GET", "/api/v1/messages?from="+url.QueryEscape("2026-05-04T10:32:00+02:00"), nil, auth)
	var p struct {
		Items []struct{ ID string } `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || len(p.Items) != 2 || p.Items[0].ID != "ses-s9-3" {
		t.Errorf("API since 08:32 UTC: %d %s", r.code, r.body)
	}
	for q, field := range map[string]string{"from=yesterday": "from", "to=2026-13-01": "to",
		"from=2026-05-04&to=2026-05-03": "to"} {
		r := admin.do("GET", "/api/v1/messages?"+q, nil, auth)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, `"field":"`+field+`"`) {
			t.Errorf("API %s: %d %s, want 400 naming %s", q, r.code, r.body, field)
		}
	}
}
