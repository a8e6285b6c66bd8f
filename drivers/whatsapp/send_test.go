package whatsapp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/message"
)

func promo(name string) whatsapp.Message {
	return whatsapp.TemplateMessage("2023_april_promo", "en_US", whatsapp.BodyText(name, "FALL25"))
}

// TestRetryPerErrorCode injects each error code once for a recipient and
// checks whether the channel retried (the emulator then accepts) or gave
// up with Meta's code, and that channel-stopping codes stop the channel.
func TestRetryPerErrorCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code  int
		retry bool
		stop  bool
	}{
		{130429, true, false}, {131056, true, false}, {80007, true, false}, {4, true, false},
		{131057, true, false}, {1, true, false}, {2, true, false}, {131000, true, false},
		{131016, true, false}, {133004, true, false},
		{131047, false, false}, {131026, false, false}, {131049, false, false}, {131050, false, false},
		{100, false, false}, {131008, false, false}, {131009, false, false},
		{132000, false, false}, {132001, false, false}, {132005, false, false}, {132007, false, false},
		{132012, false, false}, {132015, false, false}, {132016, false, false},
		{368, false, false}, {131031, false, false},
		{190, false, true}, {131048, false, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{virtual: true})
			to := "4917100000001"
			e.emu.FailNext(to, c.code)
			wamid, err := e.ch.SendMessage(context.Background(), "m1", to, promo("Anna"))
			st := e.emu.Stats()
			if st.Rejected[c.code] != 1 {
				t.Fatalf("emulator refused %d times with %d, want once", st.Rejected[c.code], c.code)
			}
			rec, rerr := e.ch.Record("m1")
			if rerr != nil {
				t.Fatal(rerr)
			}
			if c.retry {
				if err != nil || st.Accepted != 1 || wamid == "" || rec.WAMID != wamid {
					t.Fatalf("retryable %d: err=%v accepted=%d record=%+v", c.code, err, st.Accepted, rec)
				}
				if len(e.clock.Sleeps()) == 0 {
					t.Error("retried without backing off")
				}
				return
			}
			var apiErr *whatsapp.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != c.code || st.Accepted != 0 {
				t.Fatalf("%d: err=%v accepted=%d, want the API error, no retry", c.code, err, st.Accepted)
			}
			if rec.Status != message.Failed || rec.Code != c.code || rec.Reason == "" {
				t.Errorf("record %+v, want failed with code and Meta's text", rec)
			}
			h := e.ch.Health()
			if c.stop != (h.State == "stopped") {
				t.Fatalf("health %+v after %d", h, c.code)
			}
			if !c.stop {
				if !whatsapp.IsMessageError(err) {
					t.Errorf("%d should fail only this message", c.code)
				}
				return
			}
			// Stopped: nothing reaches Meta until the admin resumes, also
			// after a restart.
			e.startChannel()
			if _, err := e.ch.SendMessage(context.Background(), "m2", to, promo("Anna")); !errors.Is(err, whatsapp.ErrChannelStopped) {
				t.Fatalf("send while stopped: %v", err)
			}
			if n := e.emu.Stats().Accepted + e.emu.Stats().Rejected[c.code]; n != 1 {
				t.Errorf("emulator saw %d requests, want only the first", n)
			}
			if h := e.ch.Health(); h.State != "stopped" || h.Code != c.code || !strings.Contains(h.Reason, fmt.Sprint(c.code)) {
				t.Errorf("health after restart %+v", h)
			}
			if err := e.ch.Resume(); err != nil {
				t.Fatal(err)
			}
			if _, err := e.ch.SendMessage(context.Background(), "m2", to, promo("Anna")); err != nil {
				t.Fatalf("send after resume: %v", err)
			}
		})
	}
}

// TestPairRateBackoffSchedule: repeated 131056 answers back off 1, 4, 16 s,
// then the retries are used up and the error says so.
func TestPairRateBackoffSchedule(t *testing.T) {
	t.Parallel()
	// The client's own pair pacing out of the way: only backoff sleeps.
	e := newEnv(t, envConfig{virtual: true, ch: func(o *whatsapp.Options) { o.PairInterval = time.Millisecond }})
	to := "4917100000002"
	e.emu.FailNext(to, 131056, 131056, 131056, 131056, 131056)
	_, err := e.ch.SendMessage(context.Background(), "p1", to, promo("Bo"))
	if !errors.Is(err, whatsapp.ErrRetryable) || !strings.Contains(err.Error(), "5 attempts") {
		t.Fatalf("err = %v", err)
	}
	var backoff []time.Duration
	for _, d := range e.clock.Sleeps() {
		if d >= time.Second {
			backoff = append(backoff, d)
		}
	}
	want := []time.Duration{time.Second, 4 * time.Second, 16 * time.Second, 64 * time.Second}
	if fmt.Sprint(backoff) != fmt.Sprint(want) {
		t.Errorf("backoff %v, want %v", backoff, want)
	}
	if whatsapp.IsMessageError(err) {
		t.Error("a rate-limit failure must not fail the message for good")
	}
}

