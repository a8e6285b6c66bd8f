package screens

import (
	"mime/multipart"
	"net/http"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/firmware/spool"
)

// filePart returns the first file part of a streamed multipart form.
func filePart(c *gin.Context, field string) (*multipart.Part, error) {
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return nil, err
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, err
		}
		if p.FormName() == field && p.FileName() != "" {
			return p, nil
		}
	}
}

func (s *Screens) UploadUpdate(c *gin.Context) {
	if s.D.Updates == nil {
		s.systemNotice(c, http.StatusServiceUnavailable, func(v *app.View, d *systemData) { v.Errors["bundle"] = v.T("update.err.unavailable") })
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, spool.MaxBundleSize+1<<20)
	part, err := filePart(c, "bundle")
	if err != nil {
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *app.View, d *systemData) { v.Errors["bundle"] = v.T("update.err.no_file") })
		return
	}
	m, err := s.D.Updates.Stage(c.Request.Context(), part)
	if err != nil {
		key, args := app.UpdateErrKey(err)
		s.Log.Warn("firmware update refused", "err", err, "user", app.CurrentUser(c).Name)
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *app.View, d *systemData) {
			msg := v.T(key, args...) // the English detail is in the log
			if key == "update.err.other" {
				msg += " " + v.T("update.err.see_log")
			}
			v.Errors["bundle"] = msg
		})
		return
	}
	s.Audit(c, "update.upload", m.Version+" "+m.Architecture)
	s.systemNotice(c, http.StatusOK, func(v *app.View, d *systemData) { d.Update.Staged = &m })
}
