package screens

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	"github.com/pbxgate/pbxgate/web/app"
)

// The VK community's setup page (app.VKSetup): status, connection test,
// the vk.me link with its QR code, the subscribers.

type vkData struct {
	Status *app.VKStatus
	chatLink
}

// vkLink builds the link on what the VK API reported (ok false
// until it did).
func vkLink(st app.VKStatus) func(string) (string, bool, error) {
	return func(p string) (string, bool, error) {
		link, err := clicktochat.VK(st.ScreenName, p)
		return link, st.ScreenName != "", err
	}
}

// VKPage is the community's setup page; POSTed (admins), it also tests
// the connection (groups.getById).
func (s *Screens) VKPage(c *gin.Context) {
	d := &vkData{}
	v := s.NewView(c, "vk", "nav.vk", d)
	if s.D.VK != nil {
		st := s.D.VK.VKStatus(c.Request.Context())
		d.Status = &st
		s.chatLinkPage(c, v, &d.chatLink, "vk", "ref", s.D.VK.TestVK, vkLink(st))
	}
	s.Render(c, http.StatusOK, "vk", v)
}

// VKPNG serves the link's QR code for print.
func (s *Screens) VKPNG(c *gin.Context) {
	if s.D.VK == nil {
		s.RenderError(c, http.StatusNotFound, "vk.not_configured")
		return
	}
	s.chatLinkPNG(c, "vk", "ref", "vk-qr.png", vkLink(s.D.VK.VKStatus(c.Request.Context())))
}
