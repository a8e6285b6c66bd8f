package web

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// TestAssetBudget: the issue caps shipped CSS+JS at 150 KB.
func TestAssetBudget(t *testing.T) {
	t.Parallel()
	total := 0
	err := fs.WalkDir(app.AssetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".css") || strings.HasSuffix(p, ".js") {
			b, err := app.AssetFS.ReadFile(p)
			total += len(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || total > 150<<10 {
		t.Fatalf("CSS+JS = %d bytes, budget 150 KB", total)
	}
	t.Logf("CSS+JS shipped: %d bytes", total)
}

type staticStatus struct{ st app.Status }

func (s staticStatus) Status(context.Context) app.Status { return s.st }

// idleChannel accepts nothing: the benchmark's campaigns are drafts.
type idleChannel struct{}

func (idleChannel) Name() string { return "gsm" }

func (idleChannel) Kind() message.Kind { return message.SMS }

func (idleChannel) MaxPerMinute() int { return 0 }

func (idleChannel) Send(context.Context, message.Outbound) error { return nil }

// benchServer is a portal over a real engine holding n draft campaigns,
// with a logged-in admin session cookie.
func benchServer(b *testing.B, n int) (http.Handler, *http.Cookie) {
	b.Helper()
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	us := users.New(st, users.WithParams(fastHash))
	if err := us.Add(context.Background(), "admin", "admin password", users.RoleAdmin); err != nil {
		b.Fatal(err)
	}
	chans := map[string]campaign.Channel{"gsm": idleChannel{}}
	eng, err := campaign.New(campaign.Config{Store: st, Channels: chans, Logger: slog.New(slog.DiscardHandler), Location: time.UTC, Region: "DE"})
	if err != nil {
		b.Fatal(err)
	}
	rs := []recipients.Recipient{{Number: "+4915123456789"}, {Number: "+4917112345678"}}
	for i := range n {
		_, err := eng.Create(context.Background(), campaign.Spec{Name: fmt.Sprintf("Campaign %04d", i), Channel: "gsm",
			Content: campaign.Content{Text: "Hello"}, Mode: campaign.Direct, When: campaign.When{Kind: "draft"}}, rs)
		if err != nil {
			b.Fatal(err)
		}
	}
	status := app.Status{QueueDepth: 12}
	for i := range 4 {
		status.Modems = append(status.Modems, app.ModemStatus{ID: fmt.Sprintf("modem%d", i), Model: "EC25", Health: app.HealthOK, State: "ready",
			SignalBars: 4, Operator: "Telekom.de", Registration: "home", SIM: "…1234", SentToday: 100 * i, DailyCap: 1000})
	}
	for h := range 24 {
		status.History = append(status.History, app.TrafficBucket{Start: time.Unix(int64(h)*3600, 0), Sent: 10 * h, Delivered: 9 * h, Failed: h % 3})
	}
	s, err := newServer(app.Deps{Store: st, Users: us, Logger: slog.New(slog.DiscardHandler), Location: time.UTC, DefaultCountry: "DE",
		Now: time.Now, Campaigns: app.EngineCampaigns(eng, chans), Status: staticStatus{status}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SaveSettings(app.Settings{SetupDone: true, Language: "de"}); err != nil {
		b.Fatal(err)
	}
	id, _, err := s.Sessions.Create("admin")
	if err != nil {
		b.Fatal(err)
	}
	return s.handler(), &http.Cookie{Name: app.SessionCookie, Value: id}
}

func benchPage(b *testing.B, path string) {
	h, ck := benchServer(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(ck)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d", path, w.Code)
		}
	}
}

// BenchmarkCampaignList renders the first page of the campaign list with
// 1,000 campaigns stored.
func BenchmarkCampaignList(b *testing.B) { benchPage(b, "/campaigns") }

// BenchmarkCampaignListSearch filters 1,000 campaigns by name.
func BenchmarkCampaignListSearch(b *testing.B) { benchPage(b, "/campaigns?q=0999") }

// BenchmarkDashboard renders the dashboard with 1,000 campaigns stored.
func BenchmarkDashboard(b *testing.B) { benchPage(b, "/") }

// BenchmarkDashboardLive is the fragment polled every few seconds.
func BenchmarkDashboardLive(b *testing.B) { benchPage(b, "/dashboard/live") }
