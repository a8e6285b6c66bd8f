package viber_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/viber"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// BenchmarkWebhookMessageToInbox measures one Viber message callback end
// to end in the process: HMAC-SHA256 signature check, JSON decode, the
// subscriber record (written only when new or changed) and the inbox's
// synced write in Badger on disk (t.TempDir()), 200 answer.
func BenchmarkWebhookMessageToInbox(b *testing.B) {
	st := testkit.Store(b)
	box, err := inbox.New(inbox.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	const token = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
	ch, err := viber.New(viber.Options{Token: token, Store: st, Inbox: box, PublicURL: "https://gw.invalid"}) // netscope: never dialled, Run is not called
	if err != nil {
		b.Fatal(err)
	}
	h := ch.Webhook()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"event":"message","timestamp":1765000000000,"message_token":%d,"sender":{"id":"user%dAbc=","name":"Erika","country":"DE","language":"de","api_version":8},"message":{"type":"text","text":"Hallo, wann öffnen Sie?"}}`, 5000000000000000000+i, i%500)
		req := httptest.NewRequest(http.MethodPost, viber.WebhookPath, strings.NewReader(body))
		req.Header.Set(viber.SignatureHeader, viber.Sign(token, []byte(body)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("callback %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}
