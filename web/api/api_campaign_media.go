package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/web/app"
)

// apiMediaFile is the MMS file of an SMS campaign in a JSON body: the
// file name and its bytes (base64 in JSON). A multipart body gives it as
// the "media" file part instead.
type apiMediaFile struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// apiCampaignMedia fits the request's MMS file, if any, to the channel's
// MMS-capable SIMs (docs/mms.md); false: it answered (422 with the reason
// on field "media").
func (s *API) apiCampaignMedia(c *gin.Context, req *apiCampaignRequest) (*campaign.Media, bool) {
	name, data := "", []byte(nil)
	if req.Media != nil {
		name, data = req.Media.Name, req.Media.Data
	} else if c.Request.MultipartForm != nil {
		fh, err := c.FormFile("media")
		if err != nil {
			return nil, true // no file: an SMS campaign
		}
		f, err := fh.Open()
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(f, campaign.MaxMediaUpload+1))
			f.Close()
		}
		if err != nil {
			app.APIError(c, http.StatusBadRequest, "invalid", "the media part cannot be read: "+err.Error(), "media")
			return nil, false
		}
		name = fh.Filename
	} else {
		return nil, true
	}
	if len(data) == 0 {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "media: the file is empty", "media")
		return nil, false
	}
	fm, ok := s.D.Campaigns.(app.CampaignMedia)
	if !ok {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "this campaign service cannot send MMS", "media")
		return nil, false
	}
	md, err := fm.FitCampaignMedia(c.Request.Context(), req.Channel, name, data)
	if err != nil {
		var fe *app.FieldError
		if errors.As(err, &fe) {
			app.APIError(c, http.StatusUnprocessableEntity, "invalid", fe.Message, "media")
			return nil, false
		}
		s.apiCampaignErr(c, err)
		return nil, false
	}
	return md, true
}
