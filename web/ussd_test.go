package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

// modemUSSD is the daemon's USSDRunner shape: configured name -> modem.
type modemUSSD map[string]*modem.Modem

func (m modemUSSD) USSD(ctx context.Context, name, code string) (string, error) {
	md, ok := m[name]
	if !ok {
		return "", fmt.Errorf("no modem named %q", name)
	}
	return md.USSD(ctx, code)
}

// TestUSSDConsole sends a USSD code through the real driver to a simulated
// modem on a pty and shows the network's answer.
func TestUSSDConsole(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	net := modemsim.NewNetwork(modemsim.WithUSSD("*100#", "Ihr Guthaben: 5,00 EUR"))
	sim, err := net.AddModem(ctx, modemsim.Config{Model: "EC25"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		net.Close()
	}()
	cfg := modem.Config{Name: "gsm1", Device: sim.Path(), CommandTimeout: 5 * time.Second, InitTimeout: 10 * time.Second,
		SendTimeout: 10 * time.Second, PollInterval: time.Hour, DrainInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	md, err := modem.Open(ctx, cfg, modem.Handlers{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- md.Run(runCtx) }()
	defer func() {
		stop()
		<-done
		md.Close()
	}()

	env := newEnv(t, func(d *app.Deps) {
		d.USSD = modemUSSD{"gsm1": md}
		d.Status = staticStatus{app.Status{Modems: []app.ModemStatus{{ID: "gsm1", Health: app.HealthOK, State: "ready"}}}}
	})
	admin := env.client()
	admin.setup("admin password")
	tok := admin.csrf("/modems")
	mustContain(t, admin.body, `id="ussd-form"`, `<option value="gsm1"`)

	r := admin.post("/modems/ussd", url.Values{"csrf_token": {tok}, "modem": {"gsm1"}, "code": {"100"}})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("bad code: %d", r.code)
	}
	mustContain(t, r.body, "starts with * or # and ends with #")
	r = admin.post("/modems/ussd", url.Values{"csrf_token": {tok}, "modem": {"gsm1"}, "code": {"*100#"}})
	if r.code != http.StatusOK {
		t.Fatalf("ussd: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, "Ihr Guthaben: 5,00 EUR", "Answer via gsm1")

	// Operators neither see nor use the console.
	if err := env.users.Add(context.Background(), "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	op.login("olga", "operator password")
	optok := op.csrf("/modems")
	if strings.Contains(op.body, `id="ussd-form"`) {
		t.Fatal("operator sees the USSD console")
	}
	if r := op.post("/modems/ussd", url.Values{"csrf_token": {optok}, "modem": {"gsm1"}, "code": {"*100#"}}); r.code != http.StatusForbidden {
		t.Fatalf("operator ussd: %d", r.code)
	}
}
