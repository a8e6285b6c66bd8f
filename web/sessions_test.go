package web

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/message"
	chat "github.com/pbxgate/pbxgate/gateway/session"
)

// phones stands in for the PBX's SIP MESSAGE delivery to extensions.
type phones struct {
	mu  sync.Mutex
	got map[string]int
}

func (p *phones) DeliverChat(_ context.Context, ext string, _ chat.Chat) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got[ext]++
	return nil
}

func TestSessionScreens(t *testing.T) {
	t.Parallel()
	var mgr *chat.Manager
	var sentMu sync.Mutex
	var sent []message.Outbound
	env := newEnv(t, func(d *app.Deps) {
		var err error
		mgr, err = chat.New(chat.Config{Store: d.Store, Deliverer: &phones{got: map[string]int{}}, Logger: slog.New(slog.DiscardHandler),
			Channels: []chat.Channel{{Name: "gsm", Kind: message.SMS, Route: chat.Target{Kind: "extension", ID: "201"},
				Sender: chat.SenderFunc(func(_ context.Context, out message.Outbound) error {
					sentMu.Lock()
					defer sentMu.Unlock()
					sent = append(sent, out)
					return nil
				})}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- mgr.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		d.Sessions = mgr
	})
	c := env.client()
	c.setup("admin password")
	mustContain(t, c.get("/sessions").body, "No sessions.")

	err := mgr.Inbound(context.Background(), message.Inbound{ID: "in-1", Kind: message.SMS, Channel: "gsm", Receiver: "+4930123",
		From: "+4915123456789", Text: "Ist mein Paket schon unterwegs?", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	list, err := mgr.List(true, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions = %v, %v", list, err)
	}
	id := list[0].ID
	r := c.get("/sessions")
	mustContain(t, r.body, "+4915123456789", "/sessions/"+id)
	tok := c.csrf("/sessions/" + id)
	mustContain(t, c.body, "Ist mein Paket schon unterwegs?", `id="session-timeline"`)

	// Unknown queue: said, nothing changes.
	r = c.post("/sessions/"+id+"/transfer", formVals("csrf_token", tok, "target", "queue:nope"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("transfer to unknown queue: %d", r.code)
	}
	mustContain(t, c.get(r.location).body, "Unknown target")
	r = c.post("/sessions/"+id+"/transfer", formVals("csrf_token", tok, "target", "202"))
	mustContain(t, c.get(r.location).body, "Session transferred.", "portal:admin")
	if s, _ := mgr.Get(id); s.Target.ID != "202" {
		t.Fatalf("target after transfer = %+v", s.Target)
	}
	// The API twin.
	apiTok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	auth := map[string]string{"Authorization": "Bearer " + apiTok, "Content-Type": "application/json"}
	r = c.do("GET", "/api/v1/sessions/"+id, nil, auth)
	mustContain(t, r.body, `"log":[`, "Ist mein Paket schon unterwegs?")
	r = c.do("POST", "/api/v1/sessions/"+id+"/transfer", strings.NewReader(`{"target":""}`), auth)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field":"target"`) {
		t.Fatalf("api transfer without target: %d %s", r.code, r.body)
	}
	r = c.do("GET", "/api/v1/sessions?limit=1", nil, auth)
	mustContain(t, r.body, `"total":1`, id)

	// An admin answers in the portal and through the API: both leave on
	// the session's channel to the contact and show in the chat log.
	r = c.post("/sessions/"+id+"/reply", formVals("csrf_token", tok, "text", "   "))
	mustContain(t, c.get(r.location).body, "Write a reply of 1 to 1600 characters.")
	r = c.post("/sessions/"+id+"/reply", formVals("csrf_token", tok))
	if r.code != http.StatusSeeOther {
		t.Fatalf("reply without text: %d", r.code)
	}
	r = c.post("/sessions/"+id+"/reply", formVals("text", "ohne Token"))
	if r.code != http.StatusForbidden {
		t.Fatalf("reply without CSRF token: %d, want 403", r.code)
	}
	r = c.post("/sessions/"+id+"/reply", formVals("csrf_token", tok, "text", "Ja, es ist unterwegs."))
	mustContain(t, c.get(r.location).body, "Reply sent.", "Ja, es ist unterwegs.", "portal:admin", "replied")
	r = c.do("POST", "/api/v1/sessions/"+id+"/reply", strings.NewReader(`{"text":""}`), auth)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field":"text"`) {
		t.Fatalf("api reply without text: %d %s", r.code, r.body)
	}
	r = c.do("POST", "/api/v1/sessions/"+id+"/reply", strings.NewReader(`{"text":"Morgen früh."}`), auth)
	if r.code != http.StatusOK {
		t.Fatalf("api reply: %d %s", r.code, r.body)
	}
	sentMu.Lock()
	var texts []string
	for _, o := range sent {
		if o.To != "+4915123456789" || o.Channel != "gsm" {
			t.Errorf("reply went to %s on %s", o.To, o.Channel)
		}
		texts = append(texts, o.Text)
	}
	sentMu.Unlock()
	if strings.Join(texts, "|") != "Ja, es ist unterwegs.|Morgen früh." {
		t.Fatalf("sent %q, want the two replies", texts)
	}

	r = c.post("/sessions/"+id+"/close", formVals("csrf_token", tok))
	mustContain(t, c.get(r.location).body, "Session closed.", "Closed")
	if s, _ := mgr.Get(id); s.State != chat.Closed {
		t.Fatalf("state after close = %s", s.State)
	}
	mustContain(t, c.get("/sessions").body, "No sessions.")
	mustContain(t, c.get("/sessions?all=1").body, "+4915123456789")
}

// mediaDir serves media from files, like the daemon's WhatsApp download.
type mediaDir struct{ dir string }

func (m mediaDir) MediaFile(_ context.Context, id string) (string, string, error) {
	return filepath.Join(m.dir, id+".jpg"), "image/jpeg", nil
}

// A picture a contact sent is served to logged-in users at the link the
// extension got, and only media of that session are.
func TestSessionMediaLink(t *testing.T) {
	t.Parallel()
	var mgr *chat.Manager
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wa-media-1.jpg"), []byte("\xff\xd8\xff\xe0JFIF-bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.jpg"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, func(d *app.Deps) {
		var err error
		mgr, err = chat.New(chat.Config{Store: d.Store, Deliverer: &phones{got: map[string]int{}}, Logger: slog.New(slog.DiscardHandler),
			Channels: []chat.Channel{{Name: "wa", Kind: message.WhatsApp, Route: chat.Target{Kind: "extension", ID: "201"},
				Sender: chat.SenderFunc(func(context.Context, message.Outbound) error { return nil })}}})
		if err != nil {
			t.Fatal(err)
		}
		d.Sessions, d.Media = mgr, mediaDir{dir}
	})
	err := mgr.Inbound(context.Background(), message.Inbound{ID: "in-1", Kind: message.WhatsApp, Channel: "wa", Receiver: "1065",
		From: "+4915123456789", MediaType: "image", MediaID: "wa-media-1", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := mgr.List(true, 0)
	id := list[0].ID
	c := env.client()
	if r := c.get("/sessions/" + id + "/media/wa-media-1"); r.code == http.StatusOK {
		t.Fatalf("media served before setup/login: %d", r.code)
	}
	c.setup("admin password")
	r := c.get("/sessions/" + id + "/media/wa-media-1")
	if r.code != http.StatusOK || !strings.Contains(r.body, "JFIF-bytes") {
		t.Fatalf("media: %d %q", r.code, r.body)
	}
	if r := c.get("/sessions/" + id + "/media/other"); r.code != http.StatusNotFound {
		t.Fatalf("media not in the session: %d, want 404", r.code)
	}
	// The API serves the same, with its errors.
	api := env.apiClient("admin")
	if r := api.call("GET", "/sessions/"+id+"/media/wa-media-1", ""); r.code != http.StatusOK || r.body != "\xff\xd8\xff\xe0JFIF-bytes" || r.header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("API media: %d %q %v", r.code, r.body, r.header)
	}
	wantAPIError(t, api.call("GET", "/sessions/"+id+"/media/other", ""), http.StatusNotFound, "not_found", "")
	wantAPIError(t, api.call("GET", "/sessions/nope/media/wa-media-1", ""), http.StatusNotFound, "not_found", "")
}
