package whatsapp

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPacerSpacesEvents(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	p := newIntervalPacer(100*time.Millisecond, 1)
	var waits []time.Duration
	for range 4 {
		waits = append(waits, p.reserve(t0))
	}
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	// Idle long enough: no credit is saved up beyond the burst.
	if w := p.reserve(t0.Add(10 * time.Second)); w != 0 {
		t.Errorf("after idle: wait %v", w)
	}
	if w := p.reserve(t0.Add(10 * time.Second)); w != 100*time.Millisecond {
		t.Errorf("second after idle: wait %v, want 100ms (no saved-up burst)", w)
	}
	// A cancelled reservation gives its slot back.
	p.cancel()
	if w := p.reserve(t0.Add(10 * time.Second)); w != 100*time.Millisecond {
		t.Errorf("after cancel: wait %v", w)
	}
}

func TestPairBurst(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	p := newIntervalPacer(6*time.Second, 2)
	var waits []time.Duration
	for range 4 {
		waits = append(waits, p.reserve(t0))
	}
	if waits[0] != 0 || waits[1] != 0 || waits[2] != 6*time.Second || waits[3] != 12*time.Second {
		t.Errorf("waits %v, want 0 0 6s 12s", waits)
	}
}

func TestClassifyCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code, http int
		transient  bool
		want       Class
	}{
		{130429, 400, false, Retry}, {131056, 400, false, Retry}, {80007, 400, false, Retry},
		{4, 400, false, Retry}, {131057, 400, false, Retry}, {1, 500, false, Retry}, {2, 503, false, Retry},
		{131000, 500, false, Retry}, {131016, 503, false, Retry}, {133004, 503, false, Retry},
		{131047, 400, false, Permanent}, {131026, 400, false, Permanent}, {131049, 400, false, Permanent},
		{131050, 400, false, Permanent}, {100, 400, false, Permanent}, {131008, 400, false, Permanent},
		{131009, 400, false, Permanent}, {132000, 400, false, Permanent}, {132001, 404, false, Permanent},
		{132005, 400, false, Permanent}, {132007, 400, false, Permanent}, {132012, 400, false, Permanent},
		{132015, 400, false, Permanent}, {132016, 400, false, Permanent}, {368, 400, false, Permanent},
		{131031, 400, false, Permanent},
		{190, 401, false, Stop}, {131048, 400, false, Stop},
		// Unknown codes: the HTTP status and is_transient decide.
		{99999, 502, false, Retry}, {99999, 400, true, Retry}, {99999, 400, false, Permanent},
		// A plain 429 (no Graph body: code -1) is retried like 5xx.
		{-1, 429, false, Retry}, {-1, 404, false, Permanent},
		// A known permanent code stays permanent even if marked transient.
		{131047, 500, true, Permanent},
	}
	for _, c := range cases {
		if got := ClassifyCode(c.code, c.http, c.transient); got != c.want {
			t.Errorf("code %d http %d transient %v: %s, want %s", c.code, c.http, c.transient, got, c.want)
		}
	}
	e := &APIError{Code: 131047, Message: "Re-engagement message"}
	if !errors.Is(e, ErrOutsideWindow) || !errors.Is(e, ErrPermanent) || errors.Is(e, ErrRetryable) {
		t.Error("131047 does not match its sentinels")
	}
	if !strings.Contains(e.Error(), "131047") || !strings.Contains(e.Error(), "template") {
		t.Errorf("message %q lacks code or hint", e.Error())
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for i, want := range []time.Duration{time.Second, 4 * time.Second, 16 * time.Second, 64 * time.Second, 64 * time.Second} {
		if got := backoff(131056, i+1); got != want {
			t.Errorf("pair-rate attempt %d: %v, want %v", i+1, got, want)
		}
	}
	for attempt := 1; attempt <= 10; attempt++ {
		base := min(time.Second<<min(attempt-1, 6), time.Minute)
		for range 20 {
			d := backoff(130429, attempt)
			if d < base*3/4 || d > base*5/4 {
				t.Fatalf("attempt %d: %v outside %v ±25%%", attempt, d, base)
			}
		}
	}
}

func TestMessageValidation(t *testing.T) {
	t.Parallel()
	bad := []Message{
		{Type: TypeText},
		{Type: TypeText, Text: strings.Repeat("ä", MaxTextLen+1)},
		{Type: TypeImage},
		{Type: TypeImage, Media: &Media{ID: "1", Link: "https://x"}}, // netscope: validated only
		{Type: TypeImage, Media: &Media{ID: "1", Filename: "a.jpg"}},
		{Type: TypeAudio, Media: &Media{ID: "1", Caption: "no"}},
		{Type: TypeLocation},
		{Type: TypeLocation, Location: &Location{Latitude: 91}},
		{Type: TypeTemplate, Template: &Template{Name: "x"}},
		{Type: "sticker"},
	}
	for _, m := range bad {
		if _, err := m.request("491701234567", "id"); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%+v: err %v, want ErrInvalidMessage", m, err)
		}
	}
	if _, err := Text("hi").request("491701234567", strings.Repeat("x", MaxCallbackData+1)); err == nil {
		t.Error("over-long id accepted as biz_opaque_callback_data")
	}
	if got := normalizeTo("+49 (171) 123-45.67"); got != "491711234567" {
		t.Errorf("normalizeTo: %q", got)
	}
	if got := normalizeTo("DE.4711"); got != "DE.4711" {
		t.Errorf("user id changed: %q", got)
	}
}

func TestTemplateVarsAndSignature(t *testing.T) {
	t.Parallel()
	if n := countVars("Hi {{1}}, code {{2}}, again {{1}}, {{ name }}"); n != 3 {
		t.Errorf("countVars = %d", n)
	}
	body := []byte(`{"object":"whatsapp_business_account"}`)
	sig := Sign("s3cret", body)
	if !validSignature("s3cret", sig, body) || validSignature("other", sig, body) || validSignature("", Sign("", body), body) {
		t.Error("signature check wrong")
	}
	if !sumMatches("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=", mustB64("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=")) {
		t.Error("base64 SHA-256 not accepted")
	}
}

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
