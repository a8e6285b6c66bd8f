package web

import (
	"context"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/web/app"
)

// driverConsole backs the AT tools with a real modem driver on a pty
// (simulator), the way the daemon's adapter does.
type driverConsole struct{ m *modem.Modem }

func (d driverConsole) get(name string) (*modem.Modem, error) {
	if name != d.m.Name() {
		return nil, ErrUnknownModem
	}
	return d.m, nil
}

func (d driverConsole) ModemTrace(_ context.Context, name string) ([]ATLine, error) {
	m, err := d.get(name)
	if err != nil {
		return nil, err
	}
	var out []ATLine
	for _, l := range m.Trace() {
		out = append(out, ATLine{At: l.At, Out: l.Dir == "out", Text: l.Text})
	}
	return out, nil
}

func (driverConsole) CheckAT(command string) (ATCheck, error) {
	ck, err := modem.CheckConsole(command)
	if ie := (*modem.ConsoleInputError)(nil); errors.As(err, &ie) {
		return ATCheck{}, &ATInputError{Problem: ie.Problem}
	} else if err != nil {
		return ATCheck{}, err
	}
	return ATCheck{Risk: ATRisk(ck.Risk), Reason: ck.Reason, Shown: ck.Shown}, nil
}

func (d driverConsole) RunAT(ctx context.Context, name, command string, timeout time.Duration, confirmed bool) (ATResult, error) {
	m, err := d.get(name)
	if err != nil {
		return ATResult{}, err
	}
	res, err := m.Console(ctx, command, timeout, confirmed)
	return ATResult{Lines: res.Lines, Final: res.Final, Took: res.Took}, err
}

type oneModemStatus string

func (s oneModemStatus) Status(context.Context) Status {
	return Status{Modems: []ModemStatus{{ID: string(s), Model: "EC25", Health: HealthOK, State: "ready"}}}
}

func newConsoleEnv(t *testing.T) (*testEnv, *modemsim.Modem) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	net := modemsim.NewNetwork()
	sim, err := net.AddModem(ctx, modemsim.Config{Model: "EC25", PIN: "4711"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := modem.Open(ctx, modem.Config{Name: "gsm1", Device: sim.Path(), PIN: "4711",
		CommandTimeout: 2 * time.Second, InitTimeout: 10 * time.Second, SendTimeout: 5 * time.Second,
		PollInterval: time.Hour, DrainInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)}, modem.Handlers{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		m.Close()
		net.Close()
	})
	env := newEnv(t, func(d *Deps) {
		d.ModemConsole = driverConsole{m}
		d.Status = oneModemStatus("gsm1")
	})
	return env, sim
}

func auditTargets(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	all := (&app.Server{D: app.Deps{Store: st}}).RecentAudit(1000) // newest first
	for i := len(all) - 1; i >= 0; i-- {
		if e := all[i]; e.Action == "modem.at" {
			out = append(out, e.User+": "+e.Target)
		}
	}
	return out
}

