package web

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// RestoreStager loads an uploaded backup for the next start, after saving
// the current store to a backup file it names.
type RestoreStager interface {
	StageRestore(ctx context.Context, r io.Reader) (savedTo string, err error)
	RestorePending() bool
}

// maxBackupUpload bounds a restore upload (a Pi's store stays far below).
const maxBackupUpload = 4 << 30

// restartData is the page shown while the daemon restarts (restore, PBX
// settings): Message is its catalog key, Then where the page goes when
// the daemon answers again.
type restartData struct {
	Message string
	Then    string
	SavedTo string
}

func (s *server) restoreErr(err error) (string, []any) {
	switch {
	case errors.Is(err, store.ErrRestorePending):
		return "restore.err.pending", nil
	case errors.Is(err, store.ErrNewerSchema):
		return "restore.err.newer", nil
	default:
		return "restore.err.invalid", nil
	}
}

func (s *server) uploadRestore(c *gin.Context) {
	if s.d.Restore == nil {
		s.systemNotice(c, http.StatusServiceUnavailable, func(v *view, d *systemData) { v.Errors["backup"] = v.T("restore.err.unavailable") })
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBackupUpload)
	if ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); ct != "multipart/form-data" {
		s.systemNotice(c, http.StatusUnsupportedMediaType, func(v *view, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
		return
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
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
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
		return
	case !confirmed:
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) { v.Errors["confirm"] = v.T("restore.err.confirm") })
		return
	}
	saved, err := s.d.Restore.StageRestore(c.Request.Context(), part)
	if err != nil {
		key, args := s.restoreErr(err)
		s.log.Warn("restore upload refused", "err", err, "user", currentUser(c).Name)
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) {
			v.Errors["backup"] = v.T(key, args...) + " (" + err.Error() + ")"
		})
		return
	}
	s.audit(c, "restore.upload", part.FileName())
	s.render(c, http.StatusOK, "restarting", s.newView(c, "system", "restore.title", restartData{Message: "restore.done", Then: "/login", SavedTo: saved}))
	s.restartAfterResponse(c, "restore")
}

// restartAfterResponse asks the daemon to restart once this response is
// out (the server's graceful shutdown lets it finish).
func (s *server) restartAfterResponse(c *gin.Context, reason string) {
	if s.d.Restart == nil {
		return
	}
	c.Writer.Flush()
	s.d.Restart(reason)
}
