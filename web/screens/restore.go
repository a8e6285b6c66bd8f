package screens

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"
)

// restartData is the page shown while the daemon restarts (restore, PBX
// settings): Message is its catalog key, Then where the page goes when
// the daemon answers again.
type restartData struct {
	Message string
	Then    string
	SavedTo string
}

func (s *Screens) UploadRestore(c *gin.Context) {
	if s.D.Restore == nil {
		s.systemNotice(c, http.StatusServiceUnavailable, func(v *app.View, d *systemData) { v.Errors["backup"] = v.T("restore.err.unavailable") })
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxBackupUpload)
	if ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); ct != "multipart/form-data" {
		s.systemNotice(c, http.StatusUnsupportedMediaType, func(v *app.View, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
		return
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *app.View, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
		return
	}
	// The confirmation checkbox comes before the file in the form.
	confirmed := false
	var part *multipart.Part
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FormName() == "confirm" {
			b, _ := io.ReadAll(io.LimitReader(p, 16))
			confirmed = string(b) == "yes"
			continue
		}
		if p.FormName() == "backup" && p.FileName() != "" {
			part = p
			break
		}
	}
	switch {
	case part == nil:
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *app.View, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
		return
	case !confirmed:
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *app.View, d *systemData) { v.Errors["confirm"] = v.T("restore.err.confirm") })
		return
	}
	saved, err := s.D.Restore.StageRestore(c.Request.Context(), part)
	if err != nil {
		key, args := s.RestoreErr(err)
		s.Log.Warn("restore upload refused", "err", err, "user", app.CurrentUser(c).Name)
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *app.View, d *systemData) {
			v.Errors["backup"] = v.T(key, args...) // the English detail is in the log
		})
		return
	}
	s.Audit(c, "restore.upload", part.FileName())
	s.Render(c, http.StatusOK, "restarting", s.NewView(c, "system", "restore.title", restartData{Message: "restore.done", Then: "/login", SavedTo: saved}))
	s.RestartAfterResponse(c, "restore")
}
