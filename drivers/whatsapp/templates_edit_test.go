package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

// editSchema is the request schema of Meta's editTemplate operation
// (POST /{Version}/{TEMPLATE_ID}, business-messaging-api_v23.0.yaml,
// copied to testdata/template_examples.yaml by testdata/gen) with two
// tightenings: no property outside Meta's list at the top level and in a
// component (additionalProperties:false). A button and a component's
// example stay open: Meta's edit schema lists only type and text of a
// button and body_text of an example, while its creation examples (which
// an edit repeats) use url, phone_number, example and header_text.
func editSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile("testdata/template_examples.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ex map[string]any
	if err := yaml.Unmarshal(raw, &ex); err != nil {
		t.Fatal(err)
	}
	s, ok := ex["Edit template schema"].(map[string]any)
	if !ok {
		t.Fatal("no edit schema in testdata/template_examples.yaml (run testdata/gen)")
	}
	s["additionalProperties"] = false
	s["properties"].(map[string]any)["components"].(map[string]any)["items"].(map[string]any)["additionalProperties"] = false
	b, _ := json.Marshal(s)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("edit.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("edit.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch, ex
}

// fallSale is Meta's "Edit template" example (2023_april_promo, the
// emulator's default template of the same name) as a TemplateEdit.
func fallSale(body string) whatsapp.TemplateEdit {
	return whatsapp.TemplateEdit{Category: "MARKETING", Components: []whatsapp.NewTemplateComponent{
		{Type: "HEADER", Format: "TEXT", Text: "Fall Sale"},
		{Type: "BODY", Text: body, Example: &whatsapp.TemplateExample{BodyText: [][]string{{"Mark", "FALL25"}}}},
		{Type: "FOOTER", Text: "Not interested in any of our sales? Tap Stop Promotions"},
		{Type: "BUTTONS", Buttons: []whatsapp.NewTemplateButton{{Type: "QUICK_REPLY", Text: "Stop promotions"}}},
	}}
}

const fallSaleBody = "Hi {{1}}, our Fall Sale is on! Use promo code {{2}} Get an extra 25% off every order above $350!"

// recordEdits keeps the bodies of template edits (POST /v23.0/{id} to
// anything but a number) on their way to the emulator.
type recordEdits struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (rec *recordEdits) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if r.Method == http.MethodPost && len(parts) == 2 && strings.HasPrefix(parts[1], "9") {
			b, _ := io.ReadAll(r.Body)
			rec.mu.Lock()
			rec.bodies = append(rec.bodies, b)
			rec.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	})
}

// TestTemplateEditBodyMatchesMetaSchema: the body the client puts on the
// wire for an edit validates against Meta's editTemplate request schema
// and equals Meta's "Edit template" example without name and language
// (which an edit cannot change, so the client leaves them out).
func TestTemplateEditBodyMatchesMetaSchema(t *testing.T) {
	t.Parallel()
	sch, ex := editSchema(t)
	// The schema is strict enough to fail: an unknown top-level field and
	// a string where Meta's schema has an array are refused.
	for _, bad := range []string{`{"category":"MARKETING","status":"APPROVED"}`, `{"components":"BODY"}`} {
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if sch.Validate(inst) == nil {
			t.Errorf("schema accepts %s", bad)
		}
	}
	rec := &recordEdits{}
	e := newEnv(t, envConfig{wrap: rec.wrap})
	ctx := context.Background()
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.Templates().Edit(ctx, "2023_april_promo", "en_US", fallSale(fallSaleBody)); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.bodies) != 1 {
		t.Fatalf("%d edit requests, want 1", len(rec.bodies))
	}
	// Category unchanged: not sent.
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(rec.bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("edit body does not match Meta's schema: %v\n %s", err, rec.bodies[0])
	}
	want := ex["Edit template"].(map[string]any)
	delete(want, "name")
	delete(want, "language")
	delete(want, "category")
	wb, _ := json.Marshal(want)
	var gv, wv any
	json.Unmarshal(rec.bodies[0], &gv)
	json.Unmarshal(wb, &wv)
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("edit body\n %s\ndiffers from Meta's example\n %s", rec.bodies[0], wb)
	}
}

