package whatsapp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// FuzzWebhook feeds webhook bodies through what the webhook does with a
// POST from Meta: the signature check (X-Hub-Signature-256) and
// ParseNotification. Seeds are the webhook examples of Meta's OpenAPI
// description (testdata/webhooks, copied verbatim from
// business-messaging-api_v23.0.yaml, see testdata/README.md) and the
// status notifications written to its Statuses schema (testdata/statuses).
//
// Properties: a body signed with the app secret verifies and the same
// signature fails for a changed body or secret; a parsed notification is
// whatsapp_business_account, every inbound message is a WhatsApp message
// from one of the sender's identities, text messages carry their body, and
// parsing is stable: the notification re-encoded parses to the same
// result.
func FuzzWebhook(f *testing.F) {
	for _, dir := range []string{"testdata/webhooks", "testdata/statuses"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil || len(files) == 0 {
			f.Fatalf("no seeds in %s: %v", dir, err)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"object":"page","entry":[]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"","type":"text"}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		const secret = "app-secret"
		sig := Sign(secret, body)
		if !validSignature(secret, sig, body) {
			t.Fatalf("own signature %s rejected", sig)
		}
		if validSignature(secret+"x", sig, body) || validSignature("", sig, body) {
			t.Fatal("signature accepted with another or no secret")
		}
		changed := append([]byte{'x'}, body...)
		if validSignature(secret, sig, changed) {
			t.Fatal("signature accepted for a changed body")
		}
		if validSignature(secret, strings.TrimPrefix(sig, "sha256="), body) {
			t.Fatal("signature without sha256= accepted")
		}

		p, err := ParseNotification(body)
		if err != nil {
			return
		}
		var n Notification
		if err := json.Unmarshal(body, &n); err != nil {
			// Decoded part by part: fields pbxgate does not read (entry
			// id, messaging_product) may be of any type, and a bad part
			// is reported in Bad without losing the rest.
			return
		}
		if n.Object != "whatsapp_business_account" {
			t.Fatalf("object %q accepted", n.Object)
		}
		if len(p.Bad) > 0 {
			return // the strict properties below hold for clean bodies
		}
		changes := 0
		for _, e := range n.Entry {
			changes += len(e.Changes)
		}
		if p.Ignored > changes {
			t.Fatalf("%d changes ignored of %d", p.Ignored, changes)
		}
		for _, ev := range p.Inbound {
			in := ev.Message
			if in.Kind != message.WhatsApp {
				t.Fatalf("inbound kind %q", in.Kind)
			}
			if in.From != ev.UserID && in.From != ev.WaID {
				t.Fatalf("from %q is neither the user id %q nor the wa id %q", in.From, ev.UserID, ev.WaID)
			}
			if ev.UserID != "" && in.From != ev.UserID {
				t.Fatalf("from %q while the user id is %q", in.From, ev.UserID)
			}
			if !in.At.IsZero() && in.At.Location().String() != "UTC" {
				t.Fatalf("time %v not in UTC", in.At)
			}
			for _, s := range []string{in.Text, in.Name, in.From, in.ID} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 %q", s)
				}
			}
			// Only system notices are not shown; every other kind
			// arrives with something to show.
			if ev.Skip != (ev.Type == "system") {
				t.Fatalf("type %q skipped: %v", ev.Type, ev.Skip)
			}
			if !ev.Skip && in.Text == "" && in.MediaType == "" && ev.Type != "text" {
				t.Fatalf("type %q arrives empty: %+v", ev.Type, in)
			}
		}
		// Stable: the decoded notification, encoded again, parses the same.
		again, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := ParseNotification(again)
		if err != nil {
			t.Fatalf("re-encoded notification fails: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("re-encoded notification parses differently:\n%+v\n%+v", p, p2)
		}
		// A text message's body is its text.
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				if c.Field != "messages" {
					continue
				}
				var v MessagesValue
				if json.Unmarshal(c.Value, &v) != nil {
					t.Fatal("accepted change does not decode")
				}
				for _, m := range v.Messages {
					if m.Type != "text" || m.Text == nil {
						continue
					}
					found := false
					for _, ev := range p.Inbound {
						found = found || ev.Message.ID == m.ID && ev.Message.Text == m.Text.Body
					}
					if !found {
						t.Fatalf("text message %q with body %q not parsed", m.ID, m.Text.Body)
					}
				}
			}
		}
	})
}
