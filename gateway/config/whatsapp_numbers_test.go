package config

import (
	"errors"
	"strings"
	"testing"
)

// whatsapp.numbers: each further number needs its own numeric id and a
// channel name no other WhatsApp number uses; the rest is inherited.
func TestWhatsAppNumbers(t *testing.T) {
	t.Parallel()
	ok := "whatsapp:\n  emulate: true\n  enabled: true\n  phone_number_id: \"111\"\n  numbers:\n" +
		"    - {phone_number_id: \"222\", channel: whatsapp-service, display_name: Service, messaging_limit_tier: -1}\n"
	c, err := Parse([]byte(ok), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.WhatsApp.Numbers; len(n) != 1 || n[0].Channel != "whatsapp-service" || n[0].DisplayName != "Service" || n[0].Tier != -1 {
		t.Errorf("numbers %+v", n)
	}
	if c.WhatsApp.WebhookMaxBytes < 3<<20 {
		t.Errorf("webhook_max_bytes default %d, want at least 3 MiB", c.WhatsApp.WebhookMaxBytes)
	}
	cases := map[string]struct{ numbers, want string }{
		"id twice":       {`{phone_number_id: "111", channel: wa2}`, `whatsapp.numbers[0].phone_number_id: 111 is configured twice`},
		"id not numeric": {`{phone_number_id: "abc", channel: wa2}`, `whatsapp.numbers[0].phone_number_id: must be the numeric`},
		"no channel":     {`{phone_number_id: "222"}`, `whatsapp.numbers[0].channel: "" must be 1-32`},
		"primary name":   {`{phone_number_id: "222", channel: whatsapp}`, `whatsapp.numbers[0].channel: "whatsapp" is used by another WhatsApp number`},
		"bad tier":       {`{phone_number_id: "222", channel: wa2, messaging_limit_tier: 300}`, `whatsapp.numbers[0].messaging_limit_tier: 300 is not a Meta tier`},
		"bad throughput": {`{phone_number_id: "222", channel: wa2, messages_per_second: 5000}`, `whatsapp.numbers[0].messages_per_second: 5000 is out of range`},
	}
	for name, c := range cases {
		_, err := Parse([]byte("whatsapp:\n  phone_number_id: \"111\"\n  numbers:\n    - "+c.numbers+"\n"), nil)
		var ps Problems
		if !errors.As(err, &ps) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if _, err := Parse([]byte("whatsapp:\n  webhook_max_bytes: 1000\n"), nil); err == nil || !strings.Contains(err.Error(), "whatsapp.webhook_max_bytes") {
		t.Errorf("tiny webhook limit: %v", err)
	}
}
