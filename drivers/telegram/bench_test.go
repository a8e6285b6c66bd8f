package telegram_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/telegram"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// BenchmarkWebhookUpdateToInbox measures one webhook call end to end in
// the process: secret check, JSON decode, the subscriber record and the
// inbox's synced write in Badger on disk (t.TempDir()), 200 answer.
func BenchmarkWebhookUpdateToInbox(b *testing.B) {
	st := testkit.Store(b)
	box, err := inbox.New(inbox.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ch, err := telegram.New(telegram.Options{Token: "1:bench", Store: st, Inbox: box, PublicURL: "https://gw.invalid", // netscope: never dialled, Run is not called
		WebhookSecret: "bench_secret"})
	if err != nil {
		b.Fatal(err)
	}
	h := ch.Webhook()
	_ = context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1765000000,"chat":{"id":%d,"type":"private","first_name":"Erika"},"text":"Hallo, wann öffnen Sie?"}}`, i+1, i+1, 1000+i%500)
		req := httptest.NewRequest(http.MethodPost, telegram.WebhookPath, strings.NewReader(body))
		req.Header.Set(telegram.SecretHeader, "bench_secret")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("update %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}
