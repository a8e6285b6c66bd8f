package campaign

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/shortlink"
)

// envLinks lets the engine use a shortlink.Links on the store newEnv
// opens (set before any campaign sends).
type envLinks struct{ l *shortlink.Links }

func (h *envLinks) Shorten(ctx context.Context, c string, seq int, text string) (string, error) {
	return h.l.Shorten(ctx, c, seq, text)
}
func (h *envLinks) Sample() string { return "http://127.0.0.1:8081/s/xxxxxxxxxxxx" } // netscope: never fetched
func (h *envLinks) Clicks(ctx context.Context, c string) (map[int]int, error) {
	return h.l.Clicks(ctx, c)
}

func TestShortLinkCampaign(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms", newLedger())
	h := &envLinks{}
	ev := newEnv(t, "", Config{Links: h}, ch)
	var err error
	h.l, err = shortlink.New(shortlink.Config{Store: ev.st, PublicURL: "http://127.0.0.1:8081"}) // netscope: never fetched
	if err != nil {
		t.Fatal(err)
	}
	spec := smsSpec("links", "sms", "now")
	spec.Content.Text = "Hallo {{first_name}}: http://127.0.0.1:9/shop/angebot?q=1." // netscope: never fetched
	spec.ShortenLinks = true
	c, err := ev.e.Create(bg, spec, numbers(3))
	if err != nil {
		t.Fatal(err)
	}
	ev.waitState(c.ID, Completed)
	sends := ch.sends()
	seen := map[string]bool{}
	for _, m := range sends {
		u := shortlink.FindURLs(m.Text)
		if len(u) != 1 || !strings.HasPrefix(u[0], "http://127.0.0.1:8081/s/") || !strings.HasSuffix(m.Text, u[0]+".") {
			t.Fatalf("sent %q", m.Text)
		}
		if seen[u[0]] {
			t.Fatalf("short link %s sent twice", u[0])
		}
		seen[u[0]] = true
	}
	// Recipient 2 clicks twice.
	key := strings.TrimPrefix(shortlink.FindURLs(sends[1].Text)[0], "http://127.0.0.1:8081/s/")
	for range 2 {
		if target, ok, err := h.l.Click(bg, key); !ok || err != nil || target != "http://127.0.0.1:9/shop/angebot?q=1" {
			t.Fatalf("click: %q %v %v", target, ok, err)
		}
	}
	var buf bytes.Buffer
	if err := ev.e.ExportCSV(bg, c.ID, &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "clicks" {
			col = i
		}
	}
	if col < 0 || rows[1][col] != "0" || rows[2][col] != "2" || rows[3][col] != "0" {
		t.Fatalf("export %v", rows)
	}
	// Refused: without a shortener, and a text too long once shortened.
	plain := newEnv(t, "", Config{}, newTestChannel("sms", newLedger()))
	_, err = plain.e.Create(bg, spec, numbers(1))
	mustErr(t, err, ErrInvalid)
	long := spec
	long.Name = "long"
	long.Content.Text = strings.Repeat("a", 1590) + " http://127.0.0.6/x" // netscope: never fetched
	_, err = ev.e.Create(bg, long, numbers(1))
	mustErr(t, err, ErrInvalid)
	nolink := spec
	nolink.Name, nolink.Content.Text = "nolink", "kein Link"
	_, err = ev.e.Create(bg, nolink, numbers(1))
	mustErr(t, err, ErrInvalid)
}

