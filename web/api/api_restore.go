package api

import (
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"
)

func (s *API) APIUploadRestore(c *gin.Context) {
	if s.D.Restore == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", "restore is not available in this installation", "")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxBackupUpload)
	saved, err := s.D.Restore.StageRestore(c.Request.Context(), c.Request.Body)
	if err != nil {
		key, _ := s.RestoreErr(err)
		status := http.StatusUnprocessableEntity
		if key == "restore.err.pending" {
			status = http.StatusConflict
		}
		app.APIError(c, status, "restore_"+strings.TrimPrefix(key, "restore.err."), err.Error(), "")
		return
	}
	s.Audit(c, "restore.upload", "api")
	c.JSON(http.StatusAccepted, gin.H{"saved_to": saved, "restarting": s.D.Restart != nil})
	s.RestartAfterResponse(c, "restore")
}
