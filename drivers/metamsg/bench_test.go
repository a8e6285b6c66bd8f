package metamsg_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/metamsg"
)

// BenchmarkWebhookMessage measures one signed Messenger notification with
// one text message through the webhook handler: signature check, parse,
// the subscriber's record and the inbox's write (Badger in b.TempDir()),
// without a network hop (httptest.ResponseRecorder). The consumer drains
// the inbox concurrently.
func BenchmarkWebhookMessage(b *testing.B) {
	r := newRig(b, metamsg.Messenger)
	ch := r.channel(b, metamsg.Options{Platform: metamsg.Messenger, AccountID: pageID, AppSecret: secret})
	h := ch.Webhook()
	go func() {
		for range r.got {
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		body := wrap("page", pageID, `{"sender":{"id":"`+psid+`"},"recipient":{"id":"`+pageID+
			`"},"timestamp":1458692752478,"message":{"mid":"m_`+strconv.Itoa(i)+`","text":"hello, world!"}}`)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/messenger", bytes.NewReader(body))
		req.Header.Set(metamsg.SignatureHeader, metamsg.Sign(secret, body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("webhook answered %d", w.Code)
		}
	}
}
