package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// APIRetryRecipient is POST /api/v1/campaigns/{id}/recipients/{number}/retry:
// one failed recipient of a completed campaign is sent again; the answer
// is the campaign (now retrying or pending).
func (s *API) APIRetryRecipient(c *gin.Context) {
	id := c.Param("id")
	if !campaignOp(s, c, "retry one recipient", func(r app.RecipientRetrier) error {
		return r.RetryRecipient(c.Request.Context(), id, c.Param("number"))
	}) {
		return
	}
	s.Log.Info("campaign recipient retried", "id", id, "user", app.CurrentUser(c).Name)
	s.apiOnCampaign(c, func(cd app.CampaignDetail) { c.JSON(http.StatusOK, cd) })
}

// APIRecipientReasons is GET /api/v1/campaigns/{id}/recipients/reasons:
// the campaign's failed recipients grouped by failure reason, the most
// frequent first; each key filters GET …/recipients?reason=key.
func (s *API) APIRecipientReasons(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	f, ok := s.D.Campaigns.(app.RecipientSearcher)
	if !ok {
		app.APIError(c, http.StatusNotImplemented, "unavailable", "this campaign service cannot group failure reasons", "")
		return
	}
	rs, err := f.FailureReasons(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": rs})
}

// APIRetrySelected is POST /api/v1/campaigns/{id}/recipients/retry with
// {"numbers": [...]}: those failed recipients of a completed campaign are
// sent again in one retry; the answer is the campaign. Nothing is retried
// when one number is unknown (404) or did not fail (409).
func (s *API) APIRetrySelected(c *gin.Context) {
	var req struct {
		Numbers []string `json:"numbers"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		app.APIError(c, http.StatusBadRequest, "invalid", "the body must be JSON: {\"numbers\": [\"+4915…\"]}", "")
		return
	}
	if len(req.Numbers) == 0 {
		app.APIError(c, http.StatusBadRequest, "required", "numbers lists the failed recipients to send again", "numbers")
		return
	}
	id := c.Param("id")
	if !campaignOp(s, c, "retry recipients", func(r app.RecipientsRetrier) error {
		return r.RetryRecipients(c.Request.Context(), id, req.Numbers)
	}) {
		return
	}
	s.Log.Info("campaign recipients retried", "id", id, "count", len(req.Numbers), "user", app.CurrentUser(c).Name)
	s.apiOnCampaign(c, func(cd app.CampaignDetail) { c.JSON(http.StatusOK, cd) })
}
