package waemu

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkSchemaCheckSameShape measures the emulator's schema check of a
// template message whose shape it has seen, recipients and callback data
// varying — the case of a campaign or throughput test.
func BenchmarkSchemaCheckSameShape(b *testing.B) {
	s := New(Options{})
	var body map[string]json.RawMessage
	if err := json.Unmarshal([]byte(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"491711234567","type":"template",
"biz_opaque_callback_data":"c-1","template":{"name":"order","language":{"code":"de"},"components":[
{"type":"body","parameters":[{"type":"text","text":"Anna"}]}]}}`), &body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		body["to"] = json.RawMessage(fmt.Sprintf(`"49171%07d"`, i))
		body["biz_opaque_callback_data"] = json.RawMessage(fmt.Sprintf(`"c-%d"`, i))
		i++
		if ae := s.checkSchema(body); ae != nil {
			b.Fatal(ae.details)
		}
	}
}
