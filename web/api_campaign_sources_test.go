package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// sourcesCSV has a bad row on line 3 and a number twice (line 5).
const sourcesCSV = "name;phone\nAnna;0171 1234567\nBernd;12\nClara;0151 23456789\nAnna2;+491711234567\n"

// campaignAnswer is POST/PUT /campaigns' answer.
type campaignAnswer struct {
	app.CampaignDetail
	Skipped []recipients.FieldProblem `json:"skipped"`
}

// recipientsRefused is the 422 for invalid rows or excluded members.
type recipientsRefused struct {
	Error struct {
		Code, Message, Field string
		Problems             []recipients.FieldProblem `json:"problems"`
	} `json:"error"`
}

func refused(t *testing.T, r resp, code, field string) recipientsRefused {
	t.Helper()
	wantAPIError(t, r, http.StatusUnprocessableEntity, code, field)
	var e recipientsRefused
	jsonInto(t, r, http.StatusUnprocessableEntity, &e)
	return e
}

// apiNumbers are campaign id's recipient numbers, in order.
func apiNumbers(a *apiClient, id string) []string {
	a.t.Helper()
	var p app.Page[app.RecipientResult]
	a.ok("GET", "/campaigns/"+id+"/recipients", "", http.StatusOK, &p)
	var out []string
	for _, r := range p.Items {
		out = append(out, r.Number)
	}
	return out
}

func apiCampaignCount(a *apiClient) int {
	a.t.Helper()
	var p app.Page[app.CampaignSummary]
	a.ok("GET", "/campaigns", "", http.StatusOK, &p)
	return p.Total
}

// campaignJSON is a draft SMS campaign on the test engine's channel with
// the recipient fields extra (a JSON object's members, without braces).
func campaignJSON(name, extra string) string {
	return `{"name":"` + name + `","channel":"gsm","text":"Hallo","send":"draft",` + extra + `}`
}

func TestAPICampaignFromInlineCSV(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env, _, op := newAPIEnv(t, opt)
	csvJSON, _ := json.Marshal(sourcesCSV)

	// The bad row is refused with its line, column and source; nothing is
	// created.
	e := refused(t, op.call("POST", "/campaigns", campaignJSON("CSV", `"csv":`+string(csvJSON))), "invalid_rows", "csv")
	if len(e.Error.Problems) != 1 {
		t.Fatalf("problems %+v, want the one bad row", e.Error.Problems)
	}
	if p := e.Error.Problems[0]; p.Field != "csv" || p.Line != 3 || p.Column != "phone" || p.Input != "12" || p.ReasonCode.IsZero() {
		t.Fatalf("problem %+v, want line 3, column phone, input 12, a reason code", p)
	}
	if !strings.Contains(e.Error.Message, "line 3") || !strings.Contains(e.Error.Message, "skip_invalid") {
		t.Errorf("message %q does not name the line and the way out", e.Error.Message)
	}
	if n := apiCampaignCount(op); n != 0 {
		t.Fatalf("%d campaigns created from a refused CSV", n)
	}

	// skip_invalid: the valid rows, the duplicate and a typed number that
	// is also in the file once; the answer lists what was skipped.
	var cd campaignAnswer
	op.ok("POST", "/campaigns", campaignJSON("CSV", `"csv":`+string(csvJSON)+`,"numbers":["0151 23456789","0160 9876543"],"skip_invalid":true`), http.StatusCreated, &cd)
	if cd.Total != 3 {
		t.Fatalf("total %d, want 3 (2 from the file, 1 typed only)", cd.Total)
	}
	if want := []string{"+4915123456789", "+491609876543", "+491711234567"}; !slices.Equal(apiNumbers(op, cd.ID), want) {
		t.Fatalf("recipients %q, want %q", apiNumbers(op, cd.ID), want)
	}
	if len(cd.Skipped) != 1 || cd.Skipped[0].Line != 3 || cd.Skipped[0].Field != "csv" {
		t.Fatalf("skipped %+v, want line 3 of the csv", cd.Skipped)
	}

	// The same policy for typed numbers; a clean request skips nothing.
	e = refused(t, op.call("POST", "/campaigns", campaignJSON("typed", `"numbers":["0171 1234567","abc"]`)), "invalid_rows", "numbers")
	if len(e.Error.Problems) != 1 || e.Error.Problems[0].Line != 2 || e.Error.Problems[0].Field != "numbers" {
		t.Fatalf("typed problems %+v, want numbers line 2", e.Error.Problems)
	}
	op.ok("POST", "/campaigns", campaignJSON("clean", `"numbers":["0171 1234567"]`), http.StatusCreated, &cd)
	if cd.Skipped == nil || len(cd.Skipped) != 0 || cd.Total != 1 {
		t.Fatalf("clean campaign: total %d, skipped %v", cd.Total, cd.Skipped)
	}

	// File-level refusals name the csv field.
	wantAPIError(t, op.call("POST", "/campaigns", campaignJSON("x", `"csv":"a;b\nx;y\n"`)), http.StatusUnprocessableEntity, "no_phone_column", "csv")
	wantAPIError(t, op.call("POST", "/campaigns", campaignJSON("x", `"csv":"name;phone\nAnna;12\n","skip_invalid":true`)), http.StatusUnprocessableEntity, "required", "numbers")
	wantAPIError(t, op.call("POST", "/campaigns", campaignJSON("x", `"csv":"phone\n0171 1234567\n","phone_columns":["fax"]`)), http.StatusUnprocessableEntity, "no_phone_column", "csv")

	// PUT takes the same sources; a draft's recipients are replaced.
	op.ok("PUT", "/campaigns/"+cd.ID, campaignJSON("clean", `"csv":`+string(csvJSON)+`,"skip_invalid":true`), http.StatusOK, &cd)
	if cd.Total != 2 || len(cd.Skipped) != 1 {
		t.Fatalf("edited: total %d, skipped %+v", cd.Total, cd.Skipped)
	}
	refused(t, op.call("PUT", "/campaigns/"+cd.ID, campaignJSON("clean", `"csv":`+string(csvJSON))), "invalid_rows", "csv")
}

