package whatsapp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// TestWebhookExamplesParse parses every webhook example of Meta's OpenAPI
// file (and the hand-written status notifications) and checks what
// pbxgate makes of each.
func TestWebhookExamplesParse(t *testing.T) {
	t.Parallel()
	type want struct {
		inbound, statuses, ignored int
		from, name, text, media    string
		skip                       bool
	}
	cases := map[string]want{
		"webhooks/text_message.json":                              {inbound: 1, from: "16505551234", name: "Sheena Nelson", text: "Does it come in another color?"},
		"webhooks/text_message_with_context_product_inquiry.json": {inbound: 1, from: "16505551234", text: "Is this still available?"},
		"webhooks/text_message_from_click_to_whatsapp_ad.json":    {inbound: 1, from: "16505551234", text: "Hello! Can I get more info on this?"},
		"webhooks/reaction_message.json":                          {inbound: 1, from: "16505551234", text: "👍"},
		"webhooks/image_message.json":                             {inbound: 1, from: "16505551234", text: "Taj Mahal", media: "image"},
		"webhooks/location_message.json":                          {inbound: 1, from: "16505551234", text: "Philz Coffee 101 Forest Ave, Palo Alto, CA 94301 (37.442215,-122.161659)", media: "location"},
		"webhooks/contact_sharing_message.json":                   {inbound: 1, from: "16505551234", text: "[shared contact]"},
		"webhooks/unsupported_message.json":                       {inbound: 1, from: "16505551234", text: "not supported by WhatsApp: Message type is currently not supported. (131051)"},
		"webhooks/button_message.json":                            {inbound: 1, from: "16505551234", text: "Unsubscribe"},
		"webhooks/interactive_list_reply_message.json":            {inbound: 1, from: "16505551234"},
		"webhooks/interactive_button_reply_message.json":          {inbound: 1, from: "16505551234", text: "Cancel"},
		"webhooks/order_message.json":                             {inbound: 1, from: "16505551234", text: "[order]"},
		"webhooks/system_message.json":                            {inbound: 1, from: "16505551234", skip: true},
		"webhooks/group_create_message.json":                      {ignored: 1},
		"webhooks/group_settings_update.json":                     {ignored: 1},
		"webhooks/group_remove_participants.json":                 {ignored: 1},
		"statuses/sent.json":                                      {statuses: 1},
		"statuses/failed.json":                                    {statuses: 1},
		"statuses/read_with_user_id.json":                         {statuses: 1},
	}
	files, _ := filepath.Glob("testdata/webhooks/*.json")
	more, _ := filepath.Glob("testdata/statuses/*.json")
	files = append(files, more...)
	if len(files) != len(cases) {
		t.Fatalf("%d webhook examples in testdata, %d cases", len(files), len(cases))
	}
	for _, f := range files {
		rel, _ := filepath.Rel("testdata", f)
		w, ok := cases[rel]
		if !ok {
			t.Errorf("no case for %s", rel)
			continue
		}
		p, err := whatsapp.ParseNotification(readTestdata(t, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if len(p.Inbound) != w.inbound || len(p.Statuses) != w.statuses || p.Ignored != w.ignored {
			t.Errorf("%s: %d inbound, %d statuses, %d ignored; want %d, %d, %d", rel,
				len(p.Inbound), len(p.Statuses), p.Ignored, w.inbound, w.statuses, w.ignored)
			continue
		}
		if w.inbound == 0 {
			continue
		}
		in := p.Inbound[0]
		m := in.Message
		if m.From != w.from || m.ID == "" || m.At.IsZero() || m.Kind != message.WhatsApp || in.Skip != w.skip {
			t.Errorf("%s: inbound %+v skip=%v", rel, m, in.Skip)
		}
		if w.name != "" && m.Name != w.name {
			t.Errorf("%s: name %q, want %q", rel, m.Name, w.name)
		}
		if w.text != "" && m.Text != w.text {
			t.Errorf("%s: text %q, want %q", rel, m.Text, w.text)
		}
		if m.MediaType != w.media {
			t.Errorf("%s: media type %q, want %q", rel, m.MediaType, w.media)
		}
		if w.media == "image" && m.MediaID != "1003383421387256" {
			t.Errorf("%s: media id %q", rel, m.MediaID)
		}
	}
	p, _ := whatsapp.ParseNotification(readTestdata(t, "statuses/failed.json"))
	if s := p.Statuses[0]; s.Status != "failed" || s.Errors[0].Code != 131026 || s.BizOpaqueCallbackData != "cmp-1/rcpt-8" {
		t.Errorf("failed status parsed as %+v", s)
	}
	if _, err := whatsapp.ParseNotification([]byte(`{"object":"page","entry":[]}`)); err == nil {
		t.Error("a notification for another object was accepted")
	}
}

func postSigned(t testing.TB, url, secret string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if secret != "" {
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(secret, body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func queued(t testing.TB, st *store.Store) int {
	n := 0
	st.View(func(txn *store.Txn) error { n = store.Count(txn, "wa/whq/"); return nil })
	return n
}

// TestWebhookSignatureAndHandshake covers the refusal paths: nothing a
// request without a valid signature carries reaches the store or a sink.
func TestWebhookSignatureAndHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{ch: func(o *whatsapp.Options) { o.MaxWebhookBody = 64 << 10 }})
	secret := e.opts.AppSecret
	hook := e.hookSrv.URL + whatsapp.WebhookPath
	body, _, err := e.emu.InboundNotification(waemu.Inbound{From: "4917000000001", Type: "text", Text: "secret plan"})
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(body, []byte("secret plan"), []byte("evil plan!!"), 1)
	cases := []struct {
		name   string
		header string
		body   []byte
	}{
		{"unsigned", "", body},
		{"wrong secret", whatsapp.Sign("not-the-secret", body), body},
		{"tampered body", whatsapp.Sign(secret, body), tampered},
		{"sha1 scheme", strings.Replace(whatsapp.Sign(secret, body), "sha256=", "sha1=", 1), body},
		{"not hex", "sha256=zz" + strings.Repeat("0", 62), body},
		{"truncated", whatsapp.Sign(secret, body)[:40], body},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader(c.body))
		if c.header != "" {
			req.Header.Set(whatsapp.SignatureHeader, c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d, want 401", c.name, resp.StatusCode)
		}
	}
	big := append(bytes.Repeat([]byte(" "), 70<<10), body...)
	if code := postSigned(t, hook, secret, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: HTTP %d, want 413", code)
	}
	if n := queued(t, e.st); n != 0 {
		t.Errorf("%d refused notifications were stored", n)
	}
	// The same body correctly signed goes through: the refusals above were
	// about the signature, not the content.
	if code := postSigned(t, hook, secret, body); code != http.StatusOK {
		t.Fatalf("signed notification: HTTP %d", code)
	}
	e.sinks.waitFor(t, "the signed message", func() bool { return len(e.sinks.inbound) == 1 })
	if got := e.sinks.inbound[0].Text; got != "secret plan" {
		t.Errorf("inbound text %q", got)
	}

	get := func(q url.Values) (int, string) {
		resp, err := http.Get(hook + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := get(url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"verify-me"}, "hub.challenge": {"1158201444"}}); code != 200 || b != "1158201444" {
		t.Errorf("handshake: HTTP %d %q, want 200 with the raw challenge", code, b)
	}
	for _, q := range []url.Values{
		{"hub.mode": {"subscribe"}, "hub.verify_token": {"wrong"}, "hub.challenge": {"1"}},
		{"hub.mode": {"unsubscribe"}, "hub.verify_token": {"verify-me"}, "hub.challenge": {"1"}},
		{"hub.challenge": {"1"}},
	} {
		if code, b := get(q); code != http.StatusForbidden || strings.Contains(b, "verify-me") {
			t.Errorf("handshake %v: HTTP %d %q, want 403", q, code, b)
		}
	}
}

// TestDuplicateWebhooksProcessedOnce replays the same inbound message and
// the same status several times, also concurrently, as Meta does for days.
func TestDuplicateWebhooksProcessedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	hook := e.hookSrv.URL + whatsapp.WebhookPath
	secret := e.opts.AppSecret
	body, wamid, _ := e.emu.InboundNotification(waemu.Inbound{From: "4917000000002", Type: "text", Text: "once"})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if code := postSigned(t, hook, secret, body); code != 200 {
				t.Errorf("HTTP %d", code)
			}
		})
	}
	wg.Wait()
	status := readTestdata(t, "statuses/sent.json")
	for range 3 {
		postSigned(t, hook, secret, status)
	}
	// The inbox delivers in arrival order: once the marker is through,
	// every duplicate before it was handled.
	marker, _, _ := e.emu.InboundNotification(waemu.Inbound{From: "4917000000003", Type: "text", Text: "marker"})
	postSigned(t, hook, secret, marker)
	e.sinks.waitFor(t, "marker", func() bool {
		for _, in := range e.sinks.inbound {
			if in.Text == "marker" {
				return true
			}
		}
		return false
	})
	n := 0
	for _, in := range e.sinks.inbound {
		if in.ID == wamid {
			n++
		}
	}
	if n != 1 {
		t.Errorf("message delivered %d times to the sink, want once", n)
	}
	// Statuses go through the queue, inbound messages straight to the
	// inbox: once the queue is empty, every status was handed on.
	e.sinks.waitFor(t, "an empty queue", func() bool { return queued(t, e.st) == 0 })
	e.sinks.mu.Lock()
	evs := e.sinks.statuses["cmp-1/rcpt-7"]
	e.sinks.mu.Unlock()
	if len(evs) != 1 || evs[0].Status != message.Sent || evs[0].ChannelID == "" {
		t.Errorf("status events %+v, want one sent", evs)
	}
	// A restart keeps the memory of what was processed.
	e.startChannel()
	postSigned(t, hook, secret, body)
	marker2, _, _ := e.emu.InboundNotification(waemu.Inbound{From: "4917000000003", Type: "text", Text: "marker2"})
	postSigned(t, hook, secret, marker2)
	e.sinks.waitFor(t, "marker2", func() bool { return e.sinks.inbound[len(e.sinks.inbound)-1].Text == "marker2" })
	if got := e.sinks.inboundCount(); got != 3 {
		t.Errorf("after restart and replay: %d inbound, want 3 (once, marker, marker2)", got)
	}
}

