package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/logbuf"
)

func TestLogsPage(t *testing.T) {
	t.Parallel()
	ring := logbuf.New(100)
	log := slog.New(ring.Handler(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})))
	env := newEnv(t, func(d *app.Deps) { d.Logs, d.Logger = ring, log })
	c := env.client()
	c.setup("admin password")
	log.Info("modem online", "modem", "ec25-1", "operator", "Telekom.de")
	log.Warn("modem signal weak", "modem", "ec25-2", "rssi", -109)
	log.Error("SIP registration failed", "registrar", "pbx.lan:5060", "err", "timeout") // netscope: a log line

	r := c.get("/system/logs")
	mustContain(t, r.body, "modem online", "operator=Telekom.de", "SIP registration failed", "Warning")
	r = c.get("/system/logs?level=warn&q=ec25")
	mustContain(t, r.body, "modem signal weak")
	if strings.Contains(r.body, "modem online") || strings.Contains(r.body, "SIP registration") {
		t.Fatal("level or search filter ignored")
	}
	r = c.get("/system/logs.txt?level=info")
	if r.code != http.StatusOK || !strings.Contains(r.body, "WARN  modem signal weak modem=ec25-2 rssi=-109") {
		t.Fatalf("download: %d\n%s", r.code, r.body)
	}
	if i, j := strings.Index(r.body, "modem online"), strings.Index(r.body, "SIP registration"); i < 0 || j < i {
		t.Fatal("download is not oldest first")
	}
	c.get("/lang/de")
	mustContain(t, c.get("/system/logs?level=error").body, "Protokoll", "Fehler", "SIP registration failed")

	tok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	auth := map[string]string{"Authorization": "Bearer " + tok}
	r = c.do("GET", "/api/v1/logs?level=error", nil, auth)
	mustContain(t, r.body, `"msg":"SIP registration failed"`, `"attrs":"registrar=pbx.lan:5060 err=timeout"`) // netscope: a log line
	if strings.Contains(r.body, "modem online") {
		t.Fatal("API level filter ignored")
	}
	if r = c.do("GET", "/api/v1/logs?level=loud", nil, auth); r.code != http.StatusBadRequest || !strings.Contains(r.body, `"field":"level"`) {
		t.Fatalf("bad level: %d %s", r.code, r.body)
	}

	op := operatorClient(t, env)
	if r := op.get("/system/logs"); r.code != http.StatusForbidden {
		t.Fatalf("operator reads logs: %d", r.code)
	}
}
