package rules

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin on machines without zoneinfo

	"github.com/pbxgate/pbxgate/drivers/forward"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return l
}()

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sent is one message the gateway would have sent to a contact.
type sent struct {
	To, Channel, Text string
	Media             *Media
}

// outbox stands in for the channels (modem pool, WhatsApp): the lead's
// adapters implement these interfaces on the real ones. It records what
// the engine asked for and can be told to fail.
type outbox struct {
	mu        sync.Mutex
	replies   []sent
	routes    []string
	sms       []message.Outbound
	campaigns []string
	vars      []map[string]string
	failReply error
}

func (o *outbox) Reply(_ context.Context, in message.Inbound, text string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failReply != nil {
		return o.failReply
	}
	o.replies = append(o.replies, sent{To: in.From, Channel: in.Channel, Text: text})
	return nil
}

func (o *outbox) ReplyMedia(_ context.Context, in message.Inbound, m Media) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.replies = append(o.replies, sent{To: in.From, Channel: in.Channel, Media: &m})
	return nil
}

func (o *outbox) Route(_ context.Context, in message.Inbound, kind, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.routes = append(o.routes, in.ID+">"+kind+":"+id)
	return nil
}

func (o *outbox) SendSMS(_ context.Context, out message.Outbound) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sms = append(o.sms, out)
	return nil
}

func (o *outbox) StartForContact(_ context.Context, id string, in message.Inbound, vars map[string]string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if id == "missing" {
		return permanentErr{errors.New("campaign missing not found")}
	}
	o.campaigns = append(o.campaigns, id+">"+in.From)
	o.vars = append(o.vars, vars)
	return nil
}

func (o *outbox) texts() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var t []string
	for _, r := range o.replies {
		t = append(t, r.Text)
	}
	return t
}

type permanentErr struct{ error }

func (permanentErr) Permanent() bool { return true }

type contacts map[string]Contact

func (c contacts) Contact(_ context.Context, n string) (Contact, bool, error) {
	ct, ok := c[n]
	return ct, ok, nil
}

type env struct {
	t   testing.TB
	dir string
	st  *store.Store
	cs  *consent.Consent
	e   *Engine
	clk *fakeClock
	out *outbox
	cfg Config
}

// newEnv opens a store in a temp dir and an engine with every part wired:
// real HTTP forwarding (forward.HTTP), the outbox for channels.
func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	v := &env{t: t, dir: t.TempDir(), out: &outbox{},
		clk: &fakeClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, berlin)}} // a Monday
	v.cfg = Config{
		Replier: v.out, Media: v.out, Router: v.out, SMS: v.out, Campaigns: v.out,
		HTTP:     forward.NewHTTP(forward.HTTPConfig{Timeout: 10 * time.Second}),
		Location: berlin, Now: v.clk.Now,
		Retry:    Retry{First: time.Minute, Max: 10 * time.Minute, Attempts: 4},
		Contacts: contacts{"+4915112345678": {ID: "c-42", Remark: "VIP", Nickname: "Anna", Fields: map[string]string{"first_name": "Anna", "City": "Köln"}}},
	}
	for _, m := range mod {
		m(&v.cfg)
	}
	v.open()
	t.Cleanup(func() { v.st.Close() })
	return v
}

func (v *env) open() {
	v.t.Helper()
	st, err := store.Open(store.Options{Dir: v.dir, Profile: store.Small})
	if err != nil {
		v.t.Fatal(err)
	}
	v.st = st
	v.cs, err = consent.New(consent.Config{Store: st, Now: v.clk.Now})
	if err != nil {
		v.t.Fatal(err)
	}
	cfg := v.cfg
	cfg.Store, cfg.Consent = st, v.cs
	v.e, err = New(cfg)
	if err != nil {
		v.t.Fatal(err)
	}
}

// restart closes and reopens store and engine, as after a power cut.
func (v *env) restart() {
	v.t.Helper()
	if err := v.st.Close(); err != nil {
		v.t.Fatal(err)
	}
	v.open()
}

func (v *env) save(r Rule) Rule {
	v.t.Helper()
	r.Enabled = true
	r, err := v.e.Save(context.Background(), r)
	if err != nil {
		v.t.Fatal(err)
	}
	return r
}

var seq atomic.Int64

func (v *env) handle(from, text string) Result {
	v.t.Helper()
	v.clk.Add(time.Millisecond) // distinct receive times: Recent's order
	return v.handleIn(message.Inbound{ID: "m" + strconv.FormatInt(seq.Add(1), 10),
		Kind: message.SMS, Channel: "sms1", Receiver: "+4930999", From: from, Text: text, At: v.clk.Now()})
}

func (v *env) handleIn(in message.Inbound) Result {
	v.t.Helper()
	ctx := context.Background()
	res, err := v.e.Handle(ctx, in)
	if err != nil {
		v.t.Fatal(err)
	}
	// Network forwards are queued for the worker, which the daemon runs
	// in the background (Run); here the test runs them right away.
	for _, o := range res.Outcomes {
		if o.Status == Queued {
			if _, err := v.e.RetryDue(ctx); err != nil {
				v.t.Fatal(err)
			}
			if res, err = v.e.Record(ctx, in.ID); err != nil {
				v.t.Fatal(err)
			}
			break
		}
	}
	return res
}

func answer(text string) []Action { return []Action{{Type: AutoAnswer, Text: text}} }

// The forward drivers are the daemon's Mailer and Poster.
var (
	_ Mailer = (*forward.SMTP)(nil)
	_ Poster = (*forward.HTTP)(nil)
)