// TestTemplateEdit: an approved template edited through the channel goes
// back to PENDING (locally and at Meta) and is not sendable until Meta
// approves it again; what Meta does not allow is refused with the field
// named (a pending or disabled template, a new category of an approved
// one, a body breaking the rules) or with Meta's own explanation (the
// second edit within 24 hours); paused and rejected templates can be
// edited, a paused one also in its category.
func TestTemplateEdit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	tpls := e.ch.Templates()
	if err := tpls.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	const newBody = "Hi {{1}}, our Fall Sale ends soon! Use promo code {{2}} for 30% off."
	ti, err := tpls.Edit(ctx, "2023_april_promo", "en_US", fallSale(newBody))
	if err != nil {
		t.Fatal(err)
	}
	if ti.Status != "PENDING" || ti.Vars.Body != 2 || !strings.Contains(ti.Components[1].Text, "ends soon") {
		t.Errorf("edited %+v", ti)
	}
	msg := whatsapp.TemplateMessage("2023_april_promo", "en_US", whatsapp.BodyText("Mark", "FALL25"))
	if _, err := e.ch.SendMessage(ctx, "e-1", "+4915112345333", msg); !errors.Is(err, whatsapp.ErrTemplate) || !strings.Contains(err.Error(), "PENDING") {
		t.Errorf("send with the edited (pending) template: %v", err)
	}
	if err := tpls.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := tpls.Get("2023_april_promo", "en_US"); got.Status != "PENDING" || !strings.Contains(got.Components[1].Text, "ends soon") {
		t.Errorf("at Meta after the edit: %s %q", got.Status, got.Components[1].Text)
	}
	var fe *whatsapp.TemplateFieldError
	if _, err := tpls.Edit(ctx, "2023_april_promo", "en_US", fallSale(newBody)); !errors.As(err, &fe) || fe.Rule != "edit_status" {
		t.Errorf("edit while pending: %v", err)
	}
	if err := e.emu.SetTemplateStatus(ctx, "2023_april_promo", "en_US", "APPROVED", "NONE", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.SendMessage(ctx, "e-2", "+4915112345333", msg); err != nil {
		t.Errorf("approved again: %v", err)
	}
	// Meta's limit: one edit of an approved template in 24 hours.
	var ae *whatsapp.APIError
	if _, err := tpls.Edit(ctx, "2023_april_promo", "en_US", fallSale(fallSaleBody)); !errors.As(err, &ae) || ae.UserTitle != "Edit limit reached" {
		t.Errorf("second edit within 24 h: %v", err)
	}
	if got, _ := tpls.Get("2023_april_promo", "en_US"); got.Status != "APPROVED" {
		t.Errorf("a refused edit changed the local status to %s", got.Status)
	}
	if _, err := tpls.Edit(ctx, "hello_world", "en_US", whatsapp.TemplateEdit{Category: "MARKETING"}); !errors.As(err, &fe) || fe.Field != "category" || fe.Rule != "edit_category" {
		t.Errorf("category of an approved template: %v", err)
	}
	bad := fallSale("{{1}} our sale, code {{2}}.")
	bad.Category = ""
	if _, err := tpls.Edit(ctx, "appointment_reminder", "de", bad); !errors.As(err, &fe) || fe.Field != "body" {
		t.Errorf("body starting with a variable: %v", err)
	}
	// Paused: editable, category too; rejected: editable; disabled: not.
	paused := whatsapp.TemplateEdit{Category: "UTILITY", Components: []whatsapp.NewTemplateComponent{
		{Type: "BODY", Text: "Sommer-Sale: {{1}} % Rabatt für Sie!", Example: &whatsapp.TemplateExample{BodyText: [][]string{{"20"}}}}}}
	if ti, err := tpls.Edit(ctx, "summer_sale", "de", paused); err != nil || ti.Status != "PENDING" || ti.Category != "UTILITY" {
		t.Errorf("paused template: %+v %v", ti, err)
	}
	if _, err := tpls.Edit(ctx, "old_offer", "de", whatsapp.TemplateEdit{Components: []whatsapp.NewTemplateComponent{{Type: "BODY", Text: "Nur diese Woche!"}}}); err != nil {
		t.Errorf("rejected template: %v", err)
	}
	if _, err := tpls.Edit(ctx, "legacy_notice", "de", whatsapp.TemplateEdit{Components: []whatsapp.NewTemplateComponent{{Type: "BODY", Text: "Neu."}}}); !errors.As(err, &fe) || fe.Rule != "edit_status" {
		t.Errorf("disabled template: %v", err)
	}
	if _, err := tpls.Edit(ctx, "no_such", "de", paused); !errors.Is(err, whatsapp.ErrTemplate) {
		t.Errorf("unknown template: %v", err)
	}
}

// TestNewTemplateOf: a synchronised template turns back into the
// template the edit form starts from, samples included.
func TestNewTemplateOf(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.Templates().Edit(ctx, "2023_april_promo", "en_US", fallSale(fallSaleBody)); err != nil {
		t.Fatal(err)
	}
	ti, _ := e.ch.Templates().Get("2023_april_promo", "en_US")
	nt := whatsapp.NewTemplateOf(ti)
	want := fallSale(fallSaleBody)
	if nt.Name != "2023_april_promo" || nt.Category != "MARKETING" || !reflect.DeepEqual(nt.Components, want.Components) {
		t.Errorf("NewTemplateOf = %+v", nt)
	}
}
