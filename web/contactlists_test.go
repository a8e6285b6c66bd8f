package web

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// withListEngine is withEngine with contact lists (campaign.Config.Lists).
func withListEngine(t *testing.T) (envOption, *reportingChannel, func() *campaign.Engine) {
	ch := &reportingChannel{name: "gsm", reject: map[string]bool{}, sent: map[string]bool{}}
	var eng *campaign.Engine
	opt := func(d *Deps) {
		chans := map[string]campaign.Channel{"gsm": ch}
		var err error
		eng, err = campaign.New(campaign.Config{Store: d.Store, Channels: chans, Logger: slog.New(slog.DiscardHandler),
			Location: time.UTC, Region: "DE", DNC: recipients.NewLists(d.Store), Lists: recipients.NewContactLists(d.Store)})
		if err != nil {
			t.Fatal(err)
		}
		ch.eng = eng
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		d.Campaigns = EngineCampaigns(eng, chans)
	}
	return opt, ch, func() *campaign.Engine { return eng }
}

const listAPICSV = "name,phone,amount_owed,city\nAnna,0151 10000001,120.50,Berlin\nBernd,0151 10000002,1500,Hamburg\nClara,0151 10000003,99,Berlin\nDora,0151 10000004,abc,Berlin\n"

func TestAPIContactListCampaign(t *testing.T) {
	t.Parallel()
	opt, _, engine := withListEngine(t)
	env, _, op := newAPIEnv(t, opt)

	// Import (raw CSV body) and add through the API.
	var imp struct {
		List  recipients.ContactList `json:"list"`
		Added int                    `json:"added"`
	}
	r := op.call("POST", "/contact-lists/debtors/import", listAPICSV, "text/csv")
	jsonInto(t, r, http.StatusCreated, &imp)
	if imp.Added != 4 || imp.List.Contacts != 4 || !slices.Contains(imp.List.Columns, "amount_owed") {
		t.Fatalf("import: %+v", imp)
	}
	var added struct {
		Added      int                    `json:"added"`
		Duplicates []recipients.Duplicate `json:"duplicates"`
		Invalid    []recipients.Problem   `json:"invalid"`
	}
	op.ok("POST", "/contact-lists/debtors/contacts", `{"contacts":[{"number":"0151 10000005","fields":{"name":"Emil","amount_owed":"700","city":"Berlin"}},{"number":"0151 10000001"},{"number":"xyz"}]}`, http.StatusCreated, &added)
	if added.Added != 1 || len(added.Duplicates) != 1 || len(added.Invalid) != 1 {
		t.Fatalf("add: %+v", added)
	}
	wantAPIError(t, op.call("POST", "/contact-lists/debtors/contacts", `{"contacts":[]}`), http.StatusUnprocessableEntity, "required", "contacts")
	if !env.auditHas("contact_list.import", "debtors") {
		t.Error("import not audited")
	}

	// A campaign from the list: Berlin, numeric debt, highest first; Dora's
	// "abc" is no number and does not pass "greater than 50".
	list := `"list":{"name":"debtors","always_running":true,"query":{"filters":[{"column":"city","op":"equals","value":"berlin"},{"column":"amount_owed","op":"greater","value":"50","numeric":true}],"sort":[{"column":"amount_owed","descending":true,"numeric":true}]}}`
	var cd campaignAnswer
	op.ok("POST", "/campaigns", `{"name":"Mahnung","channel":"gsm","text":"Hallo {{name}}","send":"draft",`+list+`}`, http.StatusCreated, &cd)
	if want := []string{"+4915110000005", "+4915110000001", "+4915110000003"}; !slices.Equal(apiNumbers(op, cd.ID), want) {
		t.Fatalf("recipients %v, want %v", apiNumbers(op, cd.ID), want)
	}
	if cd.List == nil || !cd.List.AlwaysRunning || len(cd.List.Query.Sort) != 1 {
		t.Fatalf("detail list %+v", cd.List)
	}
	if n := apiCampaignCount(op); n != 1 {
		t.Fatalf("%d campaigns after one create", n)
	}

	// Bad lists and filters are refused with the field.
	wantAPIError(t, op.call("POST", "/campaigns", `{"name":"x","channel":"gsm","text":"Hallo","list":{"name":"nope"}}`), http.StatusUnprocessableEntity, "not_found", "list")
	wantAPIError(t, op.call("POST", "/campaigns", `{"name":"x","channel":"gsm","text":"Hallo","list":{"name":"debtors","query":{"filters":[{"column":"city","op":"like","value":"B"}]}}}`), http.StatusUnprocessableEntity, "invalid", "list")

	// Sent now it keeps running and takes the contact added later.
	op.ok("POST", "/campaigns/"+cd.ID+"/start", "", http.StatusOK, nil)
	eng := engine()
	waitCampaign(t, eng, func(c campaign.Campaign) bool { return c.Counts.Sent+c.Counts.Delivered == 3 }, cd.ID)
	op.ok("POST", "/contact-lists/debtors/contacts", `{"contacts":[{"number":"0151 10000006","fields":{"name":"Fritz","amount_owed":"60","city":"Berlin"}}]}`, http.StatusCreated, nil)
	c := waitCampaign(t, eng, func(c campaign.Campaign) bool { return c.Counts.Sent+c.Counts.Delivered == 4 }, cd.ID)
	if c.State != campaign.Running || c.Recipients != 4 {
		t.Fatalf("always-running campaign: %s with %d recipients", c.State, c.Recipients)
	}
}

