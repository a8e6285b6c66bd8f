package pbx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/textproto"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pbxgate/pbxgate/gateway/session"
)

// Instant message disposition notifications (RFC 5438). A phone that
// wants to know what became of its message sends it as message/cpim
// (RFC 3862) with the IMDN namespace and headers:
//
//	NS: imdn <urn:ietf:params:imdn>
//	imdn.Message-ID: 34jk324j
//	DateTime: 2006-04-04T12:16:49-05:00
//	imdn.Disposition-Notification: positive-delivery, display
//
// pbxgate then answers with an IMDN (message/cpim wrapping
// message/imdn+xml, Content-Disposition: notification, §7.2.1.1) from the
// contact's URI when the channel reports the message delivered, failed or
// read. Extensions whose phones do not ask can get a short text notice
// instead (sip.extensions[].delivery_notices: text).

const imdnNS = "urn:ietf:params:imdn"

// imdnRequest reads the IMDN request of a message/cpim body; ok is false
// when there is none.
func imdnRequest(contentType string, body []byte) (n session.DeliveryNotify, ok bool) {
	if !maybeCPIM(contentType) {
		return n, false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "message/cpim" {
		return n, false
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
	h, err := r.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return n, false
	}
	// NS: <prefix> <urn> (RFC 3862 §3.3.9); the prefix is the sender's
	// choice, "imdn" by custom.
	prefix := ""
	for _, v := range h.Values("Ns") {
		f := strings.Fields(v)
		if len(f) == 2 && strings.Trim(f[1], "<>") == imdnNS {
			prefix = f[0]
		}
	}
	if prefix == "" {
		return n, false
	}
	n.IMDN = true
	n.MessageID = strings.TrimSpace(h.Get(prefix + ".Message-ID"))
	n.DateTime = strings.TrimSpace(h.Get("DateTime"))
	for _, d := range strings.Split(h.Get(prefix+".Disposition-Notification"), ",") {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case "positive-delivery":
			n.Delivery = true
		case "negative-delivery":
			n.Failure = true
		case "display":
			n.Display = true
		}
	}
	// RFC 5438 §6.3: Message-ID and DateTime are required with a request.
	if n.MessageID == "" || !n.Delivery && !n.Failure && !n.Display {
		return n, false
	}
	return n, true
}

// maybeCPIM is a cheap test that spares plain-text MESSAGEs the parsing.
func maybeCPIM(contentType string) bool {
	ct := strings.TrimSpace(contentType)
	return len(ct) >= len("message/cpim") && strings.EqualFold(ct[:len("message/cpim")], "message/cpim")
}

// isIMDN: the body is a disposition notification (a phone confirming a
// chat pbxgate sent), not a message for the customer.
func isIMDN(contentType string, body []byte) bool {
	if !maybeCPIM(contentType) {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "message/cpim" {
		return false // RFC 5438 §7.1: an IMDN travels inside message/cpim
	}
	ct, _, err := cpimContent(body)
	if err != nil {
		return false
	}
	inner, _, _ := mime.ParseMediaType(ct)
	return inner == "message/imdn+xml"
}

// notifyFor is what an extension's message asks to be told: an IMDN when
// the phone asked, else text notices when configured for the extension.
func (g *Gateway) notifyFor(ext, contentType string, body []byte) (session.DeliveryNotify, bool) {
	if n, ok := imdnRequest(contentType, body); ok {
		return n, true
	}
	if g.extText[ext] {
		return session.DeliveryNotify{Delivery: true, Failure: true}, true
	}
	return session.DeliveryNotify{}, false
}

// imdnXML is the message/imdn+xml document (RFC 5438 §9: the schema's
// imdn element with message-id, datetime, recipient-uri,
// original-recipient-uri and one notification).
type imdnXML struct {
	XMLName      xml.Name     `xml:"urn:ietf:params:xml:ns:imdn imdn"`
	MessageID    string       `xml:"message-id"`
	DateTime     string       `xml:"datetime"`
	RecipientURI string       `xml:"recipient-uri"`
	OrigRecipURI string       `xml:"original-recipient-uri"`
	Delivery     *imdnStatus  `xml:"delivery-notification,omitempty"`
	Display      *imdnDisplay `xml:"display-notification,omitempty"`
}

type imdnStatus struct {
	Status struct {
		Delivered *struct{} `xml:"delivered,omitempty"`
		Failed    *struct{} `xml:"failed,omitempty"`
	} `xml:"status"`
}

type imdnDisplay struct {
	Status struct {
		Displayed *struct{} `xml:"displayed,omitempty"`
	} `xml:"status"`
}

// imdnBody builds the IMDN for r: a message/cpim body from the contact
// (from) to the extension (to).
func imdnBody(r *session.Receipt, from, to string, now time.Time) ([]byte, error) {
	doc := imdnXML{MessageID: r.MessageID, DateTime: r.DateTime, RecipientURI: from, OrigRecipURI: from}
	if doc.DateTime == "" {
		doc.DateTime = now.Format(time.RFC3339)
	}
	switch r.Disposition {
	case session.DispDelivered:
		doc.Delivery = &imdnStatus{}
		doc.Delivery.Status.Delivered = &struct{}{}
	case session.DispFailed:
		doc.Delivery = &imdnStatus{}
		doc.Delivery.Status.Failed = &struct{}{}
	case session.DispDisplayed:
		doc.Display = &imdnDisplay{}
		doc.Display.Status.Displayed = &struct{}{}
	default:
		return nil, fmt.Errorf("imdn: unknown disposition %q", r.Disposition)
	}
	x, err := xml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("imdn: %w", err)
	}
	x = append([]byte(xml.Header), x...)
	var b bytes.Buffer
	// CPIM message headers (RFC 3862 §3), then the MIME part (§2).
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nNS: imdn <%s>\r\nimdn.Message-ID: %s\r\nDateTime: %s\r\n\r\n",
		from, to, imdnNS, sip.GenerateTagN(16), now.Format(time.RFC3339))
	fmt.Fprintf(&b, "Content-Type: message/imdn+xml\r\nContent-Disposition: notification\r\nContent-Length: %d\r\n\r\n", len(x))
	b.Write(x)
	return b.Bytes(), nil
}

// sendIMDN sends the IMDN of c.Receipt to ext from the contact's thread.
func (g *Gateway) sendIMDN(ctx context.Context, ext string, c session.Chat) error {
	user := threadUser(contactUser(c), c.Thread)
	from := sip.Uri{Scheme: "sip", User: user, Host: g.domain}
	to := sip.Uri{Scheme: "sip", User: ext, Host: g.pbxHost}
	body, err := imdnBody(c.Receipt, from.String(), to.String(), time.Now())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	req := g.newMessage(ext, "", user, "")
	req.ReplaceHeader(sip.NewHeader("Content-Type", "message/cpim"))
	req.SetBody(body)
	return g.send(ctx, ext, req)
}