// TestInboundKeysAndReplies: user_id keys the contact; a reply to it goes
// to the wa_id; media, location, buttons and reactions arrive.
func TestInboundKeysAndReplies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	if _, err := e.emu.Inject(ctx, waemu.Inbound{From: "4917000000010", UserID: "DE.4711", Name: "Uwe", Type: "text", Text: "Hallo"}); err != nil {
		t.Fatal(err)
	}
	imgID := e.emu.AddMedia("image/png", []byte("\x89PNG fake image bytes"))
	inputs := []waemu.Inbound{
		{From: "4917000000011", Type: "image", MediaID: imgID, Text: "Foto"},
		{From: "4917000000011", Type: "location", Latitude: 52.5, Longitude: 13.4, Text: "Zuhause"},
		{From: "4917000000011", Type: "button", Text: "STOP", Payload: "stop"},
		{From: "4917000000011", Type: "interactive", Text: "Ja", Payload: "yes"},
		{From: "4917000000011", Type: "reaction", Text: "❤", ReplyTo: "wamid.X"},
	}
	for _, in := range inputs {
		if _, err := e.emu.Inject(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	e.sinks.waitFor(t, "6 inbound", func() bool { return len(e.sinks.inbound) == 6 })
	got := e.sinks.inbound
	if got[0].From != "DE.4711" || got[0].Name != "Uwe" {
		t.Errorf("user_id not used as key: %+v", got[0])
	}
	wantText := []string{"Foto", "Zuhause (52.500000,13.400000)", "STOP", "Ja", "❤"}
	for i, w := range wantText {
		if got[i+1].Text != w || got[i+1].From != "4917000000011" {
			t.Errorf("inbound %d: %+v, want text %q", i+1, got[i+1], w)
		}
	}
	if got[1].MediaType != "image" || got[1].MediaID != imgID {
		t.Errorf("image inbound %+v", got[1])
	}
	// Reply to the user_id inside the window: goes to the phone number.
	if err := e.ch.Send(ctx, message.Outbound{ID: "reply-1", To: "DE.4711", Text: "Guten Tag"}); err != nil {
		t.Fatal(err)
	}
	sent := e.emu.Sent()
	if sent[len(sent)-1].To != "4917000000010" {
		t.Errorf("reply went to %q", sent[len(sent)-1].To)
	}
	// Download the image into a directory, checked against its SHA-256.
	dir := t.TempDir()
	sm, err := e.ch.SaveMedia(ctx, imgID, dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(sm.Path); string(b) != "\x89PNG fake image bytes" || sm.MimeType != "image/png" {
		t.Errorf("saved media %+v content %q", sm, b)
	}
}

// TestMediaLimits: uploads round-trip; downloads over the limit fail.
func TestMediaLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{ch: func(o *whatsapp.Options) { o.MediaMaxBytes = 1024 }})
	ctx := context.Background()
	id, err := e.ch.UploadMedia(ctx, "big.pdf", "application/pdf", bytes.NewReader(make([]byte, 4096)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := e.ch.Client().DownloadMedia(ctx, id, 1024, &buf); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("download over the limit: %v", err)
	}
	if _, err := e.ch.SaveMedia(ctx, id, t.TempDir()); err == nil {
		t.Error("SaveMedia over the limit succeeded")
	}
	small, _ := e.ch.UploadMedia(ctx, "small.txt", "text/plain", strings.NewReader("tiny"))
	mi, err := e.ch.Client().DownloadMedia(ctx, small, 1024, &buf)
	if err != nil || buf.String() != "tiny" || mi.MimeType != "text/plain" {
		t.Errorf("download: %v %q %+v", err, buf.String(), mi)
	}
	if _, err := e.ch.Client().DownloadMedia(ctx, "999", 1024, &buf); err == nil {
		t.Error("unknown media downloaded")
	}
}

// flakySink refuses the first n inbound messages, like a session store
// that is briefly unavailable.
type flakySink struct {
	*sinks
	mu     sync.Mutex
	refuse int
}

func (f *flakySink) Inbound(ctx context.Context, in message.Inbound) error {
	f.mu.Lock()
	if f.refuse > 0 {
		f.refuse--
		f.mu.Unlock()
		return errors.New("inbox unavailable")
	}
	f.mu.Unlock()
	return f.sinks.Inbound(ctx, in)
}

// TestWebhookStoredFirst: a refusing consumer keeps the message in the
// inbox until it is taken, and messages accepted while nothing consumed (a
// crash after the 200) are delivered after the restart, in arrival order.
func TestWebhookStoredFirst(t *testing.T) {
	t.Parallel()
	var flaky *flakySink
	e := newEnv(t, envConfig{
		ch: func(o *whatsapp.Options) { o.WebhookRetry = 20 * time.Millisecond },
		consume: func(s *sinks) inbox.Consumer {
			flaky = &flakySink{sinks: s, refuse: 2}
			return flaky
		},
	})
	hook := e.hookSrv.URL + whatsapp.WebhookPath
	body, wamid, _ := e.emu.InboundNotification(waemu.Inbound{From: "4917000000020", Type: "text", Text: "retry me"})
	if code := postSigned(t, hook, e.opts.AppSecret, body); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	e.sinks.waitFor(t, "the refused message", func() bool { return len(e.sinks.inbound) == 1 })
	if e.sinks.inbound[0].ID != wamid || flaky.refuse != 0 {
		t.Errorf("inbound %+v after %d refusals left", e.sinks.inbound[0], flaky.refuse)
	}

	// Stop the worker (as a crash would), accept notifications, restart.
	e.stopCh()
	for i := range 3 {
		b, _, _ := e.emu.InboundNotification(waemu.Inbound{From: "4917000000021", Type: "text", Text: fmt.Sprint("queued ", i)})
		if code := postSigned(t, hook, e.opts.AppSecret, b); code != 200 {
			t.Fatalf("HTTP %d", code)
		}
	}
	if n, err := e.inbox.Pending(); err != nil || n != 3 {
		t.Fatalf("%d messages in the inbox (%v), want 3", n, err)
	}
	e.startChannel()
	e.sinks.waitFor(t, "queued messages after restart", func() bool { return len(e.sinks.inbound) == 4 })
	for i, in := range e.sinks.inbound[1:] {
		if in.Text != fmt.Sprint("queued ", i) {
			t.Errorf("message %d: %q (order must follow arrival)", i, in.Text)
		}
	}
}

// TestOlderQueueMigrated: a notification with an inbound message that an
// older pbxgate stored in its webhook queue (before gateway/inbox) reaches
// the inbox after the upgrade, once, and leaves the queue; a message the
// older version marked processed stays a duplicate.
func TestOlderQueueMigrated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	e.stopCh()
	body, wamid, _ := e.emu.InboundNotification(waemu.Inbound{From: "4917000000030", Type: "text", Text: "from the old queue"})
	done, doneID, _ := e.emu.InboundNotification(waemu.Inbound{From: "4917000000031", Type: "text", Text: "processed already"})
	if err := e.st.Update(func(txn *store.Txn) error {
		if err := txn.Set([]byte(fmt.Sprintf("wa/whq/%020d", 1)), body); err != nil {
			return err
		}
		if err := txn.Set([]byte(fmt.Sprintf("wa/whq/%020d", 2)), done); err != nil {
			return err
		}
		return store.SetTTL(txn, "wa/seen/m/"+doneID, nil, time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	e.startChannel()
	e.sinks.waitFor(t, "the queued message", func() bool { return len(e.sinks.inbound) == 1 })
	e.sinks.waitFor(t, "an empty queue", func() bool { return queued(t, e.st) == 0 })
	// Meta retries both: nothing new.
	for _, b := range [][]byte{body, done} {
		if code := postSigned(t, e.hookSrv.URL+whatsapp.WebhookPath, e.opts.AppSecret, b); code != 200 {
			t.Fatalf("HTTP %d", code)
		}
	}
	if n, err := e.inbox.Pending(); err != nil || n != 0 {
		t.Fatalf("%d duplicates stored (%v)", n, err)
	}
	e.sinks.mu.Lock()
	defer e.sinks.mu.Unlock()
	if len(e.sinks.inbound) != 1 || e.sinks.inbound[0].ID != wamid || e.sinks.inbound[0].Channel == "" {
		t.Fatalf("inbound %+v", e.sinks.inbound)
	}
}
