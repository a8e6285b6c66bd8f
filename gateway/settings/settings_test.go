package settings

import (
	"errors"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/store"
)

func TestSIPRoundTripKeepsSecretAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := LoadSIP(st); r != nil || err != nil {
		t.Fatalf("fresh store: %+v %v", r, err)
	}
	sip := config.Default().SIP
	sip.Enabled, sip.Registrar, sip.Username, sip.Password = true, "pbx.lan:5060", "pbxgate", "s3cret-pw" // netscope: stored and read back
	sip.Sessions.Queues = []config.MessageQueue{{Name: "support", Members: []string{"201", "202"}, AnswerTimeout: 2 * time.Minute}}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if err := SaveSIP(st, SIPRecord{SIP: sip, By: "admin", At: at}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = store.Open(store.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := LoadSIP(st)
	if err != nil || r == nil {
		t.Fatalf("after reopen: %v", err)
	}
	if r.SIP.Password.Reveal() != "s3cret-pw" || r.SIP.Registrar != "pbx.lan:5060" || r.By != "admin" || !r.At.Equal(at) || // netscope: stored and read back
		len(r.SIP.Sessions.Queues) != 1 || r.SIP.Sessions.Queues[0].AnswerTimeout != 2*time.Minute {
		t.Fatalf("loaded %+v", r)
	}
	if err := ResetSIP(st); err != nil {
		t.Fatal(err)
	}
	if err := ResetSIP(st); err != nil {
		t.Fatalf("second reset: %v", err)
	}
	if r, _ := LoadSIP(st); r != nil {
		t.Fatal("settings survived the reset")
	}
}

func TestWithSIPValidatesAndEnvWins(t *testing.T) {
	base := config.Default()
	sip := base.SIP
	sip.Enabled, sip.Registrar, sip.Username, sip.Password = true, "pbx.lan", "pbxgate", "from-portal"
	sip.Sessions.Routes = []config.SessionRoute{{Channel: "sms", To: "queue:nope"}}
	_, err := base.WithSIP(sip, nil)
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Key != "sip.sessions.routes[0].to" {
		t.Fatalf("unknown queue: %v", err)
	}
	sip.Sessions.Routes[0].To = "201"
	cfg, err := base.WithSIP(sip, []string{"PBXGATE_SIP_PASSWORD=from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SIP.Password.Reveal() != "from-env" || cfg.SIP.Registrar != "pbx.lan" {
		t.Fatalf("effective %+v", cfg.SIP)
	}
	if base.SIP.Registrar != "" {
		t.Fatal("WithSIP changed the file's configuration")
	}
}
