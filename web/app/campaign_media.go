package app

import (
	"context"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// CampaignMedia is implemented by a campaign service whose SMS campaigns
// can carry a file sent as MMS (docs/mms.md): the upload is fitted to the
// carrier limit of the channel's MMS-capable SIMs and stored; the result
// goes into CampaignInput.Media. Refusals are *FieldError on "media" with
// the reason code.
type CampaignMedia interface {
	FitCampaignMedia(ctx context.Context, channel, name string, data []byte) (*campaign.Media, error)
}

// FitCampaignMedia is campaign.Engine.FitMedia.
func (a *engineCampaigns) FitCampaignMedia(ctx context.Context, channel, name string, data []byte) (*campaign.Media, error) {
	m, err := a.e.FitMedia(ctx, channel, name, data)
	if err != nil {
		return nil, mapEngineErr(err)
	}
	return &m, nil
}

// isMediaReason: r is about the MMS file.
func isMediaReason(r message.Reason) bool { return strings.HasPrefix(r.Code, "campaign.mms_") }
