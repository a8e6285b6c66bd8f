package settings

import (
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/store"
)

func TestPacingPerModemSurvivesReopenAndResets(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := LoadPacing(st); err != nil || len(m) != 0 {
		t.Fatalf("fresh store: %v %v", m, err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p1 := config.Pacing{PerMinute: 6, DelayMin: 2 * time.Second, DelayMax: 8 * time.Second, DailyCap: 300, MonthlyCap: 4000, QuietHours: "22:00-07:00"}
	for _, r := range []PacingRecord{{Modem: "ec25-1", Pacing: p1, By: "admin", At: at}, {Modem: "sim2", Pacing: config.Pacing{DailyCap: 3}, By: "anna", At: at}} {
		if err := SavePacing(st, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := SavePacing(st, PacingRecord{Pacing: p1}); err == nil {
		t.Fatal("pacing without a modem stored")
	}
	// A second save replaces the first.
	if err := SavePacing(st, PacingRecord{Modem: "sim2", Pacing: config.Pacing{DailyCap: 5}, By: "anna", At: at}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = store.Open(store.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := LoadPacing(st)
	if err != nil || len(m) != 2 {
		t.Fatalf("after reopen: %+v %v", m, err)
	}
	if r := m["ec25-1"]; r.Pacing != p1 || r.By != "admin" || !r.At.Equal(at) {
		t.Fatalf("ec25-1: %+v", r)
	}
	if r := m["sim2"]; r.Pacing.DailyCap != 5 {
		t.Fatalf("sim2: %+v", r)
	}
	if err := ResetPacing(st, "sim2"); err != nil {
		t.Fatal(err)
	}
	if err := ResetPacing(st, "never-saved"); err != nil {
		t.Fatalf("reset of a modem without portal pacing: %v", err)
	}
	if m, _ := LoadPacing(st); len(m) != 1 || m["ec25-1"].Pacing != p1 {
		t.Fatalf("after reset: %+v", m)
	}
}