// TestBadTokenStopsChannel: the emulator's own token check answers 190.
func TestBadTokenStopsChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true, ch: func(o *whatsapp.Options) { o.Token = "expired" }})
	_, err := e.ch.SendMessage(context.Background(), "t1", "4917100000003", whatsapp.TemplateMessage("hello_world", "en_US"))
	// The template check syncs first, which already meets 190.
	if !errors.Is(err, whatsapp.ErrChannelStopped) {
		t.Fatalf("err = %v", err)
	}
	if e.emu.Stats().Rejected[190] == 0 {
		t.Error("emulator did not refuse the token")
	}
	if h := e.ch.Health(); h.State != "stopped" || h.Code != 190 || !strings.Contains(h.Reason, "access token") {
		t.Errorf("health %+v", h)
	}
	if strings.Contains(err.Error(), "expired\"") || strings.Contains(fmt.Sprint(e.ch.Health()), "Bearer") {
		t.Error("token leaked into an error")
	}
}

// TestTimeoutIsUnknownNotResent: a send whose answer never comes is
// recorded unknown and a second attempt with the same id is refused
// without a request.
func TestTimeoutIsUnknownNotResent(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	release := make(chan struct{})
	e := newEnv(t, envConfig{
		virtual: true,
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/messages") {
					posts.Add(1)
					<-release
					return
				}
				h.ServeHTTP(w, r)
			})
		},
		ch: func(o *whatsapp.Options) { o.RequestTimeout = 300 * time.Millisecond },
	})
	defer close(release)
	ctx := context.Background()
	_, err := e.ch.SendMessage(ctx, "u1", "4917100000004", promo("Cleo"))
	if !errors.Is(err, whatsapp.ErrUnknownOutcome) {
		t.Fatalf("err = %v", err)
	}
	if rec, _ := e.ch.Record("u1"); rec.Status != message.Unknown {
		t.Errorf("record %+v, want unknown", rec)
	}
	_, err = e.ch.SendMessage(ctx, "u1", "4917100000004", promo("Cleo"))
	if !errors.Is(err, whatsapp.ErrUnknownOutcome) || posts.Load() != 1 {
		t.Errorf("second send: %v after %d requests, want unknown and no new request", err, posts.Load())
	}
	if whatsapp.IsMessageError(err) {
		t.Error("unknown outcome must not be treated as a refused message")
	}
}

// TestShutdownDuringRequestKeepsOutcome: the caller's context ends (a
// clean shutdown) while Meta is answering; the request finishes and the
// message is recorded sent, not unknown.
func TestShutdownDuringRequestKeepsOutcome(t *testing.T) {
	t.Parallel()
	inFlight := make(chan struct{})
	var once sync.Once
	e := newEnv(t, envConfig{
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/messages") {
					once.Do(func() { close(inFlight) })
					time.Sleep(300 * time.Millisecond) // the shutdown happens meanwhile
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-inFlight; cancel() }()
	wamid, err := e.ch.SendMessage(ctx, "s1", "4917100000006", promo("Eva"))
	if err != nil || wamid == "" {
		t.Fatalf("send cut off by the shutdown: %q %v", wamid, err)
	}
	if rec, _ := e.ch.Record("s1"); rec.Status == message.Unknown || rec.WAMID != wamid {
		t.Fatalf("record %+v, want sent with %s", rec, wamid)
	}
}

// TestIdempotentByID: a second send with an accepted id returns the same
// wamid and transmits nothing.
func TestIdempotentByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true})
	ctx := context.Background()
	w1, err := e.ch.SendMessage(ctx, "i1", "+49 171 0000005", promo("Dan"))
	if err != nil {
		t.Fatal(err)
	}
	e.startChannel() // also across a restart
	w2, err := e.ch.SendMessage(ctx, "i1", "+49 171 0000005", promo("Dan"))
	if err != nil || w2 != w1 || e.emu.Stats().Accepted != 1 {
		t.Errorf("second send: %q %v, accepted %d; want %q and one transmission", w2, err, e.emu.Stats().Accepted, w1)
	}
}

