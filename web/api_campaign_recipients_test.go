package web

import (
	"context"
	"net/http"
	"slices"
	"strings"
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
	// Search by a part of the number, alone, with the state filter and
	// with paging; spaces in the search are ignored.
	for _, tc := range []struct {
		query string
		total int
		want  []string
	}{
		{"number=2345", 1, []string{"+4915123456789"}},
		{"number=%2B4915", 3, []string{"+4915111111111", "+4915123456789", "+4915222222222"}},
		{"number=151%2011", 1, []string{"+4915111111111"}},
		{"number=15&state=delivered", 2, []string{"+4915111111111", "+4915222222222"}},
		{"number=2345&state=delivered", 0, nil},
		{"number=15&state=delivered&offset=1&limit=1", 2, []string{"+4915222222222"}},
		{"number=999999", 0, nil},
	} {
		code, m := apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients?"+tc.query, "")
		if code != http.StatusOK || m["total"] != float64(tc.total) {
			t.Fatalf("search %s: %d %v, want total %d", tc.query, code, m, tc.total)
		}
		var got []string
		for _, it := range m["items"].([]any) {
			got = append(got, it.(map[string]any)["number"].(string))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("search %s: numbers %q, want %q", tc.query, got, tc.want)
		}
	}
	// Failure reasons grouped with counts; each key filters the list.
	code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients/reasons", "")
	if code != http.StatusOK {
		t.Fatalf("reasons: %d %v", code, m)
	}
	reasons := m["items"].([]any)
	if len(reasons) != 1 {
		t.Fatalf("reasons %v, want one (the modem's +CMS ERROR 38)", reasons)
	}
	r0 := reasons[0].(map[string]any)
	if r0["count"] != float64(1) || !strings.Contains(r0["reason"].(string), "network out of order") || r0["key"] == "" {
		t.Fatalf("reason %v, want network out of order with count 1", r0)
	}
	if code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients?reason="+r0["key"].(string), ""); code != http.StatusOK || m["total"] != float64(1) ||
		m["items"].([]any)[0].(map[string]any)["number"] != "+4915123456789" {
		t.Fatalf("reason filter: %d %v", code, m)
	}
	if code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients?reason=nokey", ""); code != http.StatusOK || m["total"] != float64(0) {
		t.Fatalf("unknown reason key: %d %v", code, m)
	}
	if code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/"+id+"/recipients?state=delivered&reason="+r0["key"].(string), ""); code != http.StatusOK || m["total"] != float64(0) {
		t.Fatalf("reason with state delivered: %d %v", code, m)
	}
	if code, m = apiCall(t, c, tok, "GET", "/api/v1/campaigns/nope/recipients/reasons", ""); code != http.StatusNotFound {
		t.Fatalf("reasons of an unknown campaign: %d %v", code, m)
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
	// A selection: refused whole when it holds a delivered or an unknown
	// number, or nothing.
	sel := func(body string) (int, map[string]any) {
		return apiCall(t, c, tok, "POST", "/api/v1/campaigns/"+id+"/recipients/retry", body)
	}
	if code, m = sel(`{"numbers":["+4915123456789","+4915111111111"]}`); code != http.StatusConflict || m["error"].(map[string]any)["code"] != "state" {
		t.Fatalf("selection with a delivered number: %d %v", code, m)
	}
	if code, m = sel(`{"numbers":["+4915123456789","+4915999999999"]}`); code != http.StatusNotFound {
		t.Fatalf("selection with an unknown number: %d %v", code, m)
	}
	if code, m = sel(`{"numbers":[]}`); code != http.StatusBadRequest || m["error"].(map[string]any)["field"] != "numbers" {
		t.Fatalf("empty selection: %d %v", code, m)
	}
	if got, _ := eng.Get(context.Background(), id); got.Attempt != 1 {
		t.Fatalf("a refused selection retried: attempt %d", got.Attempt)
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
	if code, m = sel(`{"numbers":["+4915123456789"]}`); code != http.StatusOK || m["id"] != id {
		t.Fatalf("retry the selection: %d %v", code, m)
	}
	waitAttempt(t, eng, id, 3)

}