// campaignUpload is a multipart campaign: JSON part "campaign" and, unless
// empty, the CSV as part "file".
func campaignUpload(a *apiClient, method, path, campaignJSON, file string) resp {
	a.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("campaign", campaignJSON)
	if file != "" {
		fw, _ := w.CreateFormFile("file", "recipients.csv")
		fw.Write([]byte(file))
	}
	w.Close()
	return a.c.do(method, "/api/v1"+path, &buf, map[string]string{"Authorization": "Bearer " + a.tok, "Content-Type": w.FormDataContentType()})
}

func TestAPICampaignCSVUpload(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env, _, op := newAPIEnv(t, opt)

	e := refused(t, campaignUpload(op, "POST", "/campaigns", campaignJSON("Upload", `"numbers":[]`), sourcesCSV), "invalid_rows", "file")
	if len(e.Error.Problems) != 1 || e.Error.Problems[0].Line != 3 || e.Error.Problems[0].Field != "file" {
		t.Fatalf("problems %+v, want line 3 of the file", e.Error.Problems)
	}
	var cd campaignAnswer
	jsonInto(t, campaignUpload(op, "POST", "/campaigns", campaignJSON("Upload", `"skip_invalid":true`), sourcesCSV), http.StatusCreated, &cd)
	if cd.Total != 2 || cd.Name != "Upload" || len(cd.Skipped) != 1 || cd.Skipped[0].Field != "file" {
		t.Fatalf("uploaded: total %d, name %q, skipped %+v", cd.Total, cd.Name, cd.Skipped)
	}
	if want := []string{"+491711234567", "+4915123456789"}; !slices.Equal(apiNumbers(op, cd.ID), want) {
		t.Fatalf("recipients %q, want %q", apiNumbers(op, cd.ID), want)
	}
	// PUT as multipart replaces a draft's recipients.
	jsonInto(t, campaignUpload(op, "PUT", "/campaigns/"+cd.ID, campaignJSON("Upload 2", `"skip_invalid":true`), "phone\n0160 9876543\n"), http.StatusOK, &cd)
	if cd.Total != 1 || cd.Name != "Upload 2" {
		t.Fatalf("edited by upload: %+v", cd)
	}

	wantAPIError(t, campaignUpload(op, "POST", "/campaigns", campaignJSON("x", `"csv":"phone\n0171 1234567\n"`), sourcesCSV), http.StatusUnprocessableEntity, "invalid", "file")
	wantAPIError(t, campaignUpload(op, "POST", "/campaigns", campaignJSON("x", `"numbers":[]`), "\x89PNG\x00\x00\x00\x01"), http.StatusUnprocessableEntity, "not_text", "file")
	wantAPIError(t, campaignUpload(op, "POST", "/campaigns", `{"name":`, sourcesCSV), http.StatusBadRequest, "bad_json", "")
	// Without a file the JSON part alone is a campaign.
	jsonInto(t, campaignUpload(op, "POST", "/campaigns", campaignJSON("nur JSON", `"numbers":["0171 1234567"]`), ""), http.StatusCreated, &cd)
	if cd.Total != 1 {
		t.Fatalf("multipart without file: %+v", cd)
	}
	// A body over the upload limit is 413.
	big := "phone\n" + strings.Repeat("0171 1234567\n", app.MaxUpload/13+1000)
	if r := campaignUpload(op, "POST", "/campaigns", campaignJSON("big", `"numbers":[]`), big); r.code != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, `"too_large"`) {
		t.Fatalf("oversized upload: %d %.200s", r.code, r.body)
	}
}