// TestThroughputLimit sends sequentially in virtual time: at 80/s the
// emulator (enforcing 80/s on the same clock) never refuses and no second
// holds more than 80 sends; a client set above the emulator's limit does
// get 130429 and recovers by backing off.
func TestThroughputLimit(t *testing.T) {
	t.Parallel()
	run := func(clientRate int) (*env, error) {
		e := newEnv(t, envConfig{virtual: true, ch: func(o *whatsapp.Options) { o.MessagesPerSecond = clientRate }})
		for i := range 240 {
			if _, err := e.ch.SendMessage(context.Background(), fmt.Sprint("t", i), fmt.Sprint(4917200000000+i), promo("Eve")); err != nil {
				return e, err
			}
		}
		return e, nil
	}
	e, err := run(80)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Stats().Rejected[130429]; n != 0 {
		t.Fatalf("emulator refused %d sends for throughput", n)
	}
	sent := e.emu.Sent()
	for i := 80; i < len(sent); i++ {
		if d := sent[i].At.Sub(sent[i-80].At); d < time.Second {
			t.Fatalf("81 sends within %v (sends %d..%d)", d, i-80, i)
		}
	}
	if span := sent[len(sent)-1].At.Sub(sent[0].At); span < 239*time.Second/80 {
		t.Errorf("240 sends took %v of virtual time, faster than 80/s", span)
	}

	fast, err := run(1000)
	if err != nil {
		t.Fatalf("client above the limit did not recover: %v", err)
	}
	if fast.emu.Stats().Rejected[130429] == 0 {
		t.Error("emulator never refused a client sending at 1000/s against an 80/s limit")
	}
}

// TestPairRateLimit: five messages to one user are spaced by the pair
// rate (2 at once, then one per 6 s) and the emulator never refuses.
func TestPairRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true})
	to := "4917300000001"
	for i := range 5 {
		if _, err := e.ch.SendMessage(context.Background(), fmt.Sprint("pr", i), to, promo("Fay")); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.emu.Stats().Rejected[131056]; n != 0 {
		t.Errorf("emulator refused %d for pair rate", n)
	}
	sent := e.emu.Sent()
	t0 := sent[0].At
	var offs []time.Duration
	for _, s := range sent {
		offs = append(offs, s.At.Sub(t0).Round(100*time.Millisecond))
	}
	want := []time.Duration{0, 0, 6 * time.Second, 12 * time.Second, 18 * time.Second}
	if fmt.Sprint(offs) != fmt.Sprint(want) {
		t.Errorf("send times %v, want %v", offs, want)
	}
	// Without the client's pacing the emulator enforces the pair rate.
	e2 := newEnv(t, envConfig{virtual: true, ch: func(o *whatsapp.Options) { o.PairBurst = 10 }})
	for i := range 5 {
		if _, err := e2.ch.SendMessage(context.Background(), fmt.Sprint("pr", i), to, promo("Fay")); err != nil {
			t.Fatal(err)
		}
	}
	if e2.emu.Stats().Rejected[131056] == 0 {
		t.Error("emulator did not enforce the pair rate")
	}
}

// TestServiceWindow: free-form only within 24 h of the user's last
// message; pbxgate refuses before Meta does, and the emulator agrees.
func TestServiceWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true})
	ctx := context.Background()
	user := "4917400000001"
	err := e.ch.Send(ctx, message.Outbound{ID: "w1", To: user, Text: "Hallo"})
	if !errors.Is(err, whatsapp.ErrOutsideWindow) || !whatsapp.IsMessageError(err) {
		t.Fatalf("outside window: %v", err)
	}
	if st := e.emu.Stats(); st.Accepted+len(st.Rejected) != 0 {
		t.Errorf("a request reached the emulator: %+v", st)
	}
	e.openWindow(user)
	if ok, _ := e.ch.InWindow("+" + user); !ok {
		t.Fatal("window not open after the user wrote")
	}
	if n, err := e.ch.OpenWindows(); n != 1 || err != nil {
		t.Errorf("open windows %d %v, want 1", n, err)
	}
	if err := e.ch.Send(ctx, message.Outbound{ID: "w2", To: user, Text: "Hallo"}); err != nil {
		t.Fatalf("inside window: %v", err)
	}
	e.clock.Advance(23*time.Hour + 59*time.Minute)
	if err := e.ch.Send(ctx, message.Outbound{ID: "w3", To: user, Text: "noch da?"}); err != nil {
		t.Fatalf("23:59 later: %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	if err := e.ch.Send(ctx, message.Outbound{ID: "w4", To: user, Text: "zu spät"}); !errors.Is(err, whatsapp.ErrOutsideWindow) {
		t.Fatalf("24:01 later: %v", err)
	}
	if n, _ := e.ch.OpenWindows(); n != 0 {
		t.Errorf("open windows %d after 24 h, want 0", n)
	}
	if _, err := e.ch.SendMessage(ctx, "w5", user, promo("Gus")); err != nil {
		t.Fatalf("template outside window: %v", err)
	}
}

