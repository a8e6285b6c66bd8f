package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

// seasonalPromotion is Meta's example "Create template w/ text header, text
// body, text footer, and 2 quick reply buttons" as a NewTemplate.
func seasonalPromotion() whatsapp.NewTemplate {
	return whatsapp.NewTemplate{Name: "seasonal_promotion_text_only", Language: "en", Category: "MARKETING",
		Components: []whatsapp.NewTemplateComponent{
			{Type: "HEADER", Format: "TEXT", Text: "Our {{1}} is on!", Example: &whatsapp.TemplateExample{HeaderText: []string{"Summer Sale"}}},
			{Type: "BODY", Text: "Shop now through {{1}} and use code {{2}} to get {{3}} off of all merchandise.",
				Example: &whatsapp.TemplateExample{BodyText: [][]string{{"the end of August", "25OFF", "25%"}}}},
			{Type: "FOOTER", Text: "Use the buttons below to manage your marketing subscriptions"},
			{Type: "BUTTONS", Buttons: []whatsapp.NewTemplateButton{{Type: "QUICK_REPLY", Text: "Unsubcribe from Promos"},
				{Type: "QUICK_REPLY", Text: "Unsubscribe from All"}}},
		}}
}

// TestTemplateLifecycle: a template created through the channel has the
// shape of Meta's creation example (testdata/template_examples.yaml) and is
// kept locally as PENDING (not sendable); Meta's approval webhook makes it
// sendable without a sync; deleting it removes it at Meta and locally.
func TestTemplateLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	nt := seasonalPromotion()

	raw, err := os.ReadFile("testdata/template_examples.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ex map[string]any
	if err := yaml.Unmarshal(raw, &ex); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ex["Create template w/ text header, text body, text footer, and 2 quick reply buttons"])
	got, _ := json.Marshal(nt)
	var gv, wv any
	json.Unmarshal(got, &gv)
	json.Unmarshal(want, &wv)
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("creation body\n %s\ndiffers from Meta's example\n %s", got, want)
	}

	ti, err := e.ch.Templates().Create(ctx, nt)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Status != "PENDING" || ti.ID == "" || ti.Vars.Body != 3 || ti.Vars.HeaderParams != 1 {
		t.Errorf("created %+v", ti)
	}
	msg := whatsapp.TemplateMessage(nt.Name, "en", whatsapp.HeaderText("Summer Sale"), whatsapp.BodyText("August", "25OFF", "25%"))
	if _, err := e.ch.SendMessage(ctx, "p-1", "+4915112345333", msg); !errors.Is(err, whatsapp.ErrTemplate) || !strings.Contains(err.Error(), "PENDING") {
		t.Errorf("pending template: %v", err)
	}
	if err := e.emu.SetTemplateStatus(ctx, nt.Name, "en", "APPROVED", "NONE", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.SendMessage(ctx, "p-2", "+4915112345333", msg); err != nil {
		t.Errorf("approved template: %v", err)
	}
	if _, err := e.ch.Templates().Create(ctx, nt); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second creation: %v", err)
	}
	if err := e.ch.Templates().Delete(ctx, nt.Name, "en"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.ch.Templates().Get(nt.Name, "en"); ok {
		t.Error("deleted template still in the local copy")
	}
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.ch.Templates().Get(nt.Name, "en"); ok {
		t.Error("deleted template still at Meta (emulator)")
	}
}

// TestNewTemplateCheck: the channel names the field of a template Meta
// would refuse, before sending it.
func TestNewTemplateCheck(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		edit func(*whatsapp.NewTemplate)
		want string
	}{
		"name":        {func(n *whatsapp.NewTemplate) { n.Name = "Sommer Aktion" }, "name:"},
		"category":    {func(n *whatsapp.NewTemplate) { n.Category = "PROMO" }, "category:"},
		"no sample":   {func(n *whatsapp.NewTemplate) { n.Components[1].Example = nil }, "components[1] (BODY): needs one sample value for each of its 3"},
		"adjacent":    {func(n *whatsapp.NewTemplate) { n.Components[1].Text = "Shop {{1}}{{2}} now {{3}}." }, "side by side"},
		"order":       {func(n *whatsapp.NewTemplate) { n.Components[1].Text = "Shop {{2}} and {{1}} or {{3}}." }, "in order"},
		"end":         {func(n *whatsapp.NewTemplate) { n.Components[1].Text = "Shop {{1}} and {{2}} off {{3}}" }, "start or end"},
		"long footer": {func(n *whatsapp.NewTemplate) { n.Components[2].Text = strings.Repeat("x", 61) }, "components[2] (FOOTER)"},
		"two bodies":  {func(n *whatsapp.NewTemplate) { n.Components = append(n.Components, n.Components[1]) }, "2 BODY"},
		"button text": {func(n *whatsapp.NewTemplate) { n.Components[3].Buttons[0].Text = strings.Repeat("x", 26) }, "buttons[0]"},
	}
	if err := seasonalPromotion().Check(); err != nil {
		t.Fatalf("Meta's example refused: %v", err)
	}
	for name, c := range cases {
		nt := seasonalPromotion()
		c.edit(&nt)
		if err := nt.Check(); !errors.Is(err, whatsapp.ErrTemplate) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
