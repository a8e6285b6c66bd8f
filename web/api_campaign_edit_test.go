package web

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/campaign"
)

func TestAPICampaignEditAndExport(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, engine := withEngine(t, &env)
	env, _, op := newAPIEnv(t, opt)

	var cd app.CampaignDetail
	op.ok("POST", "/campaigns", `{"name":"Entwurf","channel":"gsm","numbers":["0171 1234567","0151 23456789"],"text":"Hallo"}`, http.StatusCreated, &cd)
	if cd.State != app.StateDraft || cd.Total != 2 {
		t.Fatalf("draft: %+v", cd)
	}
	// Without numbers the recipients stay.
	op.ok("PUT", "/campaigns/"+cd.ID, `{"name":"Entwurf 2","channel":"gsm","text":"Hallo Welt","rate_per_minute":30}`, http.StatusOK, &cd)
	if cd.Name != "Entwurf 2" || cd.Text != "Hallo Welt" || cd.Total != 2 || cd.RatePerMinute != 30 || cd.State != app.StateDraft {
		t.Fatalf("edited: %+v", cd)
	}
	wantAPIError(t, op.call("PUT", "/campaigns/"+cd.ID, `{"name":"x","channel":"gsm","numbers":["12"],"text":"a"}`), http.StatusUnprocessableEntity, "invalid_rows", "numbers")
	wantAPIError(t, op.call("PUT", "/campaigns/"+cd.ID, `{"name":"","channel":"gsm","text":"a"}`), http.StatusUnprocessableEntity, "invalid", "name")
	wantAPIError(t, op.call("PUT", "/campaigns/nope", `{"name":"x","channel":"gsm","text":"a"}`), http.StatusNotFound, "not_found", "")
	// New numbers replace the old ones; send now starts it.
	op.ok("PUT", "/campaigns/"+cd.ID, `{"name":"Entwurf 2","channel":"gsm","numbers":["0171 7654321"],"text":"Hallo","send":"now"}`, http.StatusOK, &cd)
	if cd.Total != 1 {
		t.Fatalf("recipients replaced: %+v", cd)
	}
	waitState(t, engine(), cd.ID, campaign.Completed)
	// A sent campaign is no longer edited.
	wantAPIError(t, op.call("PUT", "/campaigns/"+cd.ID, `{"name":"x","channel":"gsm","text":"a"}`), http.StatusConflict, "state", "")

	r := op.call("GET", "/campaigns/"+cd.ID+"/export.csv", "")
	if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || !strings.Contains(r.header.Get("Content-Disposition"), "campaign-") {
		t.Fatalf("export: %d %v", r.code, r.header)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(rows) != 2 || !strings.Contains(strings.Join(rows[1], ","), "+491717654321") {
		t.Fatalf("export csv: %v\n%s", err, r.body)
	}
	wantAPIError(t, op.call("GET", "/campaigns/nope/export.csv", ""), http.StatusNotFound, "not_found", "")
}
