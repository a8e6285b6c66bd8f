package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/firmware/spool"
)

func (s *server) apiUpdateStatus(c *gin.Context) {
	u := s.updateView()
	c.JSON(http.StatusOK, gin.H{"available": u.Available, "unavailable": u.Unavailable, "architecture": u.Arch,
		"pending": u.State.Pending, "processing": u.State.Processing, "last": u.State.Last})
}

func (s *server) apiUploadUpdate(c *gin.Context) {
	if s.d.Updates == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", spool.ErrUnavailable.Error(), "")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, spool.MaxBundleSize+1<<20)
	m, err := s.d.Updates.Stage(c.Request.Context(), c.Request.Body)
	if err != nil {
		key, _ := updateErrKey(err)
		code := strings.TrimPrefix(key, "update.err.")
		status := http.StatusUnprocessableEntity
		switch code {
		case "busy":
			status = http.StatusConflict
		case "too_large":
			status = http.StatusRequestEntityTooLarge
		case "unavailable":
			status = http.StatusServiceUnavailable
		}
		apiError(c, status, "update_"+code, err.Error(), "")
		return
	}
	s.audit(c, "update.upload", m.Version+" "+m.Architecture)
	c.JSON(http.StatusAccepted, gin.H{"staged": m})
}
