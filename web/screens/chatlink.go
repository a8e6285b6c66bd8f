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

// chatLink is what a messenger's setup page (Viber, VK) shows besides its
// status: the connection test's result and the click-to-chat link with
// its QR code.
type chatLink struct {
	TestOK, TestErr string
	Link            string
	Href            template.URL
	QR              template.URL
}

// chatLinkPage fills d for a setup page whose catalog keys start with
// prefix: on a POST (admins) it runs test; it reads the link's parameter
// (param: Viber's context, VK's ref) from the query and, when link has an
// address to build on (ok), shows the link and its QR code.
func (s *Screens) chatLinkPage(c *gin.Context, v *app.View, d *chatLink, prefix, param string,
	test func(context.Context) (string, error), link func(param string) (string, bool, error)) {
	if c.Request.Method == http.MethodPost {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 15*time.Second)
		name, err := test(ctx)
		cancel()
		if err != nil {
			d.TestErr = v.T(prefix+".test_failed", err.Error())
		} else {
			d.TestOK = v.T(prefix+".test_ok", name)
		}
	}
	p := strings.TrimSpace(c.Query(param))
	v.Form[param] = p
	l, ok, err := link(p)
	switch {
	case !ok:
	case err != nil:
		v.Errors[param] = v.T(prefix + ".err." + param)
	default:
		if svg, err := clicktochat.SVG(l, clicktochat.Medium); err == nil {
			d.Link, d.Href = l, template.URL(l)
			d.QR = template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg))
		}
	}
}

// chatLinkPNG serves a setup page's link as a QR code for print; a bad
// parameter is the page's own error.
func (s *Screens) chatLinkPNG(c *gin.Context, prefix, param, filename string, link func(param string) (string, bool, error)) {
	l, _, err := link(strings.TrimSpace(c.Query(param)))
	if err != nil {
		s.RenderError(c, http.StatusBadRequest, prefix+".err."+param)
		return
	}
	s.qrPNG(c, l, filename)
}
