package vk_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/vk"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// BenchmarkCallbackMessageToInbox measures one Callback API message_new
// end to end in the process: JSON decode, community and secret check, the
// subscriber record (written only when new or changed) and the inbox's
// synced write in Badger on disk (t.TempDir()), "ok" answer. The long
// poll stores each event the same way.
func BenchmarkCallbackMessageToInbox(b *testing.B) {
	st := testkit.Store(b)
	box, err := inbox.New(inbox.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ch, err := vk.New(vk.Options{Token: "bench", GroupID: 1, Store: st, Inbox: box, Receive: vk.Callback,
		Confirmation: "x", Secret: "s3cr3t"})
	if err != nil {
		b.Fatal(err)
	}
	h := ch.Webhook()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		user := 1000 + i%500
		body := fmt.Sprintf(`{"type":"message_new","object":{"message":{"date":1765000000,"from_id":%d,"id":%d,"out":0,"peer_id":%d,"text":"Hallo, wann öffnen Sie?","conversation_message_id":%d,"attachments":[]},"client_info":{"keyboard":true}},"group_id":1,"event_id":"e%d","v":"5.199","secret":"s3cr3t"}`, user, i+1, user, i+1, i)
		req := httptest.NewRequest(http.MethodPost, vk.CallbackPath, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
			b.Fatalf("event %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}
