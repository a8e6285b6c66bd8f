package pbx

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// imdnDoc reads an IMDN document with the element names of RFC 5438 §9
// (the XML schema, namespace urn:ietf:params:xml:ns:imdn).
type imdnDoc struct {
	XMLName   xml.Name `xml:"urn:ietf:params:xml:ns:imdn imdn"`
	MessageID string   `xml:"message-id"`
	DateTime  string   `xml:"datetime"`
	Recipient string   `xml:"recipient-uri"`
	Delivery  *struct {
		Status struct {
			Delivered *struct{} `xml:"delivered"`
			Failed    *struct{} `xml:"failed"`
		} `xml:"status"`
	} `xml:"delivery-notification"`
}

// A phone that asks for a delivery notification (RFC 5438 §6.3: a
// message/cpim with NS imdn, imdn.Message-ID, DateTime and
// imdn.Disposition-Notification: positive-delivery, negative-delivery)
// gets an IMDN once the SMS status report says delivered: message/cpim
// from the customer's URI wrapping message/imdn+xml (Content-Disposition:
// notification, §7.2.1.1) naming its Message-ID. Extension 202, configured
// for text notices, gets "delivered to …" from the gateway instead; 203,
// configured for nothing, gets nothing. Through Kamailio, SMS through a
// simulated modem that returns status reports (3GPP TS 23.040 §9.2.2.3).
func TestE2EDeliveryNotifications(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{route: session.Target{Kind: session.ToQueue, ID: "team"},
		queues: []session.Queue{{Name: "team", Members: []string{"201", "202", "203"}, Assignment: session.None, Distribution: session.RingAll}},
		sip: func(c *config.SIP) {
			c.Extensions = []config.ExtensionSettings{{Ext: "202", DeliveryNotices: "text"}}
		}})
	phones := map[string]*phone{}
	for _, ext := range []string{"201", "202", "203"} {
		phones[ext] = newPhone(t, ext, "127.0.0.1", r.k.addr)
		phones[ext].register(60)
	}
	r.sms(customer, "Hallo?", false)
	for _, p := range phones {
		p.nextFrom(customer, "the customer's message")
	}

	cpim := "From: <sip:201@127.0.0.1>\r\n" +
		"To: <sip:" + customer + "@127.0.0.1>\r\n" +
		"NS: imdn <urn:ietf:params:imdn>\r\n" +
		"imdn.Message-ID: 34jk324j\r\n" +
		"DateTime: 2026-12-07T01:00:00+01:00\r\n" +
		"imdn.Disposition-Notification: positive-delivery, negative-delivery\r\n" +
		"\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Antwort mit Bestätigung"
	if res, err := phones["201"].sendBody(r.k.addr, customer, "message/cpim", []byte(cpim)); err != nil || res.StatusCode != 202 {
		t.Fatalf("201's CPIM reply: %s", codeOf(res, err))
	}
	r.waitSent(customer, "Antwort mit Bestätigung")
	n := phones["201"].next("IMDN")
	if !strings.HasPrefix(strings.ToLower(n.ContentType), "message/cpim") || n.From != customer {
		t.Fatalf("201 got %+v, want message/cpim from the customer", n)
	}
	ct, content, err := cpimContent([]byte(n.Body))
	if err != nil || ct != "message/imdn+xml" || !strings.Contains(n.Body, "Content-Disposition: notification") {
		t.Fatalf("IMDN body %q: inner %q %v", n.Body, ct, err)
	}
	var doc imdnDoc
	if err := xml.Unmarshal(content, &doc); err != nil {
		t.Fatalf("IMDN XML %q: %v", content, err)
	}
	if doc.MessageID != "34jk324j" || doc.DateTime != "2026-12-07T01:00:00+01:00" || doc.Delivery == nil || doc.Delivery.Status.Delivered == nil {
		t.Fatalf("IMDN %+v, want delivered for 34jk324j", doc)
	}

	if res, err := phones["202"].send(r.k.addr, customer, "Antwort von 202"); err != nil || res.StatusCode != 202 {
		t.Fatalf("202's reply: %s", codeOf(res, err))
	}
	r.waitSent(customer, "Antwort von 202")
	tn := phones["202"].next("text notice")
	if tn.From != "gw" || !strings.Contains(tn.Body, "delivered to "+customer) || !strings.Contains(tn.Body, "Antwort von 202") {
		t.Fatalf("202 was told %+v, want a text notice from the gateway", tn)
	}

	if res, err := phones["203"].send(r.k.addr, customer, "Antwort von 203"); err != nil || res.StatusCode != 202 {
		t.Fatalf("203's reply: %s", codeOf(res, err))
	}
	r.waitSent(customer, "Antwort von 203")
	// 203's probe: a later notice to 202 proves the notices of this
	// moment went out; 203 got none.
	if res, err := phones["202"].send(r.k.addr, customer, "noch eine"); err != nil || res.StatusCode != 202 {
		t.Fatalf("202's second reply: %s", codeOf(res, err))
	}
	if tn := phones["202"].next("second text notice"); !strings.Contains(tn.Body, "noch eine") {
		t.Fatalf("202's second notice %+v", tn)
	}
	phones["203"].none("no notices configured or asked for")
}