func TestAPICampaignFromPhonebookByNumberType(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env, _, op := newAPIEnv(t, opt)
	book := "name;mobile;work\nAnna;0171 1234567;030 1234567\nBernd;0151 23456789;\n"
	if _, err := recipients.NewPhonebooks(env.store).ImportCSV(context.Background(), "Kunden", strings.NewReader(book), recipients.CSVOptions{Region: "DE"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		types string
		want  []string
	}{
		{`["mobile"]`, []string{"+491711234567", "+4915123456789"}},
		{`["work"]`, []string{"+49301234567"}},
		{`["mobile","work"]`, []string{"+491711234567", "+49301234567", "+4915123456789"}},
	} {
		var cd campaignAnswer
		op.ok("POST", "/campaigns", campaignJSON("Kunden "+strings.NewReplacer(`"`, "", "[", "", "]", "").Replace(tc.types), `"phonebook":"Kunden","number_type":`+tc.types), http.StatusCreated, &cd)
		if got := apiNumbers(op, cd.ID); !slices.Equal(got, tc.want) {
			t.Errorf("number_type %s: recipients %q, want %q", tc.types, got, tc.want)
		}
	}
	// As the form: a number type is needed; unknown ones and phonebooks are
	// named.
	wantAPIError(t, op.call("POST", "/campaigns", campaignJSON("x", `"phonebook":"Kunden"`)), http.StatusUnprocessableEntity, "required", "number_type")
	wantAPIError(t, op.call("POST", "/campaigns", campaignJSON("x", `"phonebook":"Kunden","number_type":["cell"]`)), http.StatusUnprocessableEntity, "invalid", "number_type")
	wantAPIError(t, op.call("POST", "/campaigns", campaignJSON("x", `"phonebook":"Nope","number_type":["mobile"]`)), http.StatusUnprocessableEntity, "not_found", "phonebook")
}

func TestAPICampaignFromGroupExcludesOptedOut(t *testing.T) {
	t.Parallel()
	var env *testEnv
	var cons *consent.Consent
	opt, _, _ := withEngine(t, &env)
	env, _, op := newAPIEnv(t, opt, func(d *app.Deps) {
		var err error
		if cons, err = consent.New(consent.Config{Store: d.Store, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		d.Consent = cons
	})
	ctx := context.Background()
	if _, err := cons.CreateGroup(ctx, "Angebote", ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"+4915111111111", "+4915122222222", "+4915133333333"} {
		if err := cons.Join(ctx, "Angebote", n, consent.SourceManual); err != nil {
			t.Fatal(err)
		}
	}
	if err := cons.OptOut(ctx, "+4915122222222", "STOP", "sms"); err != nil {
		t.Fatal(err)
	}

	e := refused(t, op.call("POST", "/campaigns", campaignJSON("Gruppe", `"group":"Angebote"`)), "group_excluded", "group")
	if len(e.Error.Problems) != 1 {
		t.Fatalf("problems %+v, want the opted-out member", e.Error.Problems)
	}
	if p := e.Error.Problems[0]; p.Field != "group" || p.Input != "+4915122222222" || p.ReasonCode.IsZero() || !strings.Contains(p.Reason, "STOP") {
		t.Fatalf("excluded member %+v, want +4915122222222 opted out with a reason code", p)
	}
	if n := apiCampaignCount(op); n != 0 {
		t.Fatalf("%d campaigns created with excluded members not skipped", n)
	}

	var cd campaignAnswer
	op.ok("POST", "/campaigns", campaignJSON("Gruppe", `"group":"Angebote","numbers":["+4915111111111"],"skip_invalid":true`), http.StatusCreated, &cd)
	if want := []string{"+4915111111111", "+4915133333333"}; !slices.Equal(apiNumbers(op, cd.ID), want) {
		t.Fatalf("recipients %q, want %q (the typed number once, the opted-out one left out)", apiNumbers(op, cd.ID), want)
	}
	if len(cd.Skipped) != 1 || cd.Skipped[0].Input != "+4915122222222" || cd.Skipped[0].Field != "group" {
		t.Fatalf("skipped %+v", cd.Skipped)
	}
	wantAPIError(t, op.call("POST", "/campaigns", campaignJSON("x", `"group":"Nope"`)), http.StatusUnprocessableEntity, "not_found", "group")
}

// csvPreviewAnswer is POST /campaigns/preview-csv's answer.
type csvPreviewAnswer struct {
	Delimiter  string              `json:"delimiter"`
	HasHeader  bool                `json:"has_header"`
	Lines      int                 `json:"lines"`
	Columns    []recipients.Column `json:"columns"`
	Rows       [][]string          `json:"rows"`
	Valid      int                 `json:"valid"`
	Invalid    int                 `json:"invalid"`
	Duplicates int                 `json:"duplicates"`
	Problems   []recipients.Problem
	FileProb   *struct{ Code, Message string } `json:"file_problem"`
}

func TestAPICampaignPreviewCSV(t *testing.T) {
	t.Parallel()
	_, _, op := newAPIEnv(t)
	long := sourcesCSV + "Dora;0160 1111111\nEmil;0160 2222222\nFrida;0160 3333333\n"
	body, _ := json.Marshal(map[string]string{"csv": long})

	var p csvPreviewAnswer
	op.ok("POST", "/campaigns/preview-csv", string(body), http.StatusOK, &p)
	if p.Delimiter != ";" || !p.HasHeader || p.Lines != 8 {
		t.Fatalf("layout %+v", p)
	}
	if len(p.Columns) != 2 || p.Columns[0].Phone || !p.Columns[1].Phone || p.Columns[1].Header != "phone" {
		t.Fatalf("columns %+v, want phone detected in column 2", p.Columns)
	}
	if len(p.Rows) != 5 || p.Rows[0][0] != "Anna" || p.Rows[1][1] != "12" {
		t.Fatalf("rows %q, want the first 5", p.Rows)
	}
	if p.Valid != 5 || p.Invalid != 1 || p.Duplicates != 1 || len(p.Problems) != 1 || p.Problems[0].Line != 3 || p.FileProb != nil {
		t.Fatalf("counts: valid %d invalid %d duplicates %d problems %+v file %+v", p.Valid, p.Invalid, p.Duplicates, p.Problems, p.FileProb)
	}

	// Multipart "file", with a chosen phone column.
	in := "name;mobile;work\nAnna;0171 1234567;030 1234567\nBernd;0151 23456789;\n"
	form, ct := fileForm(map[string]string{"phone_columns": "work"}, []byte(in))
	r := op.c.do("POST", "/api/v1/campaigns/preview-csv", form, map[string]string{"Authorization": "Bearer " + op.tok, "Content-Type": ct})
	p = csvPreviewAnswer{}
	jsonInto(t, r, http.StatusOK, &p)
	if len(p.Columns) != 3 || p.Columns[1].Phone || !p.Columns[2].Phone || p.Valid != 1 {
		t.Fatalf("chosen column: columns %+v, valid %d", p.Columns, p.Valid)
	}

	// A file without a phone column previews, saying why it cannot be used.
	p = csvPreviewAnswer{}
	op.ok("POST", "/campaigns/preview-csv", `{"csv":"a;b\nx;y\n"}`, http.StatusOK, &p)
	if p.FileProb == nil || p.FileProb.Code != "no_phone_column" || p.FileProb.Message == "" || len(p.Columns) != 2 {
		t.Fatalf("no phone column: %+v", p)
	}
	wantAPIError(t, op.call("POST", "/campaigns/preview-csv", `{}`), http.StatusUnprocessableEntity, "required", "csv")
	form, ct = fileForm(nil, []byte("\x89PNG\x00\x00\x00\x01"))
	r = op.c.do("POST", "/api/v1/campaigns/preview-csv", form, map[string]string{"Authorization": "Bearer " + op.tok, "Content-Type": ct})
	wantAPIError(t, r, http.StatusUnprocessableEntity, "not_text", "file")
}
