package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// orderConfirmation is a template with named parameters in the shape
// Meta's template documentation gives for parameter_format NAMED (body
// "{{customer_name}} … {{order_number}}", example body_text_named_params).
// Meta's v23.0 OpenAPI description in ../shared/whatsapp does not describe
// parameter_name at all: its TextParameter schema requires type and text
// and does not forbid further properties, so a parameter with
// parameter_name still validates against it.
var orderConfirmation = waemu.Template{ID: "700000000000100", Name: "order_confirmation", Language: "en_US",
	Status: "APPROVED", Category: "UTILITY", ParameterFormat: "NAMED",
	Components: []waemu.TemplateComponent{{Type: "BODY",
		Text: "Hi {{customer_name}}, your order {{order_number}} has been confirmed!"}}}

type sentTemplate struct {
	Template struct {
		Components []struct {
			Type       string `json:"type"`
			Parameters []struct {
				Type          string `json:"type"`
				ParameterName string `json:"parameter_name"`
				Text          string `json:"text"`
			} `json:"parameters"`
		} `json:"components"`
	} `json:"template"`
}

// TestNamedTemplateParameters: a NAMED template is sent with
// parameter_name on each body parameter, positional ones without; wrong
// names are refused before anything is sent, and the emulator refuses
// what Meta refuses.
func TestNamedTemplateParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true})
	ctx := context.Background()
	e.emu.AddTemplate(orderConfirmation)
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	info, ok := e.ch.Templates().Get("order_confirmation", "en_US")
	if !ok || !info.Vars.Named || strings.Join(info.Vars.BodyNames, ",") != "customer_name,order_number" {
		t.Fatalf("synced template %+v", info.Vars)
	}
	if _, err := e.ch.SendMessage(ctx, "n1", "4917100000001",
		whatsapp.TemplateMessage("order_confirmation", "en_US", whatsapp.BodyText("Jessica", "SKBUP2-4CPIG9"))); err != nil {
		t.Fatalf("named template: %v", err)
	}
	sent := e.emu.Sent()
	var st sentTemplate
	if err := json.Unmarshal(sent[len(sent)-1].Body, &st); err != nil {
		t.Fatal(err)
	}
	ps := st.Template.Components[0].Parameters
	if len(ps) != 2 || ps[0].ParameterName != "customer_name" || ps[0].Text != "Jessica" ||
		ps[1].ParameterName != "order_number" || ps[1].Text != "SKBUP2-4CPIG9" {
		t.Errorf("sent parameters %+v", ps)
	}
	// Positional templates stay without names.
	if _, err := e.ch.SendMessage(ctx, "p1", "4917100000001", promo("Anna")); err != nil {
		t.Fatal(err)
	}
	sent = e.emu.Sent()
	if bytes.Contains(sent[len(sent)-1].Body, []byte("parameter_name")) {
		t.Errorf("positional template sent with parameter_name: %s", sent[len(sent)-1].Body)
	}
	// A name the template does not have is refused locally.
	wrong := whatsapp.BodyText("Jessica", "SKBUP2-4CPIG9")
	wrong.Parameters[1].ParameterName = "order_id"
	_, err := e.ch.SendMessage(ctx, "n2", "4917100000001", whatsapp.TemplateMessage("order_confirmation", "en_US", wrong))
	if !errors.Is(err, whatsapp.ErrTemplate) || !strings.Contains(err.Error(), "order_id") {
		t.Errorf("wrong name: %v", err)
	}
	// Campaigns send their values under the variable names.
	cc := e.ch.ForCampaigns(nil)
	err = cc.SendTemplate(ctx, message.Outbound{ID: "c1", To: "4917100000002"}, campaign.TemplateMessage{Name: "order_confirmation",
		Language: "en_US", Params: []campaign.Param{{Name: "customer_name", Value: "Uwe"}, {Name: "order_number", Value: "A-7"}}})
	if err != nil {
		t.Fatalf("campaign send: %v", err)
	}
	sent = e.emu.Sent()
	if b := sent[len(sent)-1].Body; !bytes.Contains(b, []byte(`"parameter_name":"order_number","text":"A-7"`)) {
		t.Errorf("campaign body %s", b)
	}

	// The emulator enforces the rule on the wire.
	post := func(params string) (int, string) {
		body := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"4917100000003","type":"template",` +
			`"template":{"name":"order_confirmation","language":{"code":"en_US"},"components":[{"type":"body","parameters":[` + params + `]}]}}`
		req, _ := http.NewRequest(http.MethodPost, e.emuSrv.URL+"/v23.0/"+e.opts.PhoneNumberID+"/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.opts.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := post(`{"type":"text","text":"Jessica"},{"type":"text","text":"X"}`); code == 200 || !strings.Contains(b, "parameter_name") {
		t.Errorf("emulator accepted named template without parameter_name: %d %s", code, b)
	}
	if code, b := post(`{"type":"text","parameter_name":"customer_name","text":"J"},{"type":"text","parameter_name":"order_id","text":"X"}`); code == 200 {
		t.Errorf("emulator accepted an unknown parameter_name: %s", b)
	}
	if code, b := post(`{"type":"text","parameter_name":"order_number","text":"X"},{"type":"text","parameter_name":"customer_name","text":"J"}`); code != 200 {
		t.Errorf("emulator refused named parameters in another order: %d %s", code, b)
	}
}
