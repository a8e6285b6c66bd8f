package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/web/app"
)

// APIWhatsAppNumbers answers GET /api/v1/whatsapp/numbers: every
// configured WhatsApp number (the primary first) with its channel name —
// what a campaign or a send names to leave from that number — and its
// standing at Meta (quality rating, messaging limit tier, throughput,
// name status) as last read.
func (s *API) APIWhatsAppNumbers(c *gin.Context) {
	a := s.waAccount()
	if a == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", app.ErrNoWhatsApp.Error(), "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"numbers": app.NonNil(a.WhatsAppNumbers())})
}

// APIWhatsAppSignals answers GET /api/v1/whatsapp/signals: Meta's last
// account signals (template status, category and quality changes, number
// quality and messaging limit, account updates), newest last.
func (s *API) APIWhatsAppSignals(c *gin.Context) {
	a := s.waAccount()
	if a == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", app.ErrNoWhatsApp.Error(), "")
		return
	}
	sig, err := a.WhatsAppSignals()
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", err.Error(), "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"signals": app.NonNil[whatsapp.AccountEvent](sig)})
}

func (s *API) waAccount() app.WhatsAppAccount {
	if s.D.WhatsApp == nil {
		return nil
	}
	return s.D.WhatsApp.Account
}

// APIWhatsAppRefresh answers POST /api/v1/whatsapp/numbers/refresh
// (admins): every number's standing is read from Meta now; the answer is
// the numbers as GET /whatsapp/numbers gives them, 502 with Meta's error
// when a reading failed.
func (s *API) APIWhatsAppRefresh(c *gin.Context) {
	a := s.waAccount()
	if a == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", app.ErrNoWhatsApp.Error(), "")
		return
	}
	if err := a.RefreshWhatsAppNumbers(c.Request.Context()); err != nil {
		app.APIError(c, http.StatusBadGateway, "upstream", "reading the numbers from Meta failed: "+err.Error(), "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"numbers": app.NonNil(a.WhatsAppNumbers())})
}
