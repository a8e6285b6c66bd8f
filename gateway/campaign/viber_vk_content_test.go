package campaign

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// Viber takes 7,000 characters per text message (REST Bot API, "Text
// message"), VK 4,096 (messages.send, error 914): a longer rendered text
// is refused when the campaign is created, an SMS-length limit does not
// apply, and a WhatsApp template is refused on both.
func TestViberAndVKTextLimits(t *testing.T) {
	t.Parallel()
	vb, vk := newTestChannel("viber", newLedger()), newTestChannel("vk", newLedger())
	vb.kind, vk.kind = message.Viber, message.VK
	ev := newEnv(t, "", Config{}, idChannel{vb}, idChannel{vk})
	ctx := context.Background()
	rs := []recipients.Recipient{{Number: "vb01234567890A="}}
	n := 0
	spec := func(ch, text string) Spec {
		n++
		return Spec{Name: fmt.Sprintf("Lang %d", n), Channel: ch, Mode: Direct, When: When{Kind: "draft"}, Content: Content{Text: text}}
	}
	if _, err := ev.e.Create(ctx, spec("viber", strings.Repeat("ü", 7000)), rs); err != nil {
		t.Fatalf("7000 characters on Viber: %v", err)
	}
	if _, err := ev.e.Create(ctx, spec("viber", strings.Repeat("ü", 7001)), rs); err == nil || !strings.Contains(err.Error(), "Viber takes at most 7000") {
		t.Fatalf("7001 characters on Viber: %v", err)
	}
	vrs := []recipients.Recipient{{Number: "vk123456"}}
	if _, err := ev.e.Create(ctx, spec("vk", strings.Repeat("я", 4096)), vrs); err != nil {
		t.Fatalf("4096 characters on VK: %v", err)
	}
	if _, err := ev.e.Create(ctx, spec("vk", strings.Repeat("я", 4097)), vrs); err == nil || !strings.Contains(err.Error(), "VK takes at most 4096") {
		t.Fatalf("4097 characters on VK: %v", err)
	}
	wa := spec("vk", "")
	wa.Content.WhatsApp = &WhatsAppContent{Template: "order", Language: "de"}
	if _, err := ev.e.Create(ctx, wa, vrs); err == nil || !strings.Contains(err.Error(), "not a WhatsApp template") {
		t.Fatalf("template on VK: %v", err)
	}
}

// idChannel addresses recipients by messenger id, as drivers/viber and
// drivers/vk do (AddressNormalizer).
type idChannel struct{ *testChannel }

func (idChannel) NormalizeAddress(s string) (string, error) { return s, nil }
