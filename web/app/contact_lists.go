package app

import (
	"bytes"
	"context"
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// Contact lists (seed 001): living lists a campaign takes its recipients
// from, filtered and sorted by their columns; an "always running"
// campaign sends to the contacts added later (API, CSV import) until it
// is stopped. The portal page is /contacts/lists (screens), the API
// /api/v1/contact-lists (api).

// listNotifier is implemented by the campaign service that runs
// always-running campaigns (EngineCampaigns).
type listNotifier interface{ ListChanged(list string) }

// ListChanged wakes the engine's always-running campaigns on list.
func (a *engineCampaigns) ListChanged(list string) { a.e.ListChanged(list) }

// ContactLists are the stored contact lists.
func (s *Server) ContactLists() *recipients.ContactLists {
	return recipients.NewContactLists(s.D.Store)
}

// ListChanged tells the campaign service that list has new contacts.
func (s *Server) ListChanged(name string) {
	if n, ok := s.D.Campaigns.(listNotifier); ok {
		n.ListChanged(name)
	}
}

// ImportListCSV stores b into list name (replace: instead of its
// contacts), audits it and wakes its campaigns; problems with the file
// are *InputProblem for field "file".
func (s *Server) ImportListCSV(c *gin.Context, name string, b []byte, replace bool) (recipients.ContactList, recipients.Result, error) {
	meta, res, err := s.ContactLists().ImportCSV(c.Request.Context(), name, bytes.NewReader(b), recipients.CSVOptions{Region: s.DefaultCountry()}, replace)
	switch {
	case errors.Is(err, recipients.ErrNoPhoneColumn):
		return meta, res, Problem("file", "no_phone_column", "campaign.err.csv_no_phone")
	case errors.Is(err, recipients.ErrTooMany):
		return meta, res, Problem("file", "too_many", "lists.err.too_many", recipients.MaxListContacts)
	case err != nil:
		p := FileProblem("file", err)
		if FileUnreadable(p) {
			s.Log.Warn("contact list import: file unreadable", "err", err)
		}
		return meta, res, p
	}
	s.Audit(c, "contact_list.import", name)
	s.ListChanged(name)
	res.Invalid = NonNil(res.Invalid)
	return meta, res, nil
}

// CheckListSource checks a campaign's contact list source: found is
// false when there is no such list; err is why its filters or sort are
// invalid (message.ReasonOf translates it).
func (s *Server) CheckListSource(ctx context.Context, src *campaign.ListSource) (found bool, err error) {
	if _, err := s.ContactLists().Get(ctx, src.Name); err != nil {
		return false, nil
	}
	return true, src.Query.Validate()
}
