package web

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/campaign"
)

// TestCampaignBulk: several campaigns at once through the API (each one's
// outcome listed, an unknown one does not stop the others) and the
// portal's list (ticked campaigns, delete behind the confirmation, German).
func TestCampaignBulk(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, engine := withEngine(t, &env)
	env = newEnv(t, opt)
	admin := env.client()
	admin.setup("admin password")
	admin.lang = "de"
	admin.get("/lang/de")
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"Eins", "Zwei", "Drei"} {
		code, m := apiCall(t, admin, tok, "POST", "/api/v1/campaigns", `{"name":"`+name+`","channel":"gsm","numbers":["+4915112345678"],"text":"hi","send":"draft"}`)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		ids = append(ids, m["id"].(string))
	}
	exists := func(id string) bool {
		_, err := engine().Get(context.Background(), id)
		if err != nil && !errors.Is(err, campaign.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	code, m := apiCall(t, admin, tok, "POST", "/api/v1/campaigns/bulk", `{"action":"duplicate","ids":["`+ids[0]+`","nope","`+ids[1]+`","`+ids[0]+`"]}`)
	if code != http.StatusOK || m["done"] != float64(2) || m["failed"] != float64(1) {
		t.Fatalf("bulk duplicate: %d %v", code, m)
	}
	items := m["items"].([]any)
	first, missing := items[0].(map[string]any), items[1].(map[string]any)
	copyID, _ := first["new_id"].(string)
	if first["ok"] != true || copyID == "" || !exists(copyID) || missing["code"] != "not_found" || len(items) != 3 {
		t.Fatalf("bulk duplicate items: %v", items)
	}
	for _, bad := range []string{`{"action":"explode","ids":["` + ids[0] + `"]}`, `{"action":"delete","ids":[]}`} {
		if code, m := apiCall(t, admin, tok, "POST", "/api/v1/campaigns/bulk", bad); code != http.StatusUnprocessableEntity {
			t.Fatalf("bulk %s: %d %v", bad, code, m)
		}
	}
	code, m = apiCall(t, admin, tok, "POST", "/api/v1/campaigns/bulk", `{"action":"delete","ids":["`+ids[0]+`","`+copyID+`"]}`)
	if code != http.StatusOK || m["done"] != float64(2) || exists(ids[0]) || exists(copyID) {
		t.Fatalf("bulk delete: %d %v", code, m)
	}

	// The portal: a checkbox a row; deleting the ticked ones asks first.
	page := admin.get("/campaigns")
	mustContain(t, page.body, `id="pick-`+ids[1]+`"`, `form="campaign-bulk"`, `formaction="/campaigns/bulk-delete"`, "Angekreuzte löschen")
	csrf := admin.token(csrfRE)
	r := admin.post("/campaigns/bulk-delete", formVals("csrf_token", csrf, "id", ids[1], "id", ids[2]))
	mustContain(t, r.body, `id="confirm-page"`, "Ja, die angekreuzten Kampagnen", `value="`+ids[1]+`"`, `value="`+ids[2]+`"`)
	if !exists(ids[1]) || !exists(ids[2]) {
		t.Fatal("deleted without confirmation")
	}
	r = admin.post("/campaigns/bulk-delete", formVals("csrf_token", csrf, "id", ids[1], "id", ids[2], "confirm", "yes"))
	if r.code != http.StatusSeeOther || exists(ids[1]) || exists(ids[2]) {
		t.Fatalf("confirmed bulk delete: %d", r.code)
	}
	mustContain(t, admin.get("/campaigns").body, "Angekreuzte Kampagnen gelöscht.")
	// Nothing ticked: said so, nothing happens.
	r = admin.post("/campaigns/bulk", formVals("csrf_token", csrf, "action", "stop"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("empty bulk: %d", r.code)
	}
	mustContain(t, admin.get("/campaigns").body, "Keine Kampagne angekreuzt")
}
