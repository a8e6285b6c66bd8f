package chatchannel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/metamsg"
	"github.com/pbxgate/pbxgate/drivers/telegram"
	"github.com/pbxgate/pbxgate/drivers/viber"
	"github.com/pbxgate/pbxgate/drivers/vk"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

type statusRec struct {
	mu  sync.Mutex
	evs []message.StatusEvent
}

func (s *statusRec) HandleStatus(_ context.Context, ev message.StatusEvent) error {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
	return nil
}

func (s *statusRec) of(id string) []message.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []message.Status
	for _, ev := range s.evs {
		if ev.ID == id {
			out = append(out, ev.Status)
		}
	}
	return out
}

// compatCase is one driver with the records its code before chatchannel
// wrote, byte for byte (the drivers' outRecord/tokRecord/midRecord and
// Subscriber types with their JSON tags, as of commit 94473da).
type compatCase struct {
	name   string
	prefix string
	to     string // a recipient in the driver's address form
	sent   string // a sent record as the old code wrote it
	subID  string
	sub    string // a subscriber record as the old code wrote it
	answer func(w http.ResponseWriter, r *http.Request)
	// after a fresh send of message "new" with Ref "r1": the records the
	// old code would have written.
	want map[string]string
	// resend: the driver sends a "sending" message again (VK's random_id).
	resend bool
	build  func(t *testing.T, base string, st *store.Store, sink *statusRec) (
		send func(context.Context, message.Outbound) error, subs func() ([]string, error))
}

func compatCases() []compatCase {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return []compatCase{{
		name: "telegram", prefix: "telegram/telegram/", to: "tg42",
		sent:  `{"state":"sent","message_id":3}`,
		subID: "42", sub: `{"chat_id":42,"name":"Ada","first":"` + now + `","changed":"` + now + `"}`,
		answer: func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.URL.Path, "/sendMessage") {
				http.NotFound(w, r)
				return
			}
			_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":5,"date":1,"chat":{"id":42,"type":"private"}}}`)
		},
		want: map[string]string{"out/new": `{"state":"sent","message_id":5}`},
		build: func(t *testing.T, base string, st *store.Store, sink *statusRec) (func(context.Context, message.Outbound) error, func() ([]string, error)) {
			ch, err := telegram.New(telegram.Options{BaseURL: base, Token: "123:abc", Store: st, Statuses: sink, PerChat: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return ch.Send, listed(ch.Subscribers, func(s telegram.Subscriber) string { return fmt.Sprint(s.ChatID, s.Name) })
		},
	}, {
		name: "viber", prefix: "viber/viber/", to: "vbAbC=",
		sent:  `{"state":"sent","token":7}`,
		subID: "AbC=", sub: `{"user_id":"AbC=","name":"Ada","first":"` + now + `","changed":"` + now + `","subscribed":true}`,
		answer: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/pa/send_message" {
				http.NotFound(w, r)
				return
			}
			_, _ = io.WriteString(w, `{"status":0,"status_message":"ok","message_token":99}`)
		},
		want: map[string]string{"out/new": `{"state":"sent","token":99}`, "tok/99": `{"id":"new","ref":"r1"}`},
		build: func(t *testing.T, base string, st *store.Store, sink *statusRec) (func(context.Context, message.Outbound) error, func() ([]string, error)) {
			ch, err := viber.New(viber.Options{BaseURL: base, Token: "tok", Store: st, Statuses: sink, SenderName: "pbxgate"})
			if err != nil {
				t.Fatal(err)
			}
			return ch.Send, listed(ch.Subscribers, func(s viber.Subscriber) string { return fmt.Sprint(s.UserID, s.Name) })
		},
	}, {
		name: "vk", prefix: "vk/vk/", to: "vk42", resend: true,
		sent:  `{"state":"sent","message_id":3}`,
		subID: "42", sub: `{"user_id":42,"first":"` + now + `","changed":"` + now + `","allowed":true}`,
		answer: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/method/messages.send" {
				http.NotFound(w, r)
				return
			}
			_, _ = io.WriteString(w, `{"response":77}`)
		},
		want: map[string]string{"out/new": `{"state":"sent","message_id":77}`},
		build: func(t *testing.T, base string, st *store.Store, sink *statusRec) (func(context.Context, message.Outbound) error, func() ([]string, error)) {
			ch, err := vk.New(vk.Options{BaseURL: base, Token: "tok", GroupID: 1, Store: st, Statuses: sink})
			if err != nil {
				t.Fatal(err)
			}
			return ch.Send, listed(ch.Subscribers, func(s vk.Subscriber) string { return fmt.Sprint(s.UserID, s.Allowed) })
		},
	}, {
		name: "messenger", prefix: "metamsg/messenger/", to: "fb123",
		sent:  `{"state":"sent","mid":"m_old"}`,
		subID: "123", sub: `{"id":"123","first":"` + now + `","last_in":"` + now + `"}`,
		answer: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v21.0/555/messages" {
				http.NotFound(w, r)
				return
			}
			_, _ = io.WriteString(w, `{"recipient_id":"123","message_id":"m_1"}`)
		},
		want: map[string]string{"out/new": `{"state":"sent","mid":"m_1"}`, "mid/m_1": `{"id":"new","ref":"r1","to":"fb123"}`},
		build: func(t *testing.T, base string, st *store.Store, sink *statusRec) (func(context.Context, message.Outbound) error, func() ([]string, error)) {
			ch, err := metamsg.New(metamsg.Options{Platform: metamsg.Messenger, BaseURL: base, AccountID: "555", Token: "tok",
				AppSecret: "secret", Store: st, Statuses: sink})
			if err != nil {
				t.Fatal(err)
			}
			return ch.Send, listed(ch.Subscribers, func(s metamsg.Subscriber) string { return fmt.Sprint(s.ID, s.Blocked) })
		},
	}}
}

