package api

import (
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/firmware/spool"
)

func (s *API) APIUpdateStatus(c *gin.Context) {
	u := s.UpdateView()
	c.JSON(http.StatusOK, gin.H{"available": u.Available, "unavailable": u.Unavailable, "architecture": u.Arch,
		"pending": u.State.Pending, "processing": u.State.Processing, "last": u.State.Last})
}

func (s *API) APIUploadUpdate(c *gin.Context) {
	if s.D.Updates == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", spool.ErrUnavailable.Error(), "")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, spool.MaxBundleSize+1<<20)
	m, err := s.D.Updates.Stage(c.Request.Context(), c.Request.Body)
	if err != nil {
		key, _ := app.UpdateErrKey(err)
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
		app.APIError(c, status, "update_"+code, err.Error(), "")
		return
	}
	s.Audit(c, "update.upload", m.Version+" "+m.Architecture)
	c.JSON(http.StatusAccepted, gin.H{"staged": m})
}
