package screens

import (
	"context"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	"github.com/pbxgate/pbxgate/web/app"
)

// The Viber bot's setup page (app.ViberSetup): status, connection test,
// the viber:// link with its QR code, the subscribers.

type viberData struct {
	Status          *app.ViberStatus
	TestOK, TestErr string
	Link            string
	Href            template.URL
	QR              template.URL
}

// ViberPage is the bot's setup page; POSTed (admins), it also tests the
// connection (get_account_info).
func (s *Screens) ViberPage(c *gin.Context) {
	d := &viberData{}
	v := s.NewView(c, "viber", "nav.viber", d)
	if s.D.Viber != nil {
		st := s.D.Viber.ViberStatus(c.Request.Context())
		d.Status = &st
		if c.Request.Method == http.MethodPost {
			ctx, cancel := context.WithTimeout(c.Request.Context(), 15*time.Second)
			name, err := s.D.Viber.TestViber(ctx)
			cancel()
			if err != nil {
				d.TestErr = v.T("viber.test_failed", err.Error())
			} else {
				d.TestOK = v.T("viber.test_ok", name)
			}
		}
		ctxParam := strings.TrimSpace(c.Query("context"))
		v.Form["context"] = ctxParam
		if st.URI != "" {
			link, err := clicktochat.Viber(st.URI, ctxParam)
			if err != nil {
				v.Errors["context"] = v.T("viber.err.context")
			} else if svg, err := clicktochat.SVG(link, clicktochat.Medium); err == nil {
				d.Link, d.Href = link, template.URL(link)
				d.QR = template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg))
			}
		}
	}
	s.Render(c, http.StatusOK, "viber", v)
}

// ViberPNG serves the link's QR code for print.
func (s *Screens) ViberPNG(c *gin.Context) {
	if s.D.Viber == nil {
		s.RenderError(c, http.StatusNotFound, "viber.not_configured")
		return
	}
	st := s.D.Viber.ViberStatus(c.Request.Context())
	link, err := clicktochat.Viber(st.URI, strings.TrimSpace(c.Query("context")))
	if err != nil {
		s.RenderError(c, http.StatusBadRequest, "viber.err.context")
		return
	}
	s.qrPNG(c, link, "viber-qr.png")
}
