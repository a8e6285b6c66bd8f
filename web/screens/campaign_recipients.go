package screens

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// RecipientFilter is the campaign page's recipient filter: the state shown
// ("" for all), the states to pick from, and whether a failed recipient
// has its own retry button.
type RecipientFilter struct {
	State       string
	States      []string
	CanFilter   bool
	CanRetryOne bool
}

// recipientFilter is the filter of campaign cd's page showing state.
func (s *Screens) recipientFilter(cd app.CampaignDetail, state string) RecipientFilter {
	_, canFilter := s.D.Campaigns.(app.RecipientFilter)
	_, canRetry := s.D.Campaigns.(app.RecipientRetrier)
	return RecipientFilter{State: state, States: app.RecipientStates, CanFilter: canFilter,
		CanRetryOne: canRetry && cd.State == app.StateCompleted && !app.ReadOnly(cd.CampaignSummary)}
}

// PageURL links page p of the recipients with the same filter.
func (f RecipientFilter) PageURL(p int) string {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", f.State)
	}
	q.Set("page", strconv.Itoa(p))
	return "?" + q.Encode()
}

// CampaignRetryRecipient sends one failed recipient of a completed campaign
// again and returns to the campaign page (keeping its filter).
func (s *Screens) CampaignRetryRecipient(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	rr, ok := s.D.Campaigns.(app.RecipientRetrier)
	if !ok {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	id, number := c.Param("id"), c.Param("number")
	back := "/campaigns/" + url.PathEscape(id)
	if st := c.PostForm("state"); st != "" && app.ValidRecipientState(st) {
		back += "?state=" + url.QueryEscape(st)
	}
	switch err := rr.RetryRecipient(c.Request.Context(), id, number); {
	case errors.Is(err, app.ErrRecipientNotFound):
		s.RenderError(c, http.StatusNotFound, "campaign.err.recipient_not_found")
	case errors.Is(err, app.ErrCampaignNotFound):
		s.RenderError(c, http.StatusNotFound, "campaign.err.not_found")
	case errors.Is(err, app.ErrCampaignState):
		s.Flash(c, "campaign.err.retry_one_state")
		c.Redirect(http.StatusSeeOther, back)
	case err != nil:
		s.Log.Error("retry recipient", "id", id, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
	default:
		s.Log.Info("campaign recipient retried", "id", id, "user", app.CurrentUser(c).Name)
		s.Flash(c, "campaign.done.retry_one")
		c.Redirect(http.StatusSeeOther, back)
	}
}
