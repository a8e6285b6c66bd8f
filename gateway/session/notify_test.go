package session

import (
	"context"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

func (p *phones) takeReceipts(ext string) []Receipt {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.receipts[ext]
	delete(p.receipts, ext)
	return r
}

// Delivery notifications: a reply stored with WithNotify asks the channel
// for a status report (Outbound.DeliveryReport) and its extension is told
// once per disposition it asked for — delivered, read (RFC 5438
// "displayed"), failed with the channel's reason — and nothing for
// statuses it did not ask for or a reply without a request.
func TestDeliveryNotify(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	h.m.runCtx.Store(&ctx) // notices go out as under Run
	h.inbound("sms", alice, "Hallo")
	h.settle()
	h.phones.take("201")

	status := func(i int, st message.Status, reason string) {
		t.Helper()
		out := h.out.all()[i]
		if err := h.m.HandleStatus(ctx, message.StatusEvent{ID: out.ID, Status: st, Reason: reason}); err != nil {
			t.Fatalf("status %s of %s: %v", st, out.ID, err)
		}
	}
	wait := func(what string, n int) []Receipt {
		t.Helper()
		var got []Receipt
		waitUntil(t, what, func() bool {
			got = append(got, h.phones.takeReceipts("201")...)
			return len(got) >= n
		})
		return got
	}

	imdn := DeliveryNotify{IMDN: true, MessageID: "m1", DateTime: "2026-12-07T01:00:00Z", Delivery: true, Failure: true, Display: true}
	if err := h.m.FromExtension(WithNotify(ctx, imdn), "201", alice, "Antwort eins"); err != nil {
		t.Fatal(err)
	}
	if out := h.out.all(); len(out) != 1 || !out[0].DeliveryReport {
		t.Fatalf("sent %+v, want a status report requested", out)
	}
	status(0, message.Sent, "")
	status(0, message.Delivered, "")
	status(0, message.Delivered, "") // a repeated report
	status(0, message.Read, "")
	got := wait("delivered and displayed", 2)
	if len(got) != 2 || got[0].Disposition != DispDelivered || got[1].Disposition != DispDisplayed ||
		got[0].MessageID != "m1" || !got[0].IMDN || got[0].Reply != "Antwort eins" {
		t.Fatalf("receipts %+v, want delivered then displayed for m1", got)
	}

	text := DeliveryNotify{Delivery: true, Failure: true}
	if err := h.m.FromExtension(WithNotify(ctx, text), "201", alice, "Antwort zwei"); err != nil {
		t.Fatal(err)
	}
	status(1, message.Failed, "number unknown")
	got = wait("failed", 1)
	if got[0].Disposition != DispFailed || got[0].IMDN {
		t.Fatalf("receipt %+v, want failed as text", got[0])
	}
	notes := h.phones.take("201")
	if len(notes) == 0 || !strings.Contains(notes[len(notes)-1], "NOT delivered to "+alice) || !strings.Contains(notes[len(notes)-1], "number unknown") {
		t.Fatalf("text notices %q", notes)
	}

	if err := h.m.FromExtension(ctx, "201", alice, "Antwort drei"); err != nil {
		t.Fatal(err)
	}
	if out := h.out.all()[2]; out.DeliveryReport {
		t.Fatalf("reply without a request asks for a status report: %+v", out)
	}
	status(2, message.Delivered, "")
	// A later receipt proves the notices of this moment went out.
	if err := h.m.FromExtension(WithNotify(ctx, text), "201", alice, "Antwort vier"); err != nil {
		t.Fatal(err)
	}
	status(3, message.Delivered, "")
	got = wait("delivered of the fourth", 1)
	if len(got) != 1 || got[0].Reply != "Antwort vier" {
		t.Fatalf("receipts %+v, want only the fourth reply's", got)
	}
}
