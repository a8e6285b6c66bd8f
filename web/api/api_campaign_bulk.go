package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// apiBulkRequest is POST /api/v1/campaigns/bulk.
type apiBulkRequest struct {
	Action string   `json:"action"`
	IDs    []string `json:"ids"`
}

// APIBulkCampaigns stops, retries, duplicates or deletes several campaigns
// at once; each campaign's outcome is in the answer.
func (s *API) APIBulkCampaigns(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	var req apiBulkRequest
	if !app.BindJSON(c, &req, `{"action": "delete", "ids": ["…"]}`) {
		return
	}
	res, err := s.BulkCampaigns(c, req.Action, req.IDs)
	var fe *app.FieldError
	if errors.As(err, &fe) {
		app.APIError(c, http.StatusUnprocessableEntity, fe.Code, fe.Message, fe.Field)
		return
	}
	failed := 0
	for _, r := range res {
		if !r.OK {
			failed++
		}
	}
	c.JSON(http.StatusOK, gin.H{"items": res, "done": len(res) - failed, "failed": failed})
}
