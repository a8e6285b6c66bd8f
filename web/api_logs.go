package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/logbuf"
)

func (s *server) apiLogs(c *gin.Context) {
	if s.d.Logs == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "the log buffer is not available in this installation", "")
		return
	}
	lvl, ok := parseLevel(c.Query("level"))
	if !ok {
		apiError(c, http.StatusBadRequest, "invalid", "level must be debug, info, warn or error", "level")
		return
	}
	limit := 200
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > logAPILimit {
			apiError(c, http.StatusBadRequest, "invalid", fmt.Sprintf("limit must be between 1 and %d", logAPILimit), "limit")
			return
		}
		limit = n
	}
	recs := s.logRecords(lvl, strings.TrimSpace(c.Query("q")), limit)
	c.JSON(http.StatusOK, page[logbuf.Record]{Items: nonNil(recs), Total: len(recs), Limit: limit})
}
