package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWebhookBodyBudget: the WhatsApp webhook takes bodies up to its own
// budget (WhatsAppSetup.WebhookMaxBytes, 3 MiB here); other routes keep
// DefaultBodyLimit.
func TestWebhookBodyBudget(t *testing.T) {
	t.Parallel()
	e := newBodyEnv(t)
	e.s.D.WhatsApp = &WhatsAppSetup{WebhookPath: "/webhooks/test", WebhookMaxBytes: 3 << 20}
	h := e.s.handler()
	post := func(path string, size int64) int {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("x"))
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	// A declared length over the budget is refused before the handler;
	// under it the handler reads the (short) body.
	if code := post("/webhooks/test", 2<<20); code == http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB to the webhook: %d, want it through", code)
	}
	if code := post("/webhooks/test", 3<<20+1); code != http.StatusRequestEntityTooLarge {
		t.Errorf("3 MiB + 1 to the webhook: %d, want 413", code)
	}
	if code := post("/ctl/x", 2<<20); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB elsewhere: %d, want 413", code)
	}
}
