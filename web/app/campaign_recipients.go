package app

import (
	"context"
	"errors"
	"io"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// RecipientStates are the recipient states the campaign page and the API
// filter by, in the order a recipient passes them (excluded: on a
// do-not-contact list, blacklisted or opted out).
var RecipientStates = []string{"queued", "sending", "sent", "delivered", "failed", "excluded", "unknown"}

// ValidRecipientState reports whether st is "" (all) or one of
// RecipientStates.
func ValidRecipientState(st string) bool {
	if st == "" {
		return true
	}
	for _, s := range RecipientStates {
		if s == st {
			return true
		}
	}
	return false
}

// RecipientFilter is optionally implemented by a CampaignService that can
// page one recipient state of a campaign ("" for all).
type RecipientFilter interface {
	FilterRecipients(ctx context.Context, id, state string, offset, limit int) ([]RecipientResult, int, error)
}

// RecipientRetrier is optionally implemented by a CampaignService that can
// send one failed recipient of a completed campaign again.
type RecipientRetrier interface {
	RetryRecipient(ctx context.Context, id, number string) error
}

// RecipientsRetrier is optionally implemented by a CampaignService that
// can send a selection of failed recipients of a completed campaign again
// in one retry (nothing is retried when one is unknown or did not fail).
type RecipientsRetrier interface {
	RetryRecipients(ctx context.Context, id string, numbers []string) error
}

// ReasonExporter is optionally implemented by a CampaignExporter that can
// write the reason column through a translation.
type ReasonExporter interface {
	ExportCampaignCSVReasons(ctx context.Context, id string, w io.Writer, reason func(message.Reason, string) string) error
}

// RecipientQuery narrows a campaign's recipients for the page and the
// API: State ("" for all), a part of the number, a failure reason's key
// (from FailureReasons; it implies failed).
type RecipientQuery struct {
	State, Number, Reason string
	Offset, Limit         int
}

// ReasonCount is one failure reason of a campaign with how many failed
// recipients have it; Key filters the list to them (?reason=Key).
type ReasonCount struct {
	Key string `json:"key"`
	// Reason is the English text; Code the reason for translation.
	Reason string         `json:"reason"`
	Code   message.Reason `json:"code,omitzero"`
	Count  int            `json:"count"`
}

// RecipientSearcher is optionally implemented by a CampaignService that
// can search a campaign's recipients by number and failure reason and
// group its failed recipients by reason.
type RecipientSearcher interface {
	SearchRecipients(ctx context.Context, id string, q RecipientQuery) ([]RecipientResult, int, error)
	FailureReasons(ctx context.Context, id string) ([]ReasonCount, error)
}

// ErrRecipientNotFound: the campaign has no recipient with that number.
var ErrRecipientNotFound = errors.New("recipient not found")

// Recipients pages campaign id's recipients in state ("" for all), through
// RecipientFilter when the service has it.
func (s *Server) Recipients(ctx context.Context, id, state string, offset, limit int) ([]RecipientResult, int, error) {
	if f, ok := s.D.Campaigns.(RecipientFilter); ok {
		return f.FilterRecipients(ctx, id, state, offset, limit)
	}
	if state != "" {
		return nil, 0, errors.New("this campaign service cannot filter recipients")
	}
	return s.D.Campaigns.CampaignRecipients(ctx, id, offset, limit)
}

// SearchRecipients pages campaign id's recipients matching q, through
// RecipientSearcher when the service has it (else only by state).
func (s *Server) SearchRecipients(ctx context.Context, id string, q RecipientQuery) ([]RecipientResult, int, error) {
	if f, ok := s.D.Campaigns.(RecipientSearcher); ok {
		return f.SearchRecipients(ctx, id, q)
	}
	if q.Number != "" || q.Reason != "" {
		return nil, 0, errors.New("this campaign service cannot search recipients")
	}
	return s.Recipients(ctx, id, q.State, q.Offset, q.Limit)
}

func (a *engineCampaigns) SearchRecipients(ctx context.Context, id string, q RecipientQuery) ([]RecipientResult, int, error) {
	p, err := a.e.SearchRecipients(ctx, id, campaign.RecipientSearch{Status: campaign.RecipientStatus(q.State), Number: q.Number,
		Reason: q.Reason, Offset: q.Offset, Limit: q.Limit})
	if err != nil {
		return nil, 0, mapEngineErr(err)
	}
	return a.results(ctx, id, p), p.Total, nil
}

func (a *engineCampaigns) FailureReasons(ctx context.Context, id string) ([]ReasonCount, error) {
	rs, err := a.e.FailureReasons(ctx, id)
	if err != nil {
		return nil, mapEngineErr(err)
	}
	out := make([]ReasonCount, len(rs))
	for i, r := range rs {
		out[i] = ReasonCount{Key: r.Key, Reason: r.Reason, Code: r.Code, Count: r.Count}
	}
	return out, nil
}

func (a *engineCampaigns) FilterRecipients(ctx context.Context, id, state string, offset, limit int) ([]RecipientResult, int, error) {
	return a.recipients(ctx, id, campaign.RecipientQuery{Status: campaign.RecipientStatus(state), Offset: offset, Limit: limit})
}

func (a *engineCampaigns) RetryRecipient(ctx context.Context, id, number string) error {
	_, err := a.e.RetryRecipient(ctx, id, number)
	if errors.Is(err, campaign.ErrRecipientNotFound) {
		return errors.Join(ErrRecipientNotFound, err)
	}
	return mapEngineErr(err)
}

func (a *engineCampaigns) RetryRecipients(ctx context.Context, id string, numbers []string) error {
	_, err := a.e.RetryRecipients(ctx, id, numbers)
	if errors.Is(err, campaign.ErrRecipientNotFound) {
		return errors.Join(ErrRecipientNotFound, err)
	}
	return mapEngineErr(err)
}

func (a *engineCampaigns) ExportCampaignCSVReasons(ctx context.Context, id string, w io.Writer, reason func(message.Reason, string) string) error {
	return mapEngineErr(a.e.ExportCSVReasons(ctx, id, w, reason))
}