// listed turns a driver's Subscribers into strings that start with the id.
func listed[S any](list func(context.Context) ([]S, error), str func(S) string) func() ([]string, error) {
	return func() ([]string, error) {
		ss, err := list(context.Background())
		var ids []string
		for _, s := range ss {
			ids = append(ids, str(s))
		}
		return ids, err
	}
}

func setRaw(t *testing.T, st *store.Store, kv map[string]string) {
	t.Helper()
	err := st.Update(func(txn *store.Txn) error {
		for k, v := range kv {
			if err := txn.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func getRaw(t *testing.T, st *store.Store, key string) string {
	t.Helper()
	var v []byte
	err := st.View(func(txn *store.Txn) error {
		it, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return string(v)
}

// An update keeps a box's outboxes and subscribers: records the drivers
// wrote before they shared chatchannel are read as they were (a sent
// message is not sent again, a refused one stays refused, one cut short
// is reported unknown and not resent, or resent where the platform drops
// repeats), and a new send writes the same keys and bytes as before.
func TestOldRecordsReadAndWrittenAlike(t *testing.T) {
	for _, c := range compatCases() {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var calls int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				c.answer(w, r)
			}))
			defer srv.Close()
			requests := func() int {
				mu.Lock()
				defer mu.Unlock()
				return calls
			}
			st := testkit.Store(t)
			setRaw(t, st, map[string]string{
				c.prefix + "out/old-sent":    c.sent,
				c.prefix + "out/old-failed":  `{"state":"failed","reason":"refused for good earlier"}`,
				c.prefix + "out/old-sending": `{"state":"sending"}`,
				c.prefix + "sub/" + c.subID:  c.sub,
			})
			sink := &statusRec{}
			send, subs := c.build(t, srv.URL, st, sink)
			ctx := context.Background()
			out := func(id string) message.Outbound {
				return message.Outbound{ID: id, Ref: "r1", To: c.to, Text: "Hallo"}
			}

			if err := send(ctx, out("old-sent")); err != nil {
				t.Fatalf("a message sent before the update: %v", err)
			}
			err := send(ctx, out("old-failed"))
			if !errors.Is(err, campaign.ErrRejected) || !strings.Contains(err.Error(), "refused for good earlier") {
				t.Fatalf("a message refused before the update: %v", err)
			}
			if n := requests(); n != 0 {
				t.Fatalf("%d requests for messages already sent or refused", n)
			}
			if err := send(ctx, out("old-sending")); err != nil {
				t.Fatalf("a message cut short before the update: %v", err)
			}
			if c.resend {
				if n := requests(); n != 1 {
					t.Fatalf("%d requests; the cut-short message is sent again once", n)
				}
				if got := getRaw(t, st, c.prefix+"out/old-sending"); got != strings.ReplaceAll(c.want["out/new"], "new", "old-sending") {
					t.Fatalf("resent record %s", got)
				}
			} else {
				if n := requests(); n != 0 {
					t.Fatalf("%d requests; a cut-short message is never resent", n)
				}
				if got := sink.of("old-sending"); len(got) != 1 || got[0] != message.Unknown {
					t.Fatalf("statuses of the cut-short message %v, want [unknown]", got)
				}
			}

			before := requests()
			if err := send(ctx, out("new")); err != nil {
				t.Fatalf("a new message: %v", err)
			}
			if n := requests() - before; n != 1 {
				t.Fatalf("%d requests for one new message", n)
			}
			for k, want := range c.want {
				if got := getRaw(t, st, c.prefix+k); got != want {
					t.Fatalf("%s: %s, the old code wrote %s", k, got, want)
				}
			}
			if got := sink.of("new"); len(got) != 1 || got[0] != message.Sent {
				t.Fatalf("statuses of the new message %v, want [sent]", got)
			}

			ids, err := subs()
			if err != nil || len(ids) != 1 || !strings.HasPrefix(ids[0], c.subID) {
				t.Fatalf("subscribers %v, %v; want the one stored before the update (%s)", ids, err, c.subID)
			}
		})
	}
}