// imdnRequest follows RFC 5438 §6.3 and RFC 3862 §3.3.9: the namespace
// prefix is the sender's choice; a request without imdn.Message-ID or
// without a known disposition is none; plain text is none.
func TestIMDNRequest(t *testing.T) {
	t.Parallel()
	body := func(hdrs string) []byte { return []byte(hdrs + "\r\nContent-Type: text/plain\r\n\r\nHallo") }
	for _, tc := range []struct {
		name, ct string
		body     []byte
		ok       bool
		want     session.DeliveryNotify
	}{
		{"delivery and display", "message/cpim", body("NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: a1\r\nDateTime: 2026-12-07T01:00:00Z\r\nimdn.Disposition-Notification: positive-delivery, display\r\n"),
			true, session.DeliveryNotify{IMDN: true, MessageID: "a1", DateTime: "2026-12-07T01:00:00Z", Delivery: true, Display: true}},
		{"own prefix", "Message/CPIM", body("NS: d <urn:ietf:params:imdn>\r\nd.Message-ID: b2\r\nd.Disposition-Notification: negative-delivery\r\n"),
			true, session.DeliveryNotify{IMDN: true, MessageID: "b2", Failure: true}},
		{"no message id", "message/cpim", body("NS: imdn <urn:ietf:params:imdn>\r\nimdn.Disposition-Notification: positive-delivery\r\n"), false, session.DeliveryNotify{}},
		{"no namespace", "message/cpim", body("imdn.Message-ID: c3\r\nimdn.Disposition-Notification: positive-delivery\r\n"), false, session.DeliveryNotify{}},
		{"plain text", "text/plain", []byte("Hallo"), false, session.DeliveryNotify{}},
	} {
		got, ok := imdnRequest(tc.ct, tc.body)
		if ok != tc.ok || ok && (got.MessageID != tc.want.MessageID || got.DateTime != tc.want.DateTime || got.Delivery != tc.want.Delivery ||
			got.Failure != tc.want.Failure || got.Display != tc.want.Display || !got.IMDN) {
			t.Errorf("%s: %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	imdn := []byte("From: <sip:201@127.0.0.1>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: z\r\n\r\nContent-Type: message/imdn+xml\r\nContent-Disposition: notification\r\n\r\n<imdn/>")
	if !isIMDN("message/cpim", imdn) || isIMDN("message/cpim", body("NS: imdn <urn:ietf:params:imdn>\r\n")) || isIMDN("text/plain", []byte("x")) {
		t.Error("isIMDN does not tell a notification from a message")
	}
}

// BenchmarkIMDN measures what RFC 5438 support adds per MESSAGE: "classify"
// is what onMessage does before reading the text (isIMDN and the IMDN
// request, for a plain text/plain body and for message/cpim with a
// request); "build" is one delivery notification (CPIM + XML).
func BenchmarkIMDN(b *testing.B) {
	cpim := []byte("From: <sip:201@127.0.0.1>\r\nTo: <sip:+491701234567@127.0.0.1>\r\nNS: imdn <urn:ietf:params:imdn>\r\n" +
		"imdn.Message-ID: 34jk324j\r\nDateTime: 2026-12-07T01:00:00Z\r\nimdn.Disposition-Notification: positive-delivery, negative-delivery\r\n\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("Grüße aus Köln, ", 10))
	plain := []byte(strings.Repeat("Grüße aus Köln, ", 10))
	g := &Gateway{extText: map[string]bool{}}
	for _, c := range []struct {
		name, ct string
		body     []byte
	}{{"classify/plain", "text/plain;charset=UTF-8", plain}, {"classify/cpim", "message/cpim", cpim}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if isIMDN(c.ct, c.body) {
					b.Fatal("a message classified as IMDN")
				}
				_, _ = g.notifyFor("201", c.ct, c.body)
			}
		})
	}
	b.Run("build", func(b *testing.B) {
		r := &session.Receipt{DeliveryNotify: session.DeliveryNotify{IMDN: true, MessageID: "34jk324j", DateTime: "2026-12-07T01:00:00Z"},
			Disposition: session.DispDelivered}
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := imdnBody(r, "sip:+491701234567@127.0.0.1", "sip:201@127.0.0.1", now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
