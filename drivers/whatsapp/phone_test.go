package whatsapp_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// TestPhoneNumberReadsMetaExamples: the phone-number node answers with
// Meta's own examples (testdata/phone, copied from the OpenAPI
// description: getPhoneNumberById and getWhatsAppAccountNumberDetails);
// the client asks GET /v23.0/{phone-number-id} with the fields it needs
// and reads quality rating, name status, status and messaging limit tier;
// the tier becomes the channel's limit and everything survives a restart.
func TestPhoneNumberReadsMetaExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file                        string
		quality, name, status, tier string
		limit                       int
		degraded                    bool
	}{
		{"default_response.json", "GREEN", "", "", "", 250, false}, // no tier: the configured one stays
		{"comprehensive_response.json", "GREEN", "APPROVED", "", "", 250, false},
		{"verified_account_number.json", "GREEN", "APPROVED", "CONNECTED", "TIER_1K", 1000, false},
		{"unverified_account_number.json", "NA", "NONE", "UNVERIFIED", "", 250, true},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			body := readTestdata(t, "phone/"+tc.file)
			var id struct{ ID string }
			json.Unmarshal(body, &id)
			var gotPath, gotFields, gotAuth string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath, gotFields, gotAuth = r.URL.Path, r.URL.Query().Get("fields"), r.Header.Get("Authorization")
				w.Header().Set("Content-Type", "application/json")
				w.Write(body)
			}))
			defer srv.Close()
			st, err := store.Open(store.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			o := whatsapp.Options{BaseURL: srv.URL, PhoneNumberID: id.ID, Token: "tok", Tier: 250, Store: st, PhoneInfoInterval: -1,
				Logger: slog.New(slog.DiscardHandler)}
			ch, err := whatsapp.New(o)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ch.RefreshPhone(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if gotPath != "/v23.0/"+id.ID || gotAuth != "Bearer tok" {
				t.Errorf("request %s (%s)", gotPath, gotAuth)
			}
			fields := strings.Split(gotFields, ",")
			for _, f := range []string{"quality_rating", "name_status", "messaging_limit_tier", "status", "throughput"} {
				if !slices.Contains(fields, f) {
					t.Errorf("fields %q lack %s", gotFields, f)
				}
			}
			if p.QualityRating != tc.quality || p.NameStatus != tc.name || p.Status != tc.status || p.MessagingLimitTier != tc.tier {
				t.Errorf("read %+v", p)
			}
			if (p.Degraded() != "") != tc.degraded {
				t.Errorf("degraded %q, want %v", p.Degraded(), tc.degraded)
			}
			h := ch.Health()
			if h.TierLimit != tc.limit || h.Quality != tc.quality {
				t.Errorf("health %+v, want tier %d quality %s", h, tc.limit, tc.quality)
			}
			// A restart keeps the last reading (no request needed).
			again, err := whatsapp.New(o)
			if err != nil {
				t.Fatal(err)
			}
			if ps := again.Phone(); !ps.Known || ps.Info.QualityRating != tc.quality || ps.Info.MessagingLimitTier != tc.tier {
				t.Errorf("after restart %+v", ps)
			}
		})
	}
}

// TestPhoneStandingFromEmulator: the channel reads the number's standing
// at start from the emulator; Meta lowers the quality to RED and the tier
// to TIER_250 (phone_number_quality_update webhook, shape of Meta's
// webhook reference) — the tier moves at once, the next reading shows RED;
// a failing reading keeps the last known standing with the error.
func TestPhoneStandingFromEmulator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{ch: func(o *whatsapp.Options) { o.PhoneInfoInterval = time.Hour }})
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	// RefreshPhone publishes the standing before it applies the tier, so
	// the start's reading is done once both are seen.
	for !e.ch.Phone().Known || e.ch.Health().TierLimit == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("standing not read and applied at start: %+v health %+v", e.ch.Phone(), e.ch.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ps := e.ch.Phone()
	if ps.Info.QualityRating != "GREEN" || ps.Info.MessagingLimitTier != "TIER_1K" || ps.Info.Throughput != "STANDARD" ||
		ps.Info.NameStatus != "APPROVED" || e.ch.Health().TierLimit != 1000 {
		t.Fatalf("start: %+v health %+v", ps, e.ch.Health())
	}
	if err := e.emu.SetPhone(ctx, e.emu.Options().PhoneNumberID, phoneRED, ""); err != nil {
		t.Fatal(err)
	}
	if h := e.ch.Health(); h.TierLimit != 250 {
		t.Errorf("tier after the webhook: %d", h.TierLimit)
	}
	if got := e.ch.Phone().Info.MessagingLimitTier; got != "TIER_250" {
		t.Errorf("kept tier after the webhook: %s", got)
	}
	p, err := e.ch.RefreshPhone(ctx)
	if err != nil || p.QualityRating != "RED" || p.Status != "FLAGGED" || p.Degraded() == "" {
		t.Fatalf("after RED: %+v %v", p, err)
	}
	if h := e.ch.Health(); h.Quality != "RED" || h.NumberStatus != "FLAGGED" {
		t.Errorf("health %+v", h)
	}
	sig, _ := e.ch.AccountSignals()
	if len(sig) == 0 || sig[len(sig)-1].Field != "phone_number_quality_update" || sig[len(sig)-1].LimitRaw != "TIER_250" {
		t.Errorf("signals %+v", sig)
	}
	e.emuSrv.Close()
	if _, err := e.ch.RefreshPhone(ctx); err == nil {
		t.Fatal("reading from a closed emulator worked")
	}
	if ps := e.ch.Phone(); !ps.Known || ps.Info.QualityRating != "RED" || ps.Error == "" {
		t.Errorf("after a failed reading: %+v", ps)
	}
}

