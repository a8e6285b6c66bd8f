package whatsapp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

// shape lists every JSON path of v with the kind of its value; arrays
// collapse to "[]" so the examples' element counts do not matter.
func shape(v any, path string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			shape(c, path+"."+k, out)
		}
	case []any:
		for _, c := range x {
			shape(c, path+"[]", out)
		}
	case string:
		out[path] = "string"
	case float64, json.Number:
		out[path] = "number"
	case bool:
		out[path] = "bool"
	case nil:
		out[path] = "null"
	}
}

func shapeOf(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	out := map[string]string{}
	shape(v, "", out)
	return out
}

func readTestdata(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Keys pbxgate always adds that some of Meta's examples leave out.
var extraKeys = map[string]bool{".recipient_type": true, ".biz_opaque_callback_data": true}

// Templates matching the structure of the template examples (whose names
// and languages are placeholders).
var exampleTemplates = []waemu.Template{
	{ID: "1", Name: "shipping_update", Language: "en_US", Status: "APPROVED", Category: "UTILITY",
		Components: []waemu.TemplateComponent{{Type: "BODY", Text: "Hi {{1}}, you paid {{2}} on {{3}}."}}},
	{ID: "2", Name: "shipping_update_media", Language: "en_US", Status: "APPROVED", Category: "UTILITY",
		Components: []waemu.TemplateComponent{{Type: "HEADER", Format: "IMAGE"}, {Type: "BODY", Text: "Hi {{1}}, you paid {{2}} on {{3}}."}}},
	{ID: "3", Name: "shipping_update_buttons", Language: "en_US", Status: "APPROVED", Category: "MARKETING",
		Components: []waemu.TemplateComponent{{Type: "HEADER", Format: "IMAGE"}, {Type: "BODY", Text: "Hi {{1}}, you paid {{2}} on {{3}}."},
			{Type: "BUTTONS", Buttons: []waemu.TemplateButton{{Type: "QUICK_REPLY", Text: "Yes"}, {Type: "QUICK_REPLY", Text: "No"}}}}},
}

// TestRequestShapesMatchMetaExamples sends every message type through the
// channel to the emulator and compares the body the emulator received with
// the corresponding request example from Meta's OpenAPI file.
func TestRequestShapesMatchMetaExamples(t *testing.T) {
	t.Parallel()
	// One recipient gets every type: pair rate out of the way.
	e := newEnv(t, envConfig{
		emu: func(o *waemu.Options) { o.PairInterval = time.Millisecond },
		ch:  func(o *whatsapp.Options) { o.PairInterval = time.Millisecond },
	})
	for _, tpl := range exampleTemplates {
		e.emu.AddTemplate(tpl)
	}
	ctx := context.Background()
	const user = "4915112345001"
	e.openWindow(user)
	upload := func(name, mime string) string {
		id, err := e.ch.UploadMedia(ctx, name, mime, strings.NewReader("bytes of "+name))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	imgID, docID, vidID, audID := upload("a.jpg", "image/jpeg"), upload("a.pdf", "application/pdf"), upload("a.mp4", "video/mp4"), upload("a.ogg", "audio/ogg")
	body3 := whatsapp.TemplateComponent{Type: "body", Parameters: []whatsapp.Parameter{
		{Type: "text", Text: "Anna"},
		{Type: "currency", Currency: &whatsapp.Currency{FallbackValue: "$100.99", Code: "USD", Amount1000: 100990}},
		{Type: "date_time", DateTime: &whatsapp.DateTime{FallbackValue: "February 25, 1977", Calendar: "GREGORIAN",
			DayOfMonth: 25, DayOfWeek: 5, Hour: 15, Minute: 33, Month: 2, Year: 1977}},
	}}
	header := whatsapp.HeaderMedia("image", whatsapp.Media{Link: "https://example.com/a.jpg"}) // netscope: request shape only
	cases := map[string]whatsapp.Message{
		"send_text_message.json":            whatsapp.Text("text-message-content"),
		"send_reply_to_text_message.json":   {Type: "text", Text: "reply", ReplyTo: "wamid.PREVIOUS"},
		"send_image_message_by_id.json":     {Type: "image", Media: &whatsapp.Media{ID: imgID}},
		"send_image_message_by_url.json":    {Type: "image", Media: &whatsapp.Media{Link: "https://example.com/a.jpg"}}, // netscope: request shape only
		"send_document_message_by_id.json":  {Type: "document", Media: &whatsapp.Media{ID: docID, Caption: "Invoice", Filename: "invoice.pdf"}},
		"send_document_message_by_url.json": {Type: "document", Media: &whatsapp.Media{Link: "https://example.com/a.pdf", Caption: "Invoice"}}, // netscope: request shape only
		"send_video_message_by_id.json":     {Type: "video", Media: &whatsapp.Media{ID: vidID, Caption: "Clip"}},
		"send_video_message_by_url.json":    {Type: "video", Media: &whatsapp.Media{Link: "https://example.com/a.mp4", Caption: "Clip"}}, // netscope: request shape only
		"send_audio_message_by_id.json":     {Type: "audio", Media: &whatsapp.Media{ID: audID}},
		"send_audio_message_by_url.json":    {Type: "audio", Media: &whatsapp.Media{Link: "https://example.com/a.ogg"}}, // netscope: request shape only
		"send_location_message.json": {Type: "location", Location: &whatsapp.Location{Latitude: 52.52, Longitude: 13.405,
			Name: "Büro", Address: "Unter den Linden 1, Berlin"}},
		"send_message_template_text.json":  whatsapp.TemplateMessage("shipping_update", "en_US", body3),
		"send_message_template_media.json": whatsapp.TemplateMessage("shipping_update_media", "en_US", header, body3),
		"send_message_template_interactive.json": whatsapp.TemplateMessage("shipping_update_buttons", "en_US", header, body3,
			whatsapp.QuickReplyButton(0, "yes-payload"), whatsapp.QuickReplyButton(1, "no-payload")),
		"send_test_message.json": whatsapp.TemplateMessage("hello_world", "en_US"),
	}
	files, _ := filepath.Glob("testdata/requests/*.json")
	if len(files) != len(cases) {
		t.Fatalf("%d request examples in testdata, %d cases: every example needs a case", len(files), len(cases))
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, name := range names {
		id := fmt.Sprintf("shape-%d", i)
		wamid, err := e.ch.SendMessage(ctx, id, "+"+user, cases[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var body []byte
		for _, s := range e.emu.Sent() {
			if s.WAMID == wamid {
				body = s.Body
			}
		}
		if body == nil {
			t.Fatalf("%s: emulator has no body for %s", name, wamid)
		}
		got, want := shapeOf(t, body), shapeOf(t, readTestdata(t, "requests/"+name))
		var diffs []string
		for p, k := range want {
			if got[p] != k {
				diffs = append(diffs, fmt.Sprintf("missing or different %s (%s, got %q)", p, k, got[p]))
			}
		}
		for p := range got {
			if _, ok := want[p]; !ok && !extraKeys[p] {
				diffs = append(diffs, "extra "+p)
			}
		}
		slices.Sort(diffs)
		if len(diffs) > 0 {
			t.Errorf("%s: body %s differs from Meta's example:\n  %s", name, body, strings.Join(diffs, "\n  "))
		}
		var sent map[string]any
		json.Unmarshal(body, &sent)
		if sent["biz_opaque_callback_data"] != id {
			t.Errorf("%s: biz_opaque_callback_data = %v, want our id %s", name, sent["biz_opaque_callback_data"], id)
		}
	}
}

// TestResponseExamplesDecode reads Meta's response examples with the
// client's types.
func TestResponseExamplesDecode(t *testing.T) {
	t.Parallel()
	var sr whatsapp.SendResponse
	if err := json.Unmarshal(readTestdata(t, "responses/send_message.json"), &sr); err != nil {
		t.Fatal(err)
	}
	if len(sr.Messages) != 1 || !strings.HasPrefix(sr.Messages[0].ID, "wamid.") || sr.Contacts[0].WaID != "16505551234" {
		t.Errorf("send response decoded as %+v", sr)
	}
	var mi whatsapp.MediaInfo
	if err := json.Unmarshal(readTestdata(t, "responses/retrieve_media_url.json"), &mi); err != nil {
		t.Fatal(err)
	}
	if mi.FileSize != 303833 || mi.MimeType != "image/jpeg" || mi.ID != "2621233374848975" {
		t.Errorf("media info decoded as %+v", mi)
	}
	var tp whatsapp.TemplatePage
	if err := json.Unmarshal(readTestdata(t, "responses/message_templates.json"), &tp); err != nil {
		t.Fatal(err)
	}
	if len(tp.Data) != 2 || tp.Paging.Cursors.After != "MjQZD" {
		t.Fatalf("template page decoded as %+v", tp)
	}
	vars := whatsapp.VarsOf(tp.Data[1].Components)
	if vars.Body != 2 || vars.HeaderFormat != "TEXT" || vars.HeaderParams != 0 {
		t.Errorf("2023_april_promo vars = %+v, want body 2, TEXT header without variables", vars)
	}
	var up struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(readTestdata(t, "responses/upload_media.json"), &up); err != nil || up.ID == "" {
		t.Errorf("upload response: %v %+v", err, up)
	}
}
