package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

type clickToChatData struct {
	Link string
	// Href is Link marked safe: html/template would blank the sms: scheme,
	// and the link is built by clicktochat, not taken from the request.
	Href template.URL
	// QR is the SVG as a data: URL (the CSP allows data: images only).
	QR template.URL
	// PNG is the PNG download's address with the form as its query string,
	// built here and marked safe: html/template would escape the query
	// string's & and = in the attribute (the PNG link answered 400).
	PNG template.URL
}

// pngURL is the PNG download's address for the form's values.
func pngURL(kind, number, text string) template.URL {
	q := url.Values{"kind": {kind}, "number": {number}}
	if text != "" {
		q.Set("text", text)
	}
	return template.URL("/clicktochat/qr.png?" + q.Encode())
}

// ownWhatsAppNumber is the gateway's own WhatsApp number when the status
// knows it, to pre-fill the form.
func (s *server) ownWhatsAppNumber(c *gin.Context) string {
	if s.d.Status == nil {
		return ""
	}
	for _, w := range s.d.Status.Status(c.Request.Context()).WhatsApp {
		if w.PhoneNumber != "" {
			return w.PhoneNumber
		}
	}
	return ""
}

// clickToChatLink builds the wa.me or sms: link from the form.
func (s *server) clickToChatLink(c *gin.Context, v *view) string {
	kind, number, text := c.Query("kind"), strings.TrimSpace(c.Query("number")), c.Query("text")
	v.Form["kind"], v.Form["number"], v.Form["text"] = kind, number, text
	if number == "" {
		return ""
	}
	link, _, err := s.makeClickToChat(kind, number, text)
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		v.Errors[p.Field] = v.T(p.Key, p.Args...)
		return ""
	}
	return link
}

// makeClickToChat builds the sms: link (kind "sms") or wa.me link (any
// other kind) for number, normalised to E.164, and text. Problems are
// *inputProblem for number or text.
func (s *server) makeClickToChat(kind, number, text string) (link, e164 string, err error) {
	e164, err = recipients.Normalize(number, s.defaultCountry())
	if err != nil {
		return "", "", problem("number", "invalid", "clicktochat.err.number")
	}
	if kind == "sms" {
		link, err = clicktochat.SMS(e164, text)
	} else {
		link, err = clicktochat.WhatsApp(e164, text)
	}
	if err != nil {
		return "", "", problem("text", "invalid", "clicktochat.err.link", err.Error())
	}
	return link, e164, nil
}

func (s *server) clickToChat(c *gin.Context) {
	d := &clickToChatData{}
	v := s.newView(c, "clicktochat", "nav.clicktochat", d)
	if v.Form["kind"] == "" {
		v.Form["kind"] = "whatsapp"
	}
	if link := s.clickToChatLink(c, v); link != "" {
		svg, err := clicktochat.SVG(link, clicktochat.Medium)
		if err != nil {
			v.Errors["text"] = v.T("clicktochat.err.link", err.Error())
		} else {
			d.Link, d.Href = link, template.URL(link)
			d.QR = template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg))
			d.PNG = pngURL(v.Form["kind"], v.Form["number"], v.Form["text"])
		}
	}
	if c.Request.URL.RawQuery == "" {
		// A fresh form offers the gateway's own WhatsApp number.
		v.Form["number"] = s.ownWhatsAppNumber(c)
	}
	s.render(c, http.StatusOK, "clicktochat", v)
}

// clickToChatPNG serves the QR code as a PNG download for print.
func (s *server) clickToChatPNG(c *gin.Context) {
	v := s.newView(c, "clicktochat", "nav.clicktochat", nil)
	link := s.clickToChatLink(c, v)
	if link == "" {
		s.renderError(c, http.StatusBadRequest, "clicktochat.err.number")
		return
	}
	png, err := clicktochat.PNG(link, clicktochat.Medium, 1024)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="click-to-chat.png"`)
	c.Data(http.StatusOK, "image/png", png)
}
