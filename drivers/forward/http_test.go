package forward

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPostSignsBodyWithHMAC(t *testing.T) {
	t.Parallel()
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	h := NewHTTP(HTTPConfig{Timeout: 10 * time.Second})
	body := []byte(`{"MSG":"hallo"}`)
	if err := h.Post(context.Background(), srv.URL+"/hook", "k3y", body); err != nil {
		t.Fatal(err)
	}
	r, b := <-got, <-bodies
	if r.Method != http.MethodPost || r.URL.Path != "/hook" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	sig := r.Header.Get(SignatureHeader)
	if !Verify("k3y", b, sig) || Verify("other", b, sig) || Verify("k3y", []byte(`{"MSG":"hallO"}`), sig) {
		t.Errorf("signature %q does not verify only the body under the key", sig)
	}
	// Known value: HMAC-SHA256("k3y", body) computed independently (Python hmac).
	if want := "sha256=5a0b619eb31f4aef3f7927bb14f0c3366736ab45744830e5ade5d265a353ad42"; sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
}

func TestPostWithoutSecretHasNoSignature(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(SignatureHeader)
	}))
	defer srv.Close()
	if err := NewHTTP(HTTPConfig{}).Post(context.Background(), srv.URL, "", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "" {
		t.Errorf("unsigned request carries %q", s)
	}
}

func TestPostErrorsClassified(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status    int
		permanent bool
	}{{400, true}, {401, true}, {404, true}, {408, false}, {429, false}, {500, false}, {503, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", c.status)
		}))
		err := NewHTTP(HTTPConfig{}).Post(context.Background(), srv.URL, "", []byte(`{}`))
		srv.Close()
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != c.status || he.Permanent() != c.permanent || !strings.Contains(err.Error(), "nope") {
			t.Errorf("%d: got %v (permanent %v), want permanent=%v", c.status, err, he != nil && he.Permanent(), c.permanent)
		}
	}
}

func TestAskReadsJSONOrPlainText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ctype, body, want string
	}{
		{"application/json", `{"text":"  Hallo Anna! "}`, "Hallo Anna!"},
		{"application/json; charset=utf-8", `{"reply":"Ja"}`, "Ja"},
		{"application/json", `{"other":1}`, ""},
		{"text/plain; charset=utf-8", "Wir öffnen um 9 Uhr.\n", "Wir öffnen um 9 Uhr."},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", c.ctype)
			_, _ = io.WriteString(w, c.body)
		}))
		got, err := NewHTTP(HTTPConfig{}).Ask(context.Background(), srv.URL, "", []byte(`{}`))
		srv.Close()
		if err != nil || got != c.want {
			t.Errorf("%s %s: got %q, %v; want %q", c.ctype, c.body, got, err, c.want)
		}
	}
}

func TestAskRejectsBrokenJSONAndHugeAnswers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/huge" {
			_, _ = io.WriteString(w, strings.Repeat("x", maxBotAnswer+10))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"text":`)
	}))
	defer srv.Close()
	h := NewHTTP(HTTPConfig{})
	if _, err := h.Ask(context.Background(), srv.URL+"/broken", "", nil); err == nil || !strings.Contains(err.Error(), "JSON") {
		t.Errorf("broken JSON: %v", err)
	}
	if _, err := h.Ask(context.Background(), srv.URL+"/huge", "", nil); err == nil || !strings.Contains(err.Error(), "64 KiB") {
		t.Errorf("huge answer: %v", err)
	}
}
