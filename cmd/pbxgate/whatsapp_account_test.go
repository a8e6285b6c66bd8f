package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The daemon reads the number's standing from the (emulated) Meta at
// start: /readyz and GET /api/v1/whatsapp/numbers show the configured
// tier as Meta reports it. Meta then flags the number (quality RED,
// TIER_250, phone_number_quality_update webhook); after "read from Meta
// now" /readyz and the dashboard's status degrade the number's line
// naming the reason, and the account signal is listed.
func TestWhatsAppStandingInReadyz(t *testing.T) {
	t.Parallel()
	d := startOneSIM(t, "whatsapp: {enabled: true, emulate: true, messaging_limit_tier: 2000}\n")
	readyz := func() string {
		resp, err := http.Get(d.p.portal + "readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Components []struct{ Name, State, Detail string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Components {
			if c.Name == "whatsapp/whatsapp" {
				return c.State + ": " + c.Detail
			}
		}
		t.Fatalf("no whatsapp line in /readyz: %+v", r)
		return ""
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readyz(), "tier TIER_2K") {
		if time.Now().After(deadline) {
			t.Fatalf("readyz: %s", readyz())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := readyz(); got != "ok: quality GREEN, tier TIER_2K" {
		t.Errorf("readyz at start: %q", got)
	}
	resp, err := http.Post(d.p.portal+"waemu/_emu/phone", "application/json",
		strings.NewReader(`{"quality_rating":"RED","messaging_limit_tier":"TIER_250","status":"FLAGGED"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("_emu/phone: %s %s", resp.Status, b)
	}
	var nums struct {
		Numbers []struct {
			Channel string
			Health  struct {
				TierLimit int `json:"tier_limit"`
			}
			Phone struct {
				Info struct {
					QualityRating string `json:"quality_rating"`
				}
			}
		}
	}
	d.api.do("POST", "/api/v1/whatsapp/numbers/refresh", nil, &nums)
	if len(nums.Numbers) != 1 || nums.Numbers[0].Phone.Info.QualityRating != "RED" || nums.Numbers[0].Health.TierLimit != 250 {
		t.Errorf("numbers after the refresh: %+v", nums)
	}
	if got := readyz(); !strings.HasPrefix(got, "degraded: number status FLAGGED") || !strings.Contains(got, "tier TIER_250") {
		t.Errorf("readyz after Meta flagged the number: %q", got)
	}
	var st struct {
		Numbers []struct {
			Tier   string `json:"tier"`
			Health string `json:"health"`
		} `json:"numbers"`
	}
	d.api.do("GET", "/api/v1/whatsapp", nil, &st)
	if len(st.Numbers) != 1 || st.Numbers[0].Tier != "TIER_250" || st.Numbers[0].Health != "degraded" {
		t.Errorf("dashboard status %+v, want TIER_250 and degraded", st)
	}
	var sig struct {
		Signals []struct {
			Field    string `json:"field"`
			Event    string `json:"event"`
			LimitRaw string `json:"limit_raw"`
		}
	}
	d.api.do("GET", "/api/v1/whatsapp/signals", nil, &sig)
	if len(sig.Signals) != 1 || sig.Signals[0].Field != "phone_number_quality_update" || sig.Signals[0].Event != "DOWNGRADE" || sig.Signals[0].LimitRaw != "TIER_250" {
		t.Errorf("signals %+v", sig)
	}
}