// The AT tools through HTTP against a real driver on a pty: the trace
// shows the set-up with the PIN masked; a read runs and is audited; bad
// input, refused and unconfirmed commands answer in the reader's language
// and never reach the modem; a confirmed change runs; operators and
// requests without the CSRF token get 403.
func TestModemConsolePage(t *testing.T) {
	t.Parallel()
	env, _ := newConsoleEnv(t)
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/modems")
	mustContain(t, c.body, `id="at-link"`, `<a href="/mms" id="mms-link">`)

	r := c.get("/modems/at")
	if r.code != http.StatusOK {
		t.Fatalf("page: %d\n%s", r.code, r.body)
	}
	mustContain(t, r.body, "AT trace of gsm1", "<code>AT+CMGF=0</code>", `<code>AT+CPIN="****"</code>`)
	if strings.Contains(r.body, "4711") {
		t.Fatal("the trace shows the PIN")
	}
	if r := c.get("/modems/at/trace?modem=gsm1"); r.code != http.StatusOK || !strings.Contains(r.body, `id="at-trace-table"`) || strings.Contains(r.body, "<html") {
		t.Fatalf("live fragment: %d\n%s", r.code, r.body)
	}

	run := func(command, timeout, confirm string) resp {
		t.Helper()
		return c.post("/modems/at", url.Values{"csrf_token": {tok}, "modem": {"gsm1"}, "command": {command}, "timeout": {timeout}, "confirm": {confirm}})
	}
	r = run("at+csq", "10", "")
	if r.code != http.StatusOK {
		t.Fatalf("AT+CSQ: %d\n%s", r.code, r.body)
	}
	mustContain(t, r.body, `id="at-answer"`, "+CSQ: 20,99\nOK", "<code>AT+csq</code>")

	for _, tc := range []struct {
		lang, command, timeout string
		code                   int
		want                   string
	}{
		{"en", "CSQ", "10", http.StatusUnprocessableEntity, "Type one AT command starting with AT, e.g. AT+CSQ."},
		{"de", "CSQ", "10", http.StatusUnprocessableEntity, "Geben Sie einen AT-Befehl ein, der mit AT beginnt, z. B. AT+CSQ."},
		{"de", "AT+CSQ", "7", http.StatusUnprocessableEntity, "Wählen Sie eine der angebotenen Wartezeiten."},
		{"de", "AT+CSQ\rATD112", "10", http.StatusUnprocessableEntity, "Nur einfache ASCII-Zeichen"},
		{"en", "AT+CPIN=9876", "10", http.StatusUnprocessableEntity, `AT+CPIN="****" is refused in the console: It carries a PIN`},
		{"de", "ATD+4917012345678;", "10", http.StatusUnprocessableEntity, "nicht erlaubt: Nur ein Befehl auf einmal"},
		{"de", "AT+CFUN=0", "10", http.StatusConflict, "AT+CFUN=0 auf gsm1 ausführen?"},
		{"en", "AT+CMGD=1,4", "10", http.StatusConflict, "It deletes stored messages"},
	} {
		c.get("/lang/" + tc.lang)
		r := run(tc.command, tc.timeout, "")
		if r.code != tc.code {
			t.Errorf("%s %q: status %d, want %d", tc.lang, tc.command, r.code, tc.code)
			continue
		}
		mustContain(t, r.body, tc.want)
	}
	c.get("/lang/en")
	if r := c.post("/modems/at", url.Values{"csrf_token": {tok}, "modem": {"nosuch"}, "command": {"AT"}, "timeout": {"10"}}); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown modem: %d", r.code)
	} else {
		mustContain(t, r.body, "No modem named nosuch is running")
	}

	r = run("AT+CMGF=1", "10", "1")
	if r.code != http.StatusOK {
		t.Fatalf("confirmed: %d\n%s", r.code, r.body)
	}
	mustContain(t, r.body, "Answer of gsm1 to AT+CMGF=1")

	var trace []string
	r = c.get("/modems/at/trace?modem=gsm1")
	for _, l := range strings.Split(html.UnescapeString(r.body), "<code>")[1:] {
		trace = append(trace, l[:strings.Index(l, "</code>")])
	}
	joined := strings.Join(trace, "\n")
	for _, never := range []string{"AT+CPIN=9876", "ATD", "AT+CFUN=0", "AT+CMGD=1,4"} {
		if strings.Contains(joined, never) {
			t.Errorf("%s reached the modem", never)
		}
	}

	got := auditTargets(t, env.store)
	want := []string{"admin: gsm1 AT+csq → OK", `admin: gsm1 AT+CPIN="****" → refused (secret)`,
		"admin: gsm1 ATD+4917012345678; → refused (chain)", "admin: gsm1 AT+CMGF=1 → OK"}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("audit lacks %q; has %q", w, got)
		}
	}
	for _, g := range got {
		if strings.Contains(g, "9876") {
			t.Errorf("audit shows the PIN: %q", g)
		}
	}

	// Without the CSRF token: refused before anything runs.
	before := len(auditTargets(t, env.store))
	if r := c.post("/modems/at", url.Values{"modem": {"gsm1"}, "command": {"AT+CSQ"}, "timeout": {"10"}}); r.code != http.StatusForbidden {
		t.Fatalf("no CSRF token: %d", r.code)
	}
	if len(auditTargets(t, env.store)) != before {
		t.Fatal("a request without the CSRF token was audited (it reached the handler)")
	}

	// Operators: no link, 403 everywhere.
	if err := env.users.Add(context.Background(), "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	o := env.client()
	if r := o.login("olga", "operator password"); r.code != http.StatusSeeOther {
		t.Fatalf("operator login: %d", r.code)
	}
	otok := o.csrf("/modems")
	if strings.Contains(o.body, `id="at-link"`) {
		t.Error("the operator sees the AT console link")
	}
	for _, r := range []resp{o.get("/modems/at"), o.get("/modems/at/trace?modem=gsm1"),
		o.post("/modems/at", url.Values{"csrf_token": {otok}, "modem": {"gsm1"}, "command": {"AT+CSQ"}, "timeout": {"10"}})} {
		if r.code != http.StatusForbidden {
			t.Errorf("operator: %d, want 403", r.code)
		}
	}
}
