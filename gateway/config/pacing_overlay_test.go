package config

import (
	"errors"
	"testing"
	"time"
)

func TestValidatePacing(t *testing.T) {
	t.Parallel()
	if err := ValidatePacing("pacing", Pacing{PerMinute: 6, DelayMin: time.Second, DelayMax: 5 * time.Second, DailyCap: 300, MonthlyCap: 5000, QuietHours: "22:00-07:00"}); err != nil {
		t.Fatalf("good pacing refused: %v", err)
	}
	if err := ValidatePacing("pacing", Pacing{}); err != nil {
		t.Fatalf("no pacing refused: %v", err)
	}
	err := ValidatePacing("pacing", Pacing{PerMinute: -1, DelayMin: 3 * time.Second, DelayMax: time.Second, DailyCap: -2, MonthlyCap: -3, QuietHours: "22-7"})
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("bad pacing: %v", err)
	}
	keys := map[string]bool{}
	for _, p := range ps {
		keys[p.Key] = true
	}
	for _, k := range []string{"pacing.per_minute", "pacing.delay_max", "pacing.daily_cap", "pacing.monthly_cap", "pacing.quiet_hours"} {
		if !keys[k] {
			t.Errorf("no problem at %s in %v", k, ps)
		}
	}
	if err := ValidatePacing("pacing", Pacing{DelayMin: -time.Second}); err == nil || !errors.As(err, &ps) || ps[0].Key != "pacing" {
		t.Errorf("negative delay: %v", err)
	}
	if err := ValidatePacing("p", Pacing{QuietHours: "22:00-22:00"}); err == nil || !errors.As(err, &ps) || ps[0].Key != "p.quiet_hours" {
		t.Errorf("empty quiet window: %v", err)
	}
}

func TestModemPacing(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Modems.Devices = []ModemDevice{{Name: "ec25-1", Device: "/dev/ttyUSB2", Pacing: Pacing{DailyCap: 500}}}
	if p, ok := c.ModemPacing("ec25-1"); !ok || p.DailyCap != 500 {
		t.Fatalf("ec25-1: %+v %v", p, ok)
	}
	if _, ok := c.ModemPacing("sim1"); ok {
		t.Fatal("sim1 found among the devices")
	}
}
