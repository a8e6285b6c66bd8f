package web

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/diskguard"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// diskFullErr is what a store write answers when the data disk is below
// diskguard's write floor: a real guard (its floor above any disk's free
// space) on a real store.
func diskFullErr(t *testing.T) error {
	t.Helper()
	dir := t.TempDir()
	g, err := diskguard.New(diskguard.Config{Dir: dir, MinFree: 1 << 61, WriteFloor: 1 << 60, Interval: time.Hour, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: dir, Logger: testkit.Logger(), Guard: g})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, "k", 1) })
	if !errors.Is(err, diskguard.ErrDiskFull) {
		t.Fatalf("write below the floor: %v, want diskguard.ErrDiskFull", err)
	}
	return err
}

// TestErrorTextSpeaksTheUsersLanguage: errors from the layers below the
// portal reach a German admin in German and an English one in English,
// never as the Go error's English text: a modem's +CME ERROR 10 (3GPP TS
// 27.007 §9.2.1: SIM not inserted) and a bare ERROR, the modem driver's
// +CMS ERROR 38 send error (TS 27.005 §3.2.5: network out of order), a
// store write refused by the disk guard, WhatsApp's 131026 (Meta: message
// undeliverable), a timeout, and an error of no known kind.
func TestErrorTextSpeaksTheUsersLanguage(t *testing.T) {
	t.Parallel()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	reason, retry, fault := modem.CMSReason(38)
	cms := fmt.Errorf("send: %w", &modem.SendError{CMS: 38, Reason: reason, ReasonCode: modem.CMSReasonCode(38), Retryable: retry, ModemFault: fault})
	wa := fmt.Errorf("reply: %w", &whatsapp.APIError{HTTPStatus: 400, Code: 131026, Message: "Message undeliverable"})
	disk := diskFullErr(t)
	for _, c := range []struct {
		name    string
		err     error
		de, en  string
		english string // the Go text that must not show in German
	}{
		{"CME 10", &modem.CommandError{Command: "+CUSD=1,\"*100#\",15", Kind: "CME", Code: 10, Text: "SIM not inserted"},
			"Das Modem hat den Befehl abgelehnt (+CME ERROR 10: keine SIM-Karte eingelegt).", "The modem refused the command (+CME ERROR 10: SIM not inserted).", "SIM not inserted"},
		{"ERROR", fmt.Errorf("ussd: %w", &modem.CommandError{Command: "+CUSD=1"}),
			"Das Modem hat den Befehl abgelehnt (ERROR).", "The modem refused the command (ERROR).", "AT+CUSD"},
		{"CMS 38", cms, "Netz außer Betrieb", "network out of order", "network out of order"},
		{"disk full", disk, "Der Datenträger ist (fast) voll", "The data disk is (almost) full", "disk full"},
		{"WhatsApp 131026", wa, "WhatsApp-Fehler 131026", "WhatsApp error 131026", "the recipient cannot receive"},
		{"timeout", fmt.Errorf("telegram getMe: %w", context.DeadlineExceeded), "Keine Antwort in der vorgesehenen Zeit", "No answer in time", "deadline exceeded"},
		{"other", errors.New("open /dev/ttyUSB3: permission denied"), "Fehlgeschlagen; die Einzelheiten stehen im pbxgate-Protokoll.", "Failed; the details are in the pbxgate log.", "permission denied"},
	} {
		de := (&app.View{Cat: cat, Language: i18n.DE}).ErrorText(c.err)
		en := (&app.View{Cat: cat, Language: i18n.EN}).ErrorText(c.err)
		if !strings.Contains(de, c.de) || strings.Contains(de, c.english) {
			t.Errorf("%s: German %q, want %q without %q", c.name, de, c.de, c.english)
		}
		if !strings.Contains(en, c.en) {
			t.Errorf("%s: English %q, want %q", c.name, en, c.en)
		}
	}
}