func TestWhatsAppFallbackToSMSExactlyOnce(t *testing.T) {
	t.Parallel()
	led := newLedger()
	wa := newTestChannel("wa", newLedger())
	wa.kind, wa.quiet = message.WhatsApp, true
	smsCh := newTestChannel("sms", led)
	cat := catalog{"info/de": {Name: "info", Language: "de", Status: "APPROVED", Variables: []string{"1"}, Body: "Hallo {{1}}"}}
	dir := t.TempDir()
	cfg := Config{Templates: cat}
	ev := newEnv(t, dir, cfg, wa, smsCh)
	spec := Spec{Name: "wa+sms", Channel: "wa", When: When{Kind: "now"},
		Content:  Content{WhatsApp: &WhatsAppContent{Template: "info", Language: "de", Values: map[string]string{"1": "{{first_name}}"}}},
		Fallback: &Fallback{Channel: "sms", Text: "Hallo {{first_name}}, per SMS.", After: 10}}
	bad := spec
	bad.Fallback = &Fallback{Channel: "wa", Text: "x"}
	_, err := ev.e.Create(bg, bad, numbers(1))
	mustErr(t, err, ErrInvalid)
	bad.Fallback = &Fallback{Channel: "sms"}
	_, err = ev.e.Create(bg, bad, numbers(1))
	mustErr(t, err, ErrInvalid)

	rs := numbers(5)
	c, err := ev.e.Create(bg, spec, rs)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor("all handed to WhatsApp", func() bool { return len(wa.sends()) == 5 })
	ev.waitFor("all accepted", func() bool {
		for _, r := range ev.recipients(c.ID) {
			if r.AcceptedAt.IsZero() {
				return false
			}
		}
		return true
	})
	at := ev.clk.Now()
	ids := map[string]string{}
	for _, m := range wa.sends() {
		ids[m.To] = m.ID
	}
	status := func(n int, st message.Status, code string) {
		t.Helper()
		if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: ids[rs[n].Number], Status: st, Code: code, Reason: "x (" + code + ")", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	status(0, message.Failed, "131026") // not on WhatsApp: SMS now
	status(1, message.Delivered, "")    // reached by WhatsApp
	status(2, message.Sent, "")         // never delivered: SMS after 10 minutes
	status(3, message.Failed, "131047") // another failure: no SMS
	status(4, message.Sent, "")
	status(4, message.Delivered, "") // delivered in time
	ev.waitState(c.ID, Completed)
	ev.waitFor("SMS to recipient 0", func() bool { return led.perNumber()[rs[0].Number] == 1 })
	// The same failure reported again sends nothing more.
	status(0, message.Failed, "131026")
	for i := 0; i < 1000 && led.perNumber()[rs[2].Number] == 0; i++ {
		ev.clk.Advance(time.Minute)
		time.Sleep(2 * time.Millisecond)
	}
	ev.waitFor("the SMS fallbacks reported sent", func() bool {
		r := ev.recipients(c.ID)
		return r[0].Fallback != nil && r[0].Fallback.Status == RSent && r[2].Fallback != nil && r[2].Fallback.Status == RSent
	})
	got := ev.recipients(c.ID)
	want := []string{"sms", "whatsapp", "sms", "", "whatsapp"}
	cur := ev.get(c.ID)
	for i, r := range got {
		if by := r.ReachedBy(cur); by != want[i] {
			t.Errorf("recipient %d reached by %q, want %q (%+v)", i, by, want[i], r.Fallback)
		}
	}
	if got[0].Fallback.Why != "undeliverable" || got[2].Fallback.Why != "timeout" || got[3].Fallback != nil {
		t.Errorf("why: %+v %+v %+v", got[0].Fallback, got[2].Fallback, got[3].Fallback)
	}
	if s := smsCh.sends(); len(s) != 2 || s[0].Text != "Hallo P0, per SMS." || s[0].ID != ids[rs[0].Number]+".sms" {
		t.Fatalf("SMS sent: %+v", s)
	}
	reach, err := ev.e.Reach(bg, c.ID)
	if err != nil || reach.SMS != 2 || reach.WhatsApp != 2 || reach.Failed != 0 {
		t.Fatalf("reach %+v %v", reach, err)
	}
	// A restart sends no SMS again, and a late WhatsApp delivery of a
	// recipient who got the SMS shows both.
	ev.close()
	ev2 := newEnv(t, dir, cfg, wa, smsCh)
	if err := ev2.e.HandleStatus(bg, message.StatusEvent{ID: ids[rs[2].Number], Status: message.Delivered, At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ev2.clk.Advance(time.Hour)
	for n, k := range led.perNumber() {
		if k != 1 {
			t.Errorf("%s got %d SMS", n, k)
		}
	}
	if by := ev2.recipients(c.ID)[2].ReachedBy(ev2.get(c.ID)); by != "whatsapp+sms" {
		t.Errorf("late delivery: %q", by)
	}
	var buf bytes.Buffer
	if err := ev2.e.ExportCSV(bg, c.ID, &buf); err != nil || !strings.Contains(buf.String(), ",channel") || !strings.Contains(buf.String(), ",sms") {
		t.Fatalf("export %v:\n%s", err, buf.String())
	}
	_ = recipients.Recipient{}
}

// A fallback the SMS channel could not take (modem gone) stays stored as
// "sending" under its message ID and is handed over again with the same ID
// later: the SMS goes out once.
func TestFallbackRetriedUnderTheSameID(t *testing.T) {
	t.Parallel()
	led := newLedger()
	wa := newTestChannel("wa", newLedger())
	wa.kind, wa.quiet = message.WhatsApp, true
	smsCh := newTestChannel("sms", led)
	smsCh.fail = errors.New("no modem ready")
	cat := catalog{"info/de": {Name: "info", Language: "de", Status: "APPROVED", Body: "Hallo"}}
	ev := newEnv(t, "", Config{Templates: cat}, wa, smsCh)
	spec := Spec{Name: "retry", Channel: "wa", When: When{Kind: "now"},
		Content:  Content{WhatsApp: &WhatsAppContent{Template: "info", Language: "de"}},
		Fallback: &Fallback{Channel: "sms", Text: "per SMS"}}
	rs := numbers(1)
	c, err := ev.e.Create(bg, spec, rs)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor("accepted", func() bool { return !ev.recipients(c.ID)[0].AcceptedAt.IsZero() })
	id := wa.sends()[0].ID
	if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: id, Status: message.Failed, Code: "131026"}); err != nil {
		t.Fatal(err)
	}
	ev.waitFor("fallback stored", func() bool {
		r := ev.recipients(c.ID)[0]
		return r.Fallback != nil && r.Fallback.Status == RSending
	})
	if n := len(smsCh.sends()); n != 0 {
		t.Fatalf("%d SMS accepted by a failing channel", n)
	}
	smsCh.mu.Lock()
	smsCh.fail = nil
	smsCh.mu.Unlock()
	for i := 0; i < 1000 && len(smsCh.sends()) == 0; i++ {
		ev.clk.Advance(fallbackRetry)
		time.Sleep(2 * time.Millisecond)
	}
	ev.waitFor("fallback sent", func() bool { return ev.recipients(c.ID)[0].Fallback.Status == RSent })
	s := smsCh.sends()
	led.mu.Lock()
	n := led.transmitted[id+".sms"]
	led.mu.Unlock()
	if len(s) != 1 || s[0].ID != id+".sms" || n != 1 {
		t.Fatalf("SMS %+v, transmitted %d", s, n)
	}
	// More clock and events change nothing.
	ev.clk.Advance(time.Hour)
	if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: id, Status: message.Failed, Code: "131026"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // longer than fallbackGap
	if n := len(smsCh.sends()); n != 1 {
		t.Fatalf("%d SMS", n)
	}
}
