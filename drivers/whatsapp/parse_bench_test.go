package whatsapp_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

// BenchmarkParseNotification parses one notification in Meta's shape
// (testdata/webhooks/text_message.json and testdata/statuses/sent.json)
// carrying 10 text messages and 10 statuses; reports ns and allocations
// per notification.
func BenchmarkParseNotification(b *testing.B) {
	msg, err := os.ReadFile("testdata/webhooks/text_message.json")
	if err != nil {
		b.Fatal(err)
	}
	st, err := os.ReadFile("testdata/statuses/sent.json")
	if err != nil {
		b.Fatal(err)
	}
	// The message and status objects of the examples, repeated.
	cut := func(s, open, close string) string {
		i := strings.Index(s, open)
		j := strings.LastIndex(s, close)
		return s[i+len(open) : j+1]
	}
	m := cut(string(msg), `"messages": [`, "}\n            ]")
	s := cut(string(st), `"statuses": [`, "}\n            ]")
	var ms, ss []string
	for i := range 10 {
		ms = append(ms, strings.Replace(m, `"wamid.`, fmt.Sprintf(`"wamid.%d`, i), 1))
		ss = append(ss, s)
	}
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":` +
		`{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` +
		`"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],` +
		`"messages":[` + strings.Join(ms, ",") + `],"statuses":[` + strings.Join(ss, ",") + `]}}]}]}`)
	p, err := whatsapp.ParseNotification(body)
	if err != nil || len(p.Inbound) != 10 || len(p.Statuses) != 10 {
		b.Fatalf("benchmark body parses as %d inbound, %d statuses: %v", len(p.Inbound), len(p.Statuses), err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := whatsapp.ParseNotification(body); err != nil {
			b.Fatal(err)
		}
	}
}
