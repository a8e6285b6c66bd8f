package pbx

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// sip.extensions[].max_body_bytes: extension 202 (a phone like baresip
// 1.0, which shows nothing over ~470 bytes) gets a 700-byte text in
// ordered parts of at most 450 bytes, prefix included, while 201 (the
// gateway's 1,000) gets it whole. Through Kamailio over UDP (RFC 3428:
// under 1,300 bytes per request).
func TestPerExtensionMaxBodyBytes(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	c := gatewayCfg(k, "udp")
	c.Extensions = []config.ExtensionSettings{{Ext: "202", MaxBodyBytes: 450}}
	g := runGateway(t, c)
	waitState(t, g, "registered")
	p201 := newPhone(t, "201", "127.0.0.1", k.addr)
	p201.register(60)
	p202 := newPhone(t, "202", "127.0.0.1", k.addr)
	p202.register(60)
	text := strings.TrimSpace(strings.Repeat("Grüße aus Köln ", 39)) // 701 bytes
	if len(text) < 650 || len(text) > 800 {
		t.Fatalf("test text is %d bytes", len(text))
	}
	ctx := context.Background()
	if err := g.DeliverChat(ctx, "201", session.Chat{Contact: customer, Text: text}); err != nil {
		t.Fatal(err)
	}
	if got := p201.next("whole"); got.Body != text {
		t.Fatalf("201 got %d bytes %q…, want the %d-byte text whole", len(got.Body), got.Body[:min(20, len(got.Body))], len(text))
	}
	if err := g.DeliverChat(ctx, "202", session.Chat{Contact: customer, Text: text}); err != nil {
		t.Fatal(err)
	}
	var whole strings.Builder
	first := p202.next("part 1")
	var n int
	if _, err := fmt.Sscanf(first.Body, "(1/%d) ", &n); err != nil || n != 2 {
		t.Fatalf("202's first part %q…: want (1/2)", first.Body[:min(10, len(first.Body))])
	}
	for i := 1; i <= n; i++ {
		part := first
		if i > 1 {
			part = p202.next("next part")
		}
		prefix := fmt.Sprintf("(%d/%d) ", i, n)
		if !strings.HasPrefix(part.Body, prefix) || len(part.Body) > 450 || !utf8.ValidString(part.Body) {
			t.Fatalf("202's part %d: %d bytes, starts %q", i, len(part.Body), part.Body[:min(10, len(part.Body))])
		}
		whole.WriteString(strings.TrimPrefix(part.Body, prefix))
	}
	if whole.String() != text {
		t.Fatalf("202 reassembled %q, want %q", whole.String(), text)
	}
	p201.none("one message only")
}
