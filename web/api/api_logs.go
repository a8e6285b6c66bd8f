package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/logbuf"
)

func (s *API) APILogs(c *gin.Context) {
	if s.D.Logs == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", "the log buffer is not available in this installation", "")
		return
	}
	lvl, ok := app.ParseLevel(c.Query("level"))
	if !ok {
		app.APIError(c, http.StatusBadRequest, "invalid", "level must be debug, info, warn or error", "level")
		return
	}
	limit := 200
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > app.LogAPILimit {
			app.APIError(c, http.StatusBadRequest, "invalid", fmt.Sprintf("limit must be between 1 and %d", app.LogAPILimit), "limit")
			return
		}
		limit = n
	}
	recs := s.LogRecords(lvl, strings.TrimSpace(c.Query("q")), limit)
	c.JSON(http.StatusOK, app.Page[logbuf.Record]{Items: app.NonNil(recs), Total: len(recs), Limit: limit})
}
