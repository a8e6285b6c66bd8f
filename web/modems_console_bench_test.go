package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/app"
)

// staticTrace serves a fixed AT trace (the render is measured, not a modem).
type staticTrace []ATLine

func (s staticTrace) ModemTrace(context.Context, string) ([]ATLine, error) {
	return append([]ATLine(nil), s...), nil
}
func (staticTrace) CheckAT(string) (ATCheck, error) { return ATCheck{}, nil }
func (staticTrace) RunAT(context.Context, string, string, time.Duration, bool) (ATResult, error) {
	return ATResult{}, nil
}

// BenchmarkATTraceLive renders the AT trace fragment that an open AT
// trace page fetches every 3 seconds, with a full trace (200 lines, the
// driver's default ring), through the portal's handler chain (session,
// admin role, template).
func BenchmarkATTraceLive(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	us := users.New(st, users.WithParams(fastHash))
	if err := us.Add(context.Background(), "admin", "admin password", users.RoleAdmin); err != nil {
		b.Fatal(err)
	}
	var tr staticTrace
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range 100 {
		tr = append(tr, ATLine{At: t0.Add(time.Duration(i) * time.Second), Out: true, Text: `AT+CPMS="SM","ME","ME"`},
			ATLine{At: t0.Add(time.Duration(i)*time.Second + 2*time.Millisecond), Text: "+CPMS: 0,20,0,20,0,20"})
	}
	s, err := newServer(Deps{Store: st, Users: us, Logger: slog.New(slog.DiscardHandler), Location: time.UTC, DefaultCountry: "DE",
		Now: time.Now, ModemConsole: tr})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SaveSettings(Settings{SetupDone: true, Language: "de"}); err != nil {
		b.Fatal(err)
	}
	id, _, err := s.Sessions.Create("admin")
	if err != nil {
		b.Fatal(err)
	}
	h, ck := s.handler(), &http.Cookie{Name: app.SessionCookie, Value: id}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/modems/at/trace?modem=gsm1", nil)
		req.AddCookie(ck)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d", w.Code)
		}
	}
}
