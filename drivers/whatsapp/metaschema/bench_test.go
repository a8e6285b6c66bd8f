package metaschema_test

import (
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/metaschema"
)

// BenchmarkValidateTemplateMessage measures one validation of a template
// message with header, body (text, currency, date_time) and two buttons —
// the check the emulator makes on every message it receives.
func BenchmarkValidateTemplateMessage(b *testing.B) {
	v, err := metaschema.New()
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"491711234567","type":"template",
"biz_opaque_callback_data":"c-1","template":{"name":"order","language":{"code":"de"},"components":[
{"type":"header","parameters":[{"type":"image","image":{"id":"1"}}]},
{"type":"body","parameters":[{"type":"text","text":"Anna"},{"type":"currency","currency":{"fallback_value":"12,50 €","code":"EUR","amount_1000":12500}},{"type":"date_time","date_time":{"fallback_value":"7. Dezember"}}]},
{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"yes"}]},
{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"order/4711"}]}]}}`)
	if err := v.Message(body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Message(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile measures building the validator (once per process).
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := metaschema.New(); err != nil {
			b.Fatal(err)
		}
	}
}
