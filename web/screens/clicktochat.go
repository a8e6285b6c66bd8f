package screens

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clicktochat"
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
func (s *Screens) ownWhatsAppNumber(c *gin.Context) string {
	if s.D.Status == nil {
		return ""
	}
	for _, w := range s.D.Status.Status(c.Request.Context()).WhatsApp {
		if w.PhoneNumber != "" {
			return w.PhoneNumber
		}
	}
	return ""
}

// clickToChatLink builds the wa.me or sms: link from the form.
func (s *Screens) clickToChatLink(c *gin.Context, v *app.View) string {
	kind, number, text := c.Query("kind"), strings.TrimSpace(c.Query("number")), c.Query("text")
	v.Form["kind"], v.Form["number"], v.Form["text"] = kind, number, text
	if number == "" {
		return ""
	}
	link, _, err := s.MakeClickToChat(kind, number, text)
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		v.Errors[p.Field] = v.T(p.Key, p.Args...)
		return ""
	}
	return link
}

func (s *Screens) ClickToChat(c *gin.Context) {
	d := &clickToChatData{}
	v := s.NewView(c, "clicktochat", "nav.clicktochat", d)
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
	s.Render(c, http.StatusOK, "clicktochat", v)
}

// ClickToChatPNG serves the QR code as a PNG download for print.
func (s *Screens) ClickToChatPNG(c *gin.Context) {
	v := s.NewView(c, "clicktochat", "nav.clicktochat", nil)
	link := s.clickToChatLink(c, v)
	if link == "" {
		s.RenderError(c, http.StatusBadRequest, "clicktochat.err.number")
		return
	}
	s.qrPNG(c, link, "click-to-chat.png")
}

// qrPNG answers link's QR code as a PNG download called filename.
func (s *Screens) qrPNG(c *gin.Context, link, filename string) {
	png, err := clicktochat.PNG(link, clicktochat.Medium, 1024)
	if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="`+filename+`"`)
	c.Data(http.StatusOK, "image/png", png)
}