var phoneRED = waemu.Phone{QualityRating: "RED", Tier: "TIER_250", Status: "FLAGGED"}

// TestEmulatorPhoneNodeFollowsMetaSchema: the emulator's answer to GET
// /{phone-number-id} uses only properties and enum values of Meta's
// schemas (PhoneNumberInfo; status and messaging_limit_tier as in
// WhatsAppBusinessAccountPhoneNumber / WhatsAppAccountNumber, copied
// here from business-messaging-api_v23.0.yaml), answers only the default
// fields without ?fields, and refuses a field the node lacks with code 100.
func TestEmulatorPhoneNodeFollowsMetaSchema(t *testing.T) {
	t.Parallel()
	enums := map[string][]string{
		"quality_rating":           {"GREEN", "YELLOW", "RED", "NA"},
		"name_status":              {"APPROVED", "AVAILABLE_WITHOUT_REVIEW", "DECLINED", "EXPIRED", "PENDING_REVIEW", "NONE"},
		"code_verification_status": {"VERIFIED", "UNVERIFIED"},
		"status":                   {"CONNECTED", "DISCONNECTED", "UNVERIFIED", "PENDING", "FLAGGED", "RESTRICTED"},
		"messaging_limit_tier":     {"TIER_50", "TIER_250", "TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"},
	}
	strs := []string{"id", "display_phone_number", "verified_name"}
	e := newEnv(t, envConfig{})
	get := func(q string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, e.emuSrv.URL+"/v23.0/"+e.emu.Options().PhoneNumberID+q, nil)
		req.Header.Set("Authorization", "Bearer "+e.emu.Options().Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	check := func(m map[string]any) {
		for k, v := range m {
			switch {
			case slices.Contains(strs, k):
				if _, ok := v.(string); !ok {
					t.Errorf("%s = %v, want a string", k, v)
				}
			case enums[k] != nil:
				if s, _ := v.(string); !slices.Contains(enums[k], s) {
					t.Errorf("%s = %v, not in Meta's enum %v", k, v, enums[k])
				}
			case k == "throughput":
				if tp, _ := v.(map[string]any); tp == nil || tp["level"] == nil {
					t.Errorf("throughput = %v, want {level}", v)
				}
			default:
				t.Errorf("property %s is not in Meta's schema", k)
			}
		}
	}
	code, m := get("")
	if code != 200 || len(m) != 4 || m["quality_rating"] != "GREEN" {
		t.Errorf("default fields: %d %v", code, m)
	}
	check(m)
	for _, p := range []waemu.Phone{{}, phoneRED, {QualityRating: "YELLOW", NameStatus: "DECLINED", Tier: "TIER_UNLIMITED", Status: "RESTRICTED"}} {
		if err := e.emu.SetPhone(context.Background(), e.emu.Options().PhoneNumberID, p, ""); err != nil {
			t.Fatal(err)
		}
		code, m := get("?fields=" + whatsapp.PhoneFields + ",code_verification_status")
		if code != 200 || len(m) != 9 {
			t.Errorf("all fields: %d %v", code, m)
		}
		check(m)
	}
	code, m = get("?fields=quality_rating,wallpaper")
	if errObj, _ := m["error"].(map[string]any); code != 400 || errObj == nil || errObj["code"] != float64(100) {
		t.Errorf("unknown field: %d %v", code, m)
	}
	if err := e.emu.SetPhone(context.Background(), e.emu.Options().PhoneNumberID, waemu.Phone{QualityRating: "PURPLE"}, ""); err == nil {
		t.Error("quality PURPLE accepted")
	}
}

// TestTemplateQualityKept: Meta's message_template_quality_update (sent
// by the emulator in the shape of Meta's webhook reference,
// testdata/account/template_quality.json) sets the template's quality in
// the local copy; a template sync (whose listing has no quality) keeps it.
func TestTemplateQualityKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.SetTemplateQuality(ctx, "hello_world", "en_US", "YELLOW"); err != nil {
		t.Fatal(err)
	}
	if ti, _ := e.ch.Templates().Get("hello_world", "en_US"); ti.Quality != "YELLOW" {
		t.Fatalf("quality %q after the webhook", ti.Quality)
	}
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ti, _ := e.ch.Templates().Get("hello_world", "en_US"); ti.Quality != "YELLOW" {
		t.Errorf("quality %q after a sync", ti.Quality)
	}
	sig, _ := e.ch.AccountSignals()
	if len(sig) != 1 || sig[0].PreviousQuality != "UNKNOWN" || sig[0].Quality != "YELLOW" {
		t.Errorf("signals %+v", sig)
	}
}
