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

// The VK community's setup page (app.VKSetup): status, connection test,
// the vk.me link with its QR code, the subscribers.

type vkData struct {
	Status          *app.VKStatus
	TestOK, TestErr string
	Link            string
	Href            template.URL
	QR              template.URL
}

// VKPage is the community's setup page; POSTed (admins), it also tests
// the connection (groups.getById).
func (s *Screens) VKPage(c *gin.Context) {
	d := &vkData{}
	v := s.NewView(c, "vk", "nav.vk", d)
	if s.D.VK != nil {
		st := s.D.VK.VKStatus(c.Request.Context())
		d.Status = &st
		if c.Request.Method == http.MethodPost {
			ctx, cancel := context.WithTimeout(c.Request.Context(), 15*time.Second)
			name, err := s.D.VK.TestVK(ctx)
			cancel()
			if err != nil {
				d.TestErr = v.T("vk.test_failed", err.Error())
			} else {
				d.TestOK = v.T("vk.test_ok", name)
			}
		}
		ref := strings.TrimSpace(c.Query("ref"))
		v.Form["ref"] = ref
		if st.ScreenName != "" {
			link, err := clicktochat.VK(st.ScreenName, ref)
			if err != nil {
				v.Errors["ref"] = v.T("vk.err.ref")
			} else if svg, err := clicktochat.SVG(link, clicktochat.Medium); err == nil {
				d.Link, d.Href = link, template.URL(link)
				d.QR = template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg))
			}
		}
	}
	s.Render(c, http.StatusOK, "vk", v)
}

// VKPNG serves the link's QR code for print.
func (s *Screens) VKPNG(c *gin.Context) {
	if s.D.VK == nil {
		s.RenderError(c, http.StatusNotFound, "vk.not_configured")
		return
	}
	st := s.D.VK.VKStatus(c.Request.Context())
	link, err := clicktochat.VK(st.ScreenName, strings.TrimSpace(c.Query("ref")))
	if err != nil {
		s.RenderError(c, http.StatusBadRequest, "vk.err.ref")
		return
	}
	s.qrPNG(c, link, "vk-qr.png")
}