// TestMessagingTier: at most Tier unique users outside the window per
// rolling 24 h, surviving a restart; users inside the window and users
// already counted cost nothing.
func TestMessagingTier(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true, ch: func(o *whatsapp.Options) { o.Tier = 3 }})
	ctx := context.Background()
	send := func(id, to string) error {
		_, err := e.ch.SendMessage(ctx, id, to, promo("Hal"))
		return err
	}
	for i := range 3 {
		if err := send(fmt.Sprint("a", i), fmt.Sprint(4917500000000+i)); err != nil {
			t.Fatal(err)
		}
	}
	start := e.clock.Now()
	err := send("a3", "4917500000003")
	var le *whatsapp.LimitError
	if !errors.Is(err, whatsapp.ErrTierLimit) || !errors.As(err, &le) || le.RetryAt.Before(start.Add(23*time.Hour)) {
		t.Fatalf("4th unique user: %v", err)
	}
	if h := e.ch.Health(); h.State != "waiting" || h.TierUsed != 3 || !strings.Contains(h.Reason, "tier 3") {
		t.Errorf("health %+v", h)
	}
	if whatsapp.IsMessageError(err) {
		t.Error("tier limit must hold the campaign, not fail the recipient")
	}
	e.clock.Advance(7 * time.Second) // pair rate
	if err := send("a4", "4917500000001"); err != nil {
		t.Errorf("already counted user: %v", err)
	}
	e.openWindow("4917500000009")
	if err := send("a5", "4917500000009"); err != nil {
		t.Errorf("user inside the window: %v", err)
	}
	e.startChannel() // restart: the count is in the store
	if err := send("a6", "4917500000003"); !errors.Is(err, whatsapp.ErrTierLimit) {
		t.Fatalf("after restart: %v", err)
	}
	e.clock.Advance(24 * time.Hour)
	if err := send("a7", "4917500000003"); err != nil {
		t.Fatalf("24 h later: %v", err)
	}
}

// TestTemplateChecks: only APPROVED templates with every variable filled
// leave pbxgate.
func TestTemplateChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true})
	ctx := context.Background()
	doc := whatsapp.HeaderMedia("document", whatsapp.Media{Link: "https://example.com/r.pdf", Filename: "r.pdf"}) // netscope: a media link Meta would fetch; the emulator only validates it
	cases := []struct {
		name string
		m    whatsapp.Message
		ok   bool
	}{
		{"paused", whatsapp.TemplateMessage("summer_sale", "de", whatsapp.BodyText("20")), false},
		{"rejected", whatsapp.TemplateMessage("old_offer", "de"), false},
		{"unknown", whatsapp.TemplateMessage("no_such_template", "de"), false},
		{"wrong language", whatsapp.TemplateMessage("invoice_ready", "fr", doc, whatsapp.BodyText("1", "2")), false},
		{"missing variable", whatsapp.TemplateMessage("2023_april_promo", "en_US", whatsapp.BodyText("Ida")), false},
		{"empty variable", whatsapp.TemplateMessage("2023_april_promo", "en_US", whatsapp.BodyText("Ida", " ")), false},
		{"header missing", whatsapp.TemplateMessage("invoice_ready", "de", whatsapp.BodyText("R-1", "10 €")), false},
		{"header wrong kind", whatsapp.TemplateMessage("invoice_ready", "de", whatsapp.HeaderMedia("image", whatsapp.Media{Link: "https://e.com/a.jpg"}), whatsapp.BodyText("R-1", "10 €")), false}, // netscope: validated only
		{"url button missing", whatsapp.TemplateMessage("appointment_reminder", "de", whatsapp.HeaderText("morgen"), whatsapp.BodyText("Jo", "1.4.", "9:00")), false},
		{"document header", whatsapp.TemplateMessage("invoice_ready", "de", doc, whatsapp.BodyText("R-1", "10 €")), true},
		{"all filled", whatsapp.TemplateMessage("appointment_reminder", "de", whatsapp.HeaderText("morgen"), whatsapp.BodyText("Jo", "1.4.", "9:00"), whatsapp.URLButton(0, "abc")), true},
		{"location header", whatsapp.TemplateMessage("store_location", "de", whatsapp.HeaderLocation(whatsapp.Location{Latitude: 52, Longitude: 13, Name: "Station"}), whatsapp.BodyText("Kim")), true},
		{"video header", whatsapp.TemplateMessage("product_video", "de", whatsapp.HeaderMedia("video", whatsapp.Media{Link: "https://e.com/v.mp4"})), true}, // netscope: validated only
	}
	for i, c := range cases {
		_, err := e.ch.SendMessage(ctx, fmt.Sprint("tc", i), fmt.Sprint(4917600000000+i), c.m)
		if c.ok != (err == nil) {
			t.Errorf("%s: err = %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, whatsapp.ErrTemplate) {
			t.Errorf("%s: %v is not ErrTemplate", c.name, err)
		}
	}
	if n := len(e.emu.Stats().Rejected); n != 0 {
		t.Errorf("the emulator had to refuse templates pbxgate should have caught: %v", e.emu.Stats().Rejected)
	}
}