func waitCampaign(t *testing.T, eng *campaign.Engine, cond func(campaign.Campaign) bool, id string) campaign.Campaign {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changes := eng.Changes()
		c, err := eng.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(c) {
			return c
		}
		select {
		case <-changes:
		case <-deadline:
			t.Fatalf("campaign %s: condition not met (%s, %+v)", id, c.State, c.Counts)
		}
	}
}

func TestPortalContactListCampaignGermanAndEnglish(t *testing.T) {
	t.Parallel()
	opt, _, engine := withListEngine(t)
	env := newEnv(t, opt)
	c := env.client()
	c.setup("admin password")
	if _, _, err := recipients.NewContactLists(env.store).ImportCSV(context.Background(), "Schuldner", strings.NewReader(listAPICSV), recipients.CSVOptions{Region: "DE"}, false); err != nil {
		t.Fatal(err)
	}
	r := c.get("/contacts/lists")
	mustContain(t, r.body, "Contact lists", "Schuldner", "amount_owed")
	tok := c.csrf("/campaigns/new")
	mustContain(t, c.body, "Always running", "Sort by", `name="filter_col_4"`, `name="sort_col_4"`, "is not empty", "Schuldner (4 contacts")

	fields := map[string]string{"csrf_token": tok, "name": "Mahnung", "sender": "gsm|sim1", "text": "Hallo {{name}}", "send": "now",
		"list": "Schuldner", "filter_col_1": "amount_owed", "filter_op_1": "greater", "filter_val_1": "viel", "filter_num_1": "1",
		"sort_col_1": "amount_owed", "sort_dir_1": "desc", "sort_num_1": "1", "always_running": "1"}
	r = c.postMultipart("/campaigns/new", multipartForm{fields: fields})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("bad filter: %d", r.code)
	}
	mustContain(t, r.body, `filter 1 is numeric but &#34;viel&#34; is not a number`, `value="Mahnung"`)

	c.lang = "de"
	c.get("/lang/de")
	tok = c.csrf("/campaigns/new")
	mustContain(t, c.body, "Immer laufen", "Kontakte sortieren nach", "ist nicht leer")
	fields["csrf_token"] = tok
	r = c.postMultipart("/campaigns/new", multipartForm{fields: fields})
	mustContain(t, r.body, "Filter 1 ist numerisch, aber „viel“ ist keine Zahl")

	fields["filter_val_1"] = "100"
	r = c.postMultipart("/campaigns/new", multipartForm{fields: fields})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %q %s", r.code, r.location, r.body)
	}
	got := waitCampaign(t, engine(), func(c campaign.Campaign) bool { return c.Counts.Sent+c.Counts.Delivered == 2 }, m[1])
	if got.State != campaign.Running || got.Spec.List == nil || !got.Spec.List.AlwaysRunning {
		t.Fatalf("campaign %s list %+v", got.State, got.Spec.List)
	}
	r = c.get("/campaigns/" + m[1])
	mustContain(t, r.body, "Schuldner", "1 Filter", "Immer laufen")
}
