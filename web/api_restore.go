package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

func (s *server) apiUploadRestore(c *gin.Context) {
	if s.d.Restore == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "restore is not available in this installation", "")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBackupUpload)
	saved, err := s.d.Restore.StageRestore(c.Request.Context(), c.Request.Body)
	if err != nil {
		key, _ := s.restoreErr(err)
		status := http.StatusUnprocessableEntity
		if key == "restore.err.pending" {
			status = http.StatusConflict
		}
		apiError(c, status, "restore_"+strings.TrimPrefix(key, "restore.err."), err.Error(), "")
		return
	}
	s.audit(c, "restore.upload", "api")
	c.JSON(http.StatusAccepted, gin.H{"saved_to": saved, "restarting": s.d.Restart != nil})
	s.restartAfterResponse(c, "restore")
}
