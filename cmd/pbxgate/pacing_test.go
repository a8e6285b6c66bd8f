package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/settings"
	"github.com/pbxgate/pbxgate/gateway/store"
)

type pacingReply struct {
	Modems []struct {
		Modem  string `json:"modem"`
		Pacing struct {
			DailyCap int `json:"daily_cap"`
		} `json:"pacing"`
		ChangedInPortal bool   `json:"changed_in_portal"`
		SentToday       int    `json:"sent_today"`
		Blocked         string `json:"blocked"`
	} `json:"modems"`
}

// A daily cap set through the API applies to the running daemon at once:
// of five SMS three go out and two wait with the cap as the reason. After
// a restart the cap still holds (saved in the portal, counted parts kept),
// and raising it sends the two that waited.
func TestDailyCapFromPortalAppliesLiveAndAfterRestart(t *testing.T) {
	t.Parallel()
	d := startOneSIM(t, "shutdown_timeout: 5s\nupdates: {spool_dir: \"\"}\n")
	p, cfgPath, dataDir, token := d.p, d.cfgPath, d.dataDir, d.api.token
	call := func(p *proc, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, strings.TrimSuffix(p.portal, "/")+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sim1 := func(p *proc) (sent int, blocked string, capN int, changed bool) {
		t.Helper()
		code, body := call(p, "GET", "/api/v1/modems/pacing", "")
		var r pacingReply
		if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
			t.Fatalf("pacing: %d %s", code, body)
		}
		for _, m := range r.Modems {
			if m.Modem == "sim1" {
				return m.SentToday, m.Blocked, m.Pacing.DailyCap, m.ChangedInPortal
			}
		}
		t.Fatalf("no sim1 in %s", body)
		return
	}
	channel := func() (queued int, blocked string) {
		t.Helper()
		out, stderr, code := runPbxgate(t, "", "modems", "--json", "--data", dataDir)
		if code != 0 {
			t.Fatalf("pbxgate modems: %s", stderr)
		}
		var rep modemsReply
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Channels) != 1 {
			t.Fatalf("pbxgate modems --json: %v\n%s", err, out)
		}
		return rep.Channels[0].Queued, rep.Channels[0].Blocked
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, p.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	if code, body := call(p, "PUT", "/api/v1/modems/sim1/pacing", `{"daily_cap":3,"quiet_hours":"25:00-07:00"}`); code != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"quiet_hours"`) {
		t.Fatalf("invalid quiet hours: %d %s", code, body)
	}
	if code, body := call(p, "PUT", "/api/v1/modems/sim1/pacing", `{"daily_cap":3}`); code != http.StatusOK || !strings.Contains(body, `"daily_cap":3`) {
		t.Fatalf("set daily cap: %d %s", code, body)
	}
	for i := range 5 {
		if _, stderr, code := runPbxgate(t, "", "send", "--data", dataDir, "sms", fmt.Sprintf("+49170555000%d", i), fmt.Sprintf("Nachricht %d", i)); code != 0 {
			t.Fatalf("pbxgate send: %s", stderr)
		}
	}
	imei := onlySimIMEI(t, p)
	onAir := func() int {
		var got []struct {
			To string `json:"to"`
		}
		getJSON(t, p.portal+"sim/modems/"+imei+"/sent", &got)
		return len(got)
	}
	waitFor("three sent and the channel held by the daily cap", func() bool {
		sent, blocked, _, _ := sim1(p)
		q, cb := channel()
		return sent == 3 && blocked == "daily_cap" && q == 2 && cb == "daily cap reached on all SIMs" && onAir() >= 3
	})
	// Blocked with two queued: nothing more is handed to the modem.
	if n := onAir(); n != 3 {
		t.Fatalf("the simulated SIM sent %d SMS under a daily cap of 3", n)
	}

	// The cap and the count survive a restart.
	p.stop(t)
	p = startDaemon(t, cfgPath, "--demo")
	if !strings.Contains(p.log(), `"msg":"modem pacing from the portal"`) {
		t.Fatalf("start-up does not apply the portal's pacing:\n%s", p.log())
	}
	if sent, _, capN, changed := sim1(p); sent != 3 || capN != 3 || !changed {
		t.Fatalf("after restart: sent %d cap %d changed %v", sent, capN, changed)
	}
	// Once the modem is online again the cap, not the modem, holds the two.
	imei = onlySimIMEI(t, p)
	waitFor("the cap holding the queue after the restart", func() bool {
		_, blocked, _, _ := sim1(p)
		q, cb := channel()
		return blocked == "daily_cap" && q == 2 && cb == "daily cap reached on all SIMs"
	})
	if n := onAir(); n != 0 {
		t.Fatalf("the restarted SIM sent %d SMS over its daily cap", n)
	}

	// Raising the cap sends the two that waited, no more.
	if code, body := call(p, "PUT", "/api/v1/modems/sim1/pacing", `{"daily_cap":10}`); code != http.StatusOK {
		t.Fatalf("raise daily cap: %d %s", code, body)
	}
	waitFor("the rest sent", func() bool {
		sent, blocked, _, _ := sim1(p)
		q, _ := channel()
		return sent == 5 && blocked == "" && q == 0
	})
	p.stop(t)
}

// Pacing saved for a modem the configuration no longer has (renamed) is
// ignored with a log line; invalid saved pacing too; the rest applies.
func TestApplyPortalPacingIgnoresUnknownModems(t *testing.T) {
	t.Parallel()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, r := range []settings.PacingRecord{
		{Modem: "ec25-old", Pacing: config.Pacing{DailyCap: 7}, By: "admin"},
		{Modem: "ec25-1", Pacing: config.Pacing{DailyCap: 9, QuietHours: "22:00-06:00"}, By: "admin"},
		{Modem: "sim1", Pacing: config.Pacing{DelayMin: 5 * time.Second, DelayMax: time.Second}, By: "admin"},
	} {
		if err := settings.SavePacing(st, r); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	d := &daemon{store: st, log: slog.New(slog.NewTextHandler(&logs, nil))}
	pacing := map[string]config.Pacing{"ec25-1": {DailyCap: 500}, "sim1": {}}
	d.applyPortalPacing(pacing)
	if pacing["ec25-1"] != (config.Pacing{DailyCap: 9, QuietHours: "22:00-06:00"}) || pacing["sim1"] != (config.Pacing{}) || len(pacing) != 2 {
		t.Fatalf("applied %+v", pacing)
	}
	for _, want := range []string{"modem=ec25-old", "does not have (renamed or removed)", "modem=sim1", "is not valid", `msg="modem pacing from the portal" modem=ec25-1`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
