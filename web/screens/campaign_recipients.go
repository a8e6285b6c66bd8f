package screens

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// RecipientFilter is the campaign page's recipient filter: the state shown
// ("" for all), the states to pick from, the part of the number searched
// for, the failure reason shown (a key of Reasons), the failed
// recipients grouped by reason, and whether a failed recipient has its
// own retry button.
type RecipientFilter struct {
	State       string
	States      []string
	Number      string
	Reason      string
	Reasons     []app.ReasonCount
	CanFilter   bool
	CanSearch   bool
	CanRetryOne bool
	// CanRetrySelected: failed rows have a checkbox for "send selected
	// again".
	CanRetrySelected bool
}

// recipientQuery reads the recipient filter of the campaign page's query
// (or of a retry form): an unknown state shows all.
func recipientQuery(get func(string) string) app.RecipientQuery {
	q := app.RecipientQuery{State: get("state"), Number: strings.TrimSpace(get("number")), Reason: strings.TrimSpace(get("reason"))}
	if !app.ValidRecipientState(q.State) {
		q.State = ""
	}
	return q
}

// recipientFilter is the filter of campaign cd's page showing q.
func (s *Screens) recipientFilter(ctx context.Context, cd app.CampaignDetail, q app.RecipientQuery) RecipientFilter {
	_, canFilter := s.D.Campaigns.(app.RecipientFilter)
	_, canRetry := s.D.Campaigns.(app.RecipientRetrier)
	f := RecipientFilter{State: q.State, States: app.RecipientStates, Number: q.Number, Reason: q.Reason, CanFilter: canFilter,
		CanRetryOne: canRetry && cd.State == app.StateCompleted && !app.ReadOnly(cd.CampaignSummary)}
	_, canRetrySel := s.D.Campaigns.(app.RecipientsRetrier)
	f.CanRetrySelected = canRetrySel && f.CanRetryOne
	if se, ok := s.D.Campaigns.(app.RecipientSearcher); ok {
		f.CanSearch = true
		rs, err := se.FailureReasons(ctx, cd.ID)
		if err != nil {
			s.Log.Warn("campaign failure reasons", "id", cd.ID, "err", err)
		}
		f.Reasons = rs
	}
	return f
}

// values is the filter as a query (without the page).
func (f RecipientFilter) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "number": f.Number, "reason": f.Reason} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// PageURL links page p of the recipients with the same filter.
func (f RecipientFilter) PageURL(p int) string {
	q := f.values()
	q.Set("page", strconv.Itoa(p))
	return "?" + q.Encode()
}

// ReasonURL links the failed recipients with reason key (keeping the
// number searched for).
func (f RecipientFilter) ReasonURL(key string) string {
	q := url.Values{"state": {"failed"}, "reason": {key}}
	if f.Number != "" {
		q.Set("number", f.Number)
	}
	return "?" + q.Encode()
}

// CampaignRetryRecipient sends one failed recipient of a completed campaign
// again and returns to the campaign page (keeping its filter).
func (s *Screens) CampaignRetryRecipient(c *gin.Context) {
	id := c.Param("id")
	back := "/campaigns/" + url.PathEscape(id)
	q := recipientQuery(c.PostForm)
	if v := (RecipientFilter{State: q.State, Number: q.Number, Reason: q.Reason}).values(); len(v) > 0 {
		back += "?" + v.Encode()
	}
	campaignOp(s, c, "campaign recipient retried", "campaign.err.retry_one_state", back, "campaign.done.retry_one", back,
		func(r app.RecipientRetrier) error {
			return r.RetryRecipient(c.Request.Context(), id, c.Param("number"))
		})
}

// CampaignRetrySelected sends the failed recipients ticked on the campaign
// page (form field numbers) again in one retry and returns to the page
// (keeping its filter); with none ticked it says so.
func (s *Screens) CampaignRetrySelected(c *gin.Context) {
	id := c.Param("id")
	back := "/campaigns/" + url.PathEscape(id)
	q := recipientQuery(c.PostForm)
	if v := (RecipientFilter{State: q.State, Number: q.Number, Reason: q.Reason}).values(); len(v) > 0 {
		back += "?" + v.Encode()
	}
	numbers := c.PostFormArray("numbers")
	if len(numbers) == 0 {
		s.Flash(c, "recipients.retry_selected.none")
		c.Redirect(http.StatusSeeOther, back)
		return
	}
	campaignOp(s, c, "campaign recipients retried", "campaign.err.retry_one_state", back, "campaign.done.retry_selected", back,
		func(r app.RecipientsRetrier) error {
			return r.RetryRecipients(c.Request.Context(), id, numbers)
		})
}
