package screens

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	"github.com/pbxgate/pbxgate/web/app"
)

// The Viber bot's setup page (app.ViberSetup): status, connection test,
// the viber:// link with its QR code, the subscribers.

type viberData struct {
	Status *app.ViberStatus
	chatLink
}

// viberLink builds the link on what the Viber API reported (ok false
// until it did).
func viberLink(st app.ViberStatus) func(string) (string, bool, error) {
	return func(p string) (string, bool, error) {
		link, err := clicktochat.Viber(st.URI, p)
		return link, st.URI != "", err
	}
}

// ViberPage is the bot's setup page; POSTed (admins), it also tests the
// connection (get_account_info).
func (s *Screens) ViberPage(c *gin.Context) {
	d := &viberData{}
	v := s.NewView(c, "viber", "nav.viber", d)
	if s.D.Viber != nil {
		st := s.D.Viber.ViberStatus(c.Request.Context())
		d.Status = &st
		s.chatLinkPage(c, v, &d.chatLink, "viber", "context", s.D.Viber.TestViber, viberLink(st))
	}
	s.Render(c, http.StatusOK, "viber", v)
}

// ViberPNG serves the link's QR code for print.
func (s *Screens) ViberPNG(c *gin.Context) {
	if s.D.Viber == nil {
		s.RenderError(c, http.StatusNotFound, "viber.not_configured")
		return
	}
	s.chatLinkPNG(c, "viber", "context", "viber-qr.png", viberLink(s.D.Viber.ViberStatus(c.Request.Context())))
}
