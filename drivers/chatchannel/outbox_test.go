package chatchannel_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

var (
	errUnknown = errors.New("no answer")
	errBlocked = errors.New("blocked")
	errDown    = errors.New("platform down, token tok-123 refused")
)

type journalRec struct {
	mu       sync.Mutex
	outbound []string
	failed   []message.StatusEvent
}

func (j *journalRec) Outbound(_ context.Context, _ message.Kind, o message.Outbound, _ string) error {
	j.mu.Lock()
	j.outbound = append(j.outbound, o.ID)
	j.mu.Unlock()
	return nil
}

func (j *journalRec) Status(_ context.Context, ev message.StatusEvent) error {
	j.mu.Lock()
	j.failed = append(j.failed, ev)
	j.mu.Unlock()
	return nil
}

func newOutbox(t *testing.T) (*chatchannel.Outbox, *journalRec, *statusRec) {
	t.Helper()
	j, s := &journalRec{}, &statusRec{}
	o := &chatchannel.Outbox{Store: testkit.Store(t), Prefix: "test/x/", Kind: message.Telegram, Name: "test",
		Service: "Test", Journal: j, Statuses: s, Health: chatchannel.NewHealth(func(s string) string { return chatchannel.Redact(s, "tok-123") }),
		Log: testkit.Logger(), Sender: func() string { return "bot" },
		Code: func(err error) string {
			if errors.Is(err, errBlocked) {
				return "403"
			}
			return ""
		}}
	return o, j, s
}

func record(t *testing.T, st *store.Store, key string) (chatchannel.Record, bool) {
	t.Helper()
	var r chatchannel.Record
	err := st.View(func(txn *store.Txn) error { return store.GetJSON(txn, key, &r) })
	if errors.Is(err, store.ErrNotFound) {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

// The outbox's four outcomes: sent (recorded, counted, reported once),
// refused for good (recorded failed with its code in the message log,
// the side effect run, refused again without a request), unknown (the
// "sending" record stays, never resent), and a passing failure (the
// record goes, so a retry sends; the health shows the error redacted).
func TestOutboxOutcomes(t *testing.T) {
	ctx := context.Background()
	o, j, s := newOutbox(t)
	var tries int
	var result error
	var refused []error
	attempt := chatchannel.Attempt{
		Transmit: func(context.Context) (chatchannel.Sent, error) {
			tries++
			if result != nil {
				return chatchannel.Sent{}, result
			}
			return chatchannel.Sent{ChannelID: "m1", Record: map[string]string{"state": chatchannel.StateSent, "mid": "m1"},
				Also: map[string]any{"test/x/mid/m1": "a"}}, nil
		},
		Unknown:  errUnknown,
		Refusals: []error{errBlocked},
		Refused:  func(_ context.Context, err error) { refused = append(refused, err) },
	}
	m := message.Outbound{ID: "a", Ref: "ref-a", To: "tg1", Text: "hi"}

	// Sent, then a repeat sends nothing.
	for range 2 {
		if err := o.Send(ctx, m, attempt); err != nil {
			t.Fatal(err)
		}
	}
	if tries != 1 {
		t.Fatalf("%d transmissions of one message", tries)
	}
	if r, ok := record(t, o.Store, o.Key("a")); !ok || r.State != chatchannel.StateSent {
		t.Fatalf("record %+v %v", r, ok)
	}
	var idx string
	if err := o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, "test/x/mid/m1", &idx) }); err != nil || idx != "a" {
		t.Fatalf("index not written with the record: %q %v", idx, err)
	}
	if got := s.of("a"); len(got) != 1 || got[0] != message.Sent {
		t.Fatalf("statuses %v", got)
	}
	if c := o.Health.Counts(); c.Sent != 1 {
		t.Fatalf("sent count %d", c.Sent)
	}

	// Refused for good.
	result = errBlocked
	m.ID = "b"
	err := o.Send(ctx, m, attempt)
	if !errors.Is(err, campaign.ErrRejected) || !errors.Is(err, errBlocked) {
		t.Fatalf("refusal %v", err)
	}
	if len(refused) != 1 {
		t.Fatalf("side effect ran %d times", len(refused))
	}
	if len(j.failed) != 1 || j.failed[0].Code != "403" || j.failed[0].ID != "b" {
		t.Fatalf("message log %+v", j.failed)
	}
	tries = 0
	if err := o.Send(ctx, m, attempt); !errors.Is(err, campaign.ErrRejected) || tries != 0 {
		t.Fatalf("repeat of a refused message: %v after %d tries", err, tries)
	}

	// Unknown outcome: reported, the record stays, never resent.
	result = errUnknown
	m.ID = "c"
	if err := o.Send(ctx, m, attempt); err != nil {
		t.Fatal(err)
	}
	if r, _ := record(t, o.Store, o.Key("c")); r.State != chatchannel.StateSending {
		t.Fatalf("record after an unknown outcome %+v", r)
	}
	tries = 0
	if err := o.Send(ctx, m, attempt); err != nil || tries != 0 {
		t.Fatalf("repeat of an unknown one: %v after %d tries", err, tries)
	}
	if got := s.of("c"); len(got) != 2 || got[0] != message.Unknown || got[1] != message.Unknown {
		t.Fatalf("statuses %v", got)
	}

	// Passing failure: no record, health holds the error without the token.
	result = errDown
	m.ID = "d"
	if err := o.Send(ctx, m, attempt); !errors.Is(err, errDown) || errors.Is(err, campaign.ErrRejected) {
		t.Fatalf("passing failure %v", err)
	}
	if _, ok := record(t, o.Store, o.Key("d")); ok {
		t.Fatal("the record of a message that did not go stays")
	}
	if c := o.Health.Counts(); strings.Contains(c.LastError, "tok-123") || !strings.Contains(c.LastError, "<token>") {
		t.Fatalf("last error %q", c.LastError)
	}
	result = nil
	if err := o.Send(ctx, m, attempt); err != nil {
		t.Fatalf("retry after the failure: %v", err)
	}
	if len(j.outbound) != 5 { // a, b, c, d, d again: journaled once per fresh attempt
		t.Fatalf("journaled %v", j.outbound)
	}
}

