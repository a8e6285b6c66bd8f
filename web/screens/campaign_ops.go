package screens

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// campaignOp runs op on the campaign service as I (an optional interface:
// deleting, archiving, retrying one recipient) and answers the way every
// such portal action does: 404 when the service lacks I or the campaign
// (or recipient) is unknown; a flash with stateKey and back to back when
// the campaign's state forbids it; a logged 500 for anything else; on
// success the flash doneKey and a redirect to next.
func campaignOp[I any](s *Screens, c *gin.Context, what, stateKey, back, doneKey, next string, op func(svc I) error) {
	if s.campaignsUnavailable(c) {
		return
	}
	svc, ok := s.D.Campaigns.(I)
	if !ok {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	id := c.Param("id")
	switch err := op(svc); {
	case errors.Is(err, app.ErrRecipientNotFound):
		s.RenderError(c, http.StatusNotFound, "campaign.err.recipient_not_found")
	case errors.Is(err, app.ErrCampaignNotFound):
		s.RenderError(c, http.StatusNotFound, "campaign.err.not_found")
	case errors.Is(err, app.ErrCampaignState):
		s.Flash(c, stateKey)
		c.Redirect(http.StatusSeeOther, back)
	case err != nil:
		s.Log.Error(what, "id", id, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
	default:
		s.Log.Info(what, "id", id, "user", app.CurrentUser(c).Name)
		s.Flash(c, doneKey)
		c.Redirect(http.StatusSeeOther, next)
	}
}
