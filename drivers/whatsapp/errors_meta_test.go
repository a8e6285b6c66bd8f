package whatsapp_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// failFirst answers the first n message sends with status and body, then
// passes requests to the emulator.
func failFirst(n int32, status int, contentType, body string) func(http.Handler) http.Handler {
	var seen atomic.Int32
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages") && seen.Add(1) <= n {
				w.Header().Set("Content-Type", contentType)
				w.WriteHeader(status)
				w.Write([]byte(body))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TestPlain429Retried: an HTTP 429 without Meta's JSON body (a proxy's
// page) is retried with back-off like a 5xx, and fails as retryable once
// the attempts are used up.
func TestPlain429Retried(t *testing.T) {
	t.Parallel()
	const page = "<html><body>429 Too Many Requests</body></html>"
	e := newEnv(t, envConfig{virtual: true, wrap: failFirst(2, http.StatusTooManyRequests, "text/html", page)})
	wamid, err := e.ch.SendMessage(context.Background(), "m1", "4917100000001", promo("Anna"))
	if err != nil || wamid == "" {
		t.Fatalf("send after two plain 429: %v", err)
	}
	if n := len(e.clock.Sleeps()); n < 2 {
		t.Errorf("%d back-off sleeps, want 2", n)
	}
	if st := e.emu.Stats(); st.Accepted != 1 {
		t.Errorf("emulator accepted %d", st.Accepted)
	}

	e2 := newEnv(t, envConfig{virtual: true, wrap: failFirst(1000, http.StatusTooManyRequests, "text/plain", "Too Many Requests")})
	_, err = e2.ch.SendMessage(context.Background(), "m1", "4917100000001", promo("Anna"))
	if !errors.Is(err, whatsapp.ErrRetryable) || !strings.Contains(err.Error(), "HTTP 429") {
		t.Fatalf("always 429: %v, want retryable naming HTTP 429", err)
	}
	if n := len(e2.clock.Sleeps()); n < 2 {
		t.Errorf("%d back-off sleeps before giving up", n)
	}
	if h := e2.ch.Health(); h.State == "stopped" {
		t.Errorf("429 stopped the channel: %+v", h)
	}
}

// TestRetryAfterHonoured: a 429 with Retry-After (RFC 9110 §10.2.3,
// delay in seconds) waits at least that long before the retry.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages") && seen.Add(1) == 1 {
				w.Header().Set("Retry-After", "42")
				http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, envConfig{virtual: true, wrap: wrap})
	if _, err := e.ch.SendMessage(context.Background(), "m1", "4917100000001", promo("Anna")); err != nil {
		t.Fatal(err)
	}
	var waited time.Duration
	for _, d := range e.clock.Sleeps() {
		waited = max(waited, d)
	}
	if waited < 42*time.Second {
		t.Errorf("longest back-off %v, want at least the 42 s of Retry-After", waited)
	}
}

// TestFailureKeepsSubcodeAndTrace: Meta's error_subcode and fbtrace_id
// (GraphAPIError in Meta's OpenAPI description, its example values) are
// stored with the failed message and in its reason.
func TestFailureKeepsSubcodeAndTrace(t *testing.T) {
	t.Parallel()
	const body = `{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":33,` +
		`"fbtrace_id":"AXsgnV2Cm3ZMGF3dF_cfYIn","is_transient":false,"error_data":{"details":"Parameter value is not valid"}}}`
	e := newEnv(t, envConfig{virtual: true, wrap: failFirst(1, http.StatusBadRequest, "application/json", body)})
	_, err := e.ch.SendMessage(context.Background(), "m1", "4917100000001", promo("Anna"))
	var apiErr *whatsapp.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 100 || apiErr.Subcode != 33 || apiErr.FBTraceID != "AXsgnV2Cm3ZMGF3dF_cfYIn" {
		t.Fatalf("err %v", err)
	}
	rec, err := e.ch.Record("m1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != message.Failed || !strings.Contains(rec.Reason, "fbtrace_id AXsgnV2Cm3ZMGF3dF_cfYIn") || !strings.Contains(rec.Reason, "error_subcode 33") {
		t.Errorf("stored record %+v lacks subcode or fbtrace_id", rec)
	}
	if r := apiErr.ReasonCode(); !strings.Contains(strings.Join(r.Args, " "), "AXsgnV2Cm3ZMGF3dF_cfYIn") {
		t.Errorf("translated reason %+v lacks the fbtrace_id", r)
	}
}