// With Resend, a message cut short is sent again instead of reported.
func TestOutboxResend(t *testing.T) {
	o, _, s := newOutbox(t)
	o.Resend = true
	if err := o.Store.Update(func(txn *store.Txn) error {
		return store.SetJSON(txn, o.Key("r"), chatchannel.Record{State: chatchannel.StateSending})
	}); err != nil {
		t.Fatal(err)
	}
	var tries int
	err := o.Send(context.Background(), message.Outbound{ID: "r"}, chatchannel.Attempt{
		Transmit: func(context.Context) (chatchannel.Sent, error) {
			tries++
			return chatchannel.Sent{Record: chatchannel.Record{State: chatchannel.StateSent}}, nil
		},
	})
	if err != nil || tries != 1 {
		t.Fatalf("%v after %d tries", err, tries)
	}
	if got := s.of("r"); len(got) != 1 || got[0] != message.Sent {
		t.Fatalf("statuses %v", got)
	}
}

// Refuse logs the message as failed without a record or a request.
func TestOutboxRefuse(t *testing.T) {
	o, j, _ := newOutbox(t)
	err := o.Refuse(context.Background(), message.Outbound{ID: "w"}, errBlocked)
	if !errors.Is(err, campaign.ErrRejected) {
		t.Fatalf("%v", err)
	}
	if len(j.outbound) != 1 || len(j.failed) != 1 {
		t.Fatalf("message log %v %v", j.outbound, j.failed)
	}
	if _, ok := record(t, o.Store, o.Key("w")); ok {
		t.Fatal("a refused message got an outbox record")
	}
}

