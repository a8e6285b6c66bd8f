package screens

import (
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
	id := c.Param("id")
	back := "/campaigns/" + url.PathEscape(id)
	if st := c.PostForm("state"); st != "" && app.ValidRecipientState(st) {
		back += "?state=" + url.QueryEscape(st)
	}
	campaignOp(s, c, "campaign recipient retried", "campaign.err.retry_one_state", back, "campaign.done.retry_one", back,
		func(r app.RecipientRetrier) error {
			return r.RetryRecipient(c.Request.Context(), id, c.Param("number"))
		})
}