// TestTemplateSyncPaging lists the emulator's templates three per page,
// keeps them in the store and drops deleted ones.
func TestTemplateSyncPaging(t *testing.T) {
	t.Parallel()
	var pages atomic.Int32
	e := newEnv(t, envConfig{
		virtual: true,
		ch:      func(o *whatsapp.Options) { o.TemplatePageSize = 3 },
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/message_templates") {
					pages.Add(1)
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	ctx := context.Background()
	tpls := e.ch.Templates()
	if err := tpls.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	all := waemu.DefaultTemplates()
	if got := len(tpls.List()); got != len(all) {
		t.Fatalf("%d templates synced, want %d", got, len(all))
	}
	if want := int32((len(all) + 2) / 3); pages.Load() != want {
		t.Errorf("%d pages fetched, want %d", pages.Load(), want)
	}
	ar, ok := tpls.Get("appointment_reminder", "de")
	if !ok {
		t.Fatal("appointment_reminder/de missing")
	}
	want := whatsapp.TemplateVars{HeaderFormat: "TEXT", HeaderParams: 1, Body: 3, Buttons: []whatsapp.ButtonVar{{Index: 0, SubType: "url", Params: 1}}}
	if fmt.Sprint(ar.Vars) != fmt.Sprint(want) || ar.Category != "UTILITY" || !ar.Approved() {
		t.Errorf("vars %+v, want %+v", ar.Vars, want)
	}
	if v := fmt.Sprint(ar.Variables()); v != "[1 1 2 3]" {
		t.Errorf("variables %s", v)
	}
	inv, _ := tpls.Get("invoice_ready", "de")
	if inv.Vars.HeaderFormat != "DOCUMENT" || inv.Vars.HeaderParams != 1 || inv.Vars.Body != 2 {
		t.Errorf("invoice_ready vars %+v", inv.Vars)
	}
	for _, a := range tpls.Approved() {
		if a.Status != "APPROVED" {
			t.Errorf("Approved lists %s (%s)", a.Name, a.Status)
		}
	}
	if n := len(tpls.Approved()); n != 8 {
		t.Errorf("%d approved templates, want 8", n)
	}
	// Deleted at Meta: gone locally, also after a restart (from the store).
	e.emu.SetTemplates(all[:2])
	if err := tpls.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	e.startChannel()
	if got := len(e.ch.Templates().List()); got != 2 {
		t.Errorf("after deletion and restart: %d templates, want 2", got)
	}
	if last, err := e.ch.Templates().LastSync(); last.IsZero() || err != nil {
		t.Errorf("last sync %v %v", last, err)
	}
}

// cancellingClock cancels the send's context when it is asked to back off.
type cancellingClock struct {
	*virtualClock
	cancel context.CancelFunc
}

func (c cancellingClock) Sleep(ctx context.Context, d time.Duration) error {
	if d >= 500*time.Millisecond {
		c.cancel()
	}
	return c.virtualClock.Sleep(ctx, d)
}

// TestCancelledRetryCanBeSentAgain: a send abandoned while backing off
// after refusals was not sent, so the same id may be sent later (it is not
// "unknown").
func TestCancelledRetryCanBeSentAgain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, envConfig{virtual: true, ch: func(o *whatsapp.Options) {
		o.Clock = cancellingClock{virtualClock: o.Clock.(*virtualClock), cancel: cancel}
	}})
	to := "4917100000009"
	e.emu.FailNext(to, 130429)
	if _, err := e.ch.SendMessage(ctx, "c1", to, promo("Jo")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if rec, _ := e.ch.Record("c1"); rec.Status != message.Failed {
		t.Fatalf("record %+v, want failed", rec)
	}
	if _, err := e.ch.SendMessage(context.Background(), "c1", to, promo("Jo")); err != nil {
		t.Fatalf("second send: %v", err)
	}
}
