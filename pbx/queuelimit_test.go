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

// sip.sessions.queues[].max_body_bytes: a queue member without a limit of
// its own gets the queue's (the smallest when it is in two queues); a
// member's own sip.extensions[].max_body_bytes wins; an extension in no
// queue keeps sip.max_body_bytes. A 701-byte text through Kamailio over
// UDP (RFC 3428: under 1,300 bytes per request), split as in
// TestPerExtensionMaxBodyBytes.
func TestPerQueueMaxBodyBytes(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	c := gatewayCfg(k, "udp")
	c.Extensions = []config.ExtensionSettings{{Ext: "203", MaxBodyBytes: 900}}
	c.Sessions.Queues = []config.MessageQueue{
		{Name: "support", Members: []string{"202", "203", "204"}, MaxBodyBytes: 450},
		{Name: "backoffice", Members: []string{"204"}, MaxBodyBytes: 300},
	}
	g := runGateway(t, c)
	waitState(t, g, "registered")
	text := strings.TrimSpace(strings.Repeat("Grüße aus Köln ", 39)) // 701 bytes
	ctx := context.Background()
	for _, tc := range []struct {
		ext         string
		limit, want int // want: parts
	}{
		{"201", 1000, 1}, // in no queue: sip.max_body_bytes
		{"202", 450, 2},  // support's
		{"203", 900, 1},  // its own, larger than support's
		{"204", 300, 3},  // the smaller of support's and backoffice's
	} {
		p := newPhone(t, tc.ext, "127.0.0.1", k.addr)
		p.register(60)
		if err := g.DeliverChat(ctx, tc.ext, session.Chat{Contact: customer, Text: text}); err != nil {
			t.Fatal(err)
		}
		first := p.next(tc.ext + " first")
		if tc.want == 1 {
			if first.Body != text {
				t.Fatalf("%s got %d bytes %q…, want the %d-byte text whole", tc.ext, len(first.Body), first.Body[:min(20, len(first.Body))], len(text))
			}
			p.none(tc.ext + ": one message only")
			continue
		}
		var n int
		if _, err := fmt.Sscanf(first.Body, "(1/%d) ", &n); err != nil || n != tc.want {
			t.Fatalf("%s's first part %q…: want (1/%d)", tc.ext, first.Body[:min(10, len(first.Body))], tc.want)
		}
		var whole strings.Builder
		for i := 1; i <= n; i++ {
			part := first
			if i > 1 {
				part = p.next(tc.ext + " next part")
			}
			prefix := fmt.Sprintf("(%d/%d) ", i, n)
			if !strings.HasPrefix(part.Body, prefix) || len(part.Body) > tc.limit || !utf8.ValidString(part.Body) {
				t.Fatalf("%s's part %d: %d bytes (limit %d), starts %q", tc.ext, i, len(part.Body), tc.limit, part.Body[:min(10, len(part.Body))])
			}
			whole.WriteString(strings.TrimPrefix(part.Body, prefix))
		}
		if whole.String() != text {
			t.Fatalf("%s reassembled %q, want %q", tc.ext, whole.String(), text)
		}
		p.none(tc.ext + ": no more parts")
	}
}
