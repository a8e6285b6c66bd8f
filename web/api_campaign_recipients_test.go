package web

import (
	"context"
	"net/http"
	"testing"
)

// The API filters a campaign's recipients by state, refuses an unknown
// state, and retries exactly one failed recipient: 404 for an unknown
// number, 409 for a delivered one, 200 and the campaign for the failed
// one, which is then sent again (attempt 2).
func TestAPICampaignRecipientsFilterAndRetryOne(t *testing.T) {
	t.Parallel()
	env, eng, id := recipientsEnv(t)
	c := env.client()
	c.setup("admin password")
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	code, m := apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients?state=failed", "")
	if code != http.StatusOK || m["total"] != float64(1) {
		t.Fatalf("failed filter: %d %v", code, m)
	}
	items := m["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["number"] != "+4915123456789" {
		t.Fatalf("failed recipients %v", items)
	}
	if code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients?state=delivered", ""); code != http.StatusOK || m["total"] != float64(2) {
		t.Fatalf("delivered filter: %d %v", code, m)
	}
	if code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients", ""); code != http.StatusOK || m["total"] != float64(3) {
		t.Fatalf("no filter: %d %v", code, m)
	}
	if code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients?state=bogus", ""); code != http.StatusBadRequest || m["error"].(map[string]any)["field"] != "state" {
		t.Fatalf("bogus state: %d %v", code, m)
	}
	retry := func(number string) (int, map[string]any) {
		return apiCall(t, c, tok, "POST", "/api/v1/campaigns/"+id+"/recipients/"+number+"/retry", "")
	}
	if code, m = retry("%2B4915999999999"); code != http.StatusNotFound {
		t.Fatalf("unknown number: %d %v", code, m)
	}
	if code, m = retry("%2B4915111111111"); code != http.StatusConflict || m["error"].(map[string]any)["code"] != "state" {
		t.Fatalf("delivered number: %d %v", code, m)
	}
	if code, m = apiCall(t, c, tok, "POST", "/api/v1/campaigns/nope/recipients/%2B4915123456789/retry", ""); code != http.StatusNotFound {
		t.Fatalf("unknown campaign: %d %v", code, m)
	}
	if code, m = retry("%2B4915123456789"); code != http.StatusOK || m["id"] != id {
		t.Fatalf("retry one: %d %v", code, m)
	}
	waitAttempt(t, eng, id, 2)
	got, err := eng.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts.Failed != 1 || got.Counts.Delivered != 2 {
		t.Errorf("counts after the retry %+v (the channel fails the number again)", got.Counts)
	}
}
