package screens

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/web/app"
)

// The campaign form's MMS file (docs/mms.md): an SMS campaign may carry a
// file sent as MMS through the channel's MMS-capable SIMs. A new upload is
// fitted to their carrier limit at once; the result (or the refusal with
// its reason) is shown at the field, and the fitted file is kept through
// re-renders of the form in the hidden field media_json (the engine checks
// that it names a file pbxgate stored).

// readCampaignMediaForm returns the form's MMS file: a new upload fitted
// for channel, else the one fitted before unless removed; nil: none.
// Refusals go to errs["media"].
func (s *Screens) readCampaignMediaForm(c *gin.Context, v *app.View, channel string) *campaign.Media {
	fm, ok := s.D.Campaigns.(app.CampaignMedia)
	if !ok {
		return nil
	}
	if fh, err := c.FormFile("media"); err == nil && fh.Size > 0 {
		f, err := fh.Open()
		var data []byte
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(f, campaign.MaxMediaUpload+1))
			f.Close()
		}
		if err != nil {
			v.Errors["media"] = v.T("campaign.err.mms_file_read")
			return nil
		}
		md, err := fm.FitCampaignMedia(c.Request.Context(), channel, fh.Filename, data)
		if err != nil {
			var fe *app.FieldError
			if errors.As(err, &fe) {
				v.Errors["media"] = v.Reason(fe.Reason, fe.Message)
			} else {
				v.Errors["media"] = v.T("error.internal")
			}
			return nil
		}
		return md
	}
	if c.PostForm("media_remove") != "" {
		return nil
	}
	if raw := c.PostForm("media_json"); raw != "" {
		var md campaign.Media
		if json.Unmarshal([]byte(raw), &md) == nil && md.Path != "" {
			return &md
		}
	}
	return nil
}

// setMedia shows the form's MMS file and what fitting did to it.
func (d *campaignFormData) setMedia(v *app.View, md *campaign.Media) {
	d.Media = md
	if md == nil {
		return
	}
	if b, err := json.Marshal(md); err == nil {
		d.MediaJSON = string(b)
	}
	if md.Scaled {
		d.MediaFit = v.T("campaign.mms_file_scaled", md.Name, md.FromWidth, md.FromHeight, md.Width, md.Height, kb(md.OriginalSize), kb(md.Size), md.Quality, kb(md.Limit))
	} else {
		d.MediaFit = v.T("campaign.mms_file_kept", md.Name, md.ContentType, kb(md.Size), kb(md.Limit))
	}
}

func kb(n int) int { return (n + 1023) / 1024 }

// HasMMS: the campaign service can send MMS campaigns (the form offers the
// file field for SMS channels).
func (d campaignFormData) HasMMS() bool { return d.mms }