type sub struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Subscribers: Edit writes only when change says so; List reads all and
// skips what it cannot read.
func TestSubscribersEditAndList(t *testing.T) {
	st := testkit.Store(t)
	subs := chatchannel.Subscribers[sub]{Store: st, Prefix: "test/x/"}
	edit := func(id, name string) {
		t.Helper()
		if err := subs.Edit(id, func(s *sub, found bool) bool {
			if found && s.Name == name {
				return false
			}
			s.ID, s.Name = id, name
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	edit("1", "Ada")
	edit("2", "Bob")
	if err := st.Update(func(txn *store.Txn) error { return txn.Set([]byte("test/x/sub/3"), []byte("{not json")) }); err != nil {
		t.Fatal(err)
	}
	var version uint64
	_ = st.View(func(txn *store.Txn) error {
		it, err := txn.Get([]byte(subs.Key("1")))
		if err == nil {
			version = it.Version()
		}
		return err
	})
	edit("1", "Ada") // unchanged: no write
	_ = st.View(func(txn *store.Txn) error {
		it, err := txn.Get([]byte(subs.Key("1")))
		if err == nil && it.Version() != version {
			t.Errorf("an unchanged subscriber was written again")
		}
		return err
	})
	list, err := subs.List(context.Background())
	if err != nil || len(list) != 2 || list[0].Name != "Ada" || list[1].Name != "Bob" {
		t.Fatalf("%+v %v", list, err)
	}
	if s, ok, err := subs.Get("2"); !ok || err != nil || s.Name != "Bob" {
		t.Fatalf("get: %+v %v %v", s, ok, err)
	}
	if _, ok, err := subs.Get("9"); ok || err != nil {
		t.Fatalf("get of an unknown one: %v %v", ok, err)
	}
}

type optOutRec struct{ got []string }

func (o *optOutRec) OptOut(_ context.Context, number, keyword, channel string) error {
	o.got = append(o.got, number+"|"+keyword+"|"+channel)
	return nil
}

func TestOptOutSlot(t *testing.T) {
	var slot chatchannel.OptOutSlot
	if err := slot.OptOut(context.Background(), "tg1", "x", "c"); err != nil {
		t.Fatalf("without a store: %v", err)
	}
	rec := &optOutRec{}
	slot.Use(rec)
	if err := slot.OptOut(context.Background(), "tg1", "telegram: blocked", "telegram"); err != nil || len(rec.got) != 1 ||
		rec.got[0] != "tg1|telegram: blocked|telegram" {
		t.Fatalf("%v %v", rec.got, err)
	}
}

// Exchange: an answer is read up to the limit; a connection that breaks
// is the platform's unknown outcome with the token taken out; a cancelled
// context is the context's error.
func TestExchange(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			_ = c.Close()
			return
		}
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("0123456789"))
	}))
	defer srv.Close()
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
	st, body, err := chatchannel.Exchange(ctx, nil, req, 4, "test get", errUnknown, "tok-123")
	if err != nil || st != http.StatusTeapot || string(body) != "0123" {
		t.Fatalf("%d %q %v", st, body, err)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/hang?k=tok-123", nil)
	_, _, err = chatchannel.Exchange(ctx, srv.Client(), req, 4, "test get", errUnknown, "tok-123")
	if !errors.Is(err, errUnknown) || strings.Contains(err.Error(), "tok-123") || !strings.HasPrefix(err.Error(), "test get: ") {
		t.Fatalf("broken connection: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	req, _ = http.NewRequestWithContext(cctx, http.MethodGet, srv.URL+"/x", nil)
	if _, _, err = chatchannel.Exchange(cctx, nil, req, 4, "test get", errUnknown, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// Retry retries until success and stops with the context.
func TestRetry(t *testing.T) {
	var n int
	var failures []error
	ok := chatchannel.Retry(context.Background(), time.Millisecond, func(context.Context) error {
		n++
		if n < 3 {
			return errDown
		}
		return nil
	}, func(err error) { failures = append(failures, err) })
	if !ok || n != 3 || len(failures) != 2 {
		t.Fatalf("ok %v after %d calls, %d failures", ok, n, len(failures))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if chatchannel.Retry(ctx, time.Hour, func(context.Context) error { return errDown }, func(error) { t.Error("failure reported after the context ended") }) {
		t.Fatal("Retry succeeded on a cancelled context")
	}
}

// CheckText refuses empty and overlong text for good; NumberID leaves out
// a missing id.
func TestCheckTextAndNumberID(t *testing.T) {
	errLong := errors.New("too long")
	if err := chatchannel.CheckText(" \n", 2, 10, errLong); !errors.Is(err, campaign.ErrRejected) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty: %v", err)
	}
	if err := chatchannel.CheckText("x", 11, 10, errLong); !errors.Is(err, campaign.ErrRejected) || !errors.Is(err, errLong) ||
		!strings.Contains(err.Error(), "(11)") {
		t.Fatalf("long: %v", err)
	}
	if err := chatchannel.CheckText("x", 10, 10, errLong); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if chatchannel.NumberID(0) != "" || chatchannel.NumberID(42) != "42" {
		t.Fatalf("%q %q", chatchannel.NumberID(0), chatchannel.NumberID(42))
	}
}
