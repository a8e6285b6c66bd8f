package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/msglog"
)

// messagePage is the API's list answer: cursor pages, so no total.
type messagePage struct {
	Items      []msglog.Entry `json:"items"`
	Limit      int            `json:"limit"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func (s *server) apiMessages(c *gin.Context) {
	if !apiHas(c, s.d.Messages != nil, "the message log is") {
		return
	}
	_, q, field := parseMessageQuery(c, s.location())
	if field != "" {
		msg := map[string]string{"dir": "dir must be in or out", "kind": "kind must be sms or whatsapp",
			"status": "status must be one of received, queued, sending, sent, delivered, read, failed, unknown",
			"from":   "from must be a day (YYYY-MM-DD, portal time zone) or an RFC 3339 time",
			"to":     "to must be a day (YYYY-MM-DD, portal time zone) or an RFC 3339 time after from"}[field]
		apiError(c, http.StatusBadRequest, "invalid", msg, field)
		return
	}
	q.Limit = msglog.DefaultLimit
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > msglog.MaxLimit {
			apiError(c, http.StatusBadRequest, "invalid", "limit must be between 1 and 500", "limit")
			return
		}
		q.Limit = n
	}
	p, err := s.d.Messages.Search(c.Request.Context(), q)
	if errors.Is(err, msglog.ErrBadCursor) {
		apiError(c, http.StatusBadRequest, "invalid", err.Error(), "cursor")
		return
	}
	if err != nil {
		s.log.Error("api: message log search", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "searching the message log failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, messagePage{Items: nonNil(p.Items), Limit: q.Limit, NextCursor: p.Next})
}

func (s *server) apiMessage(c *gin.Context) {
	if !apiHas(c, s.d.Messages != nil, "the message log is") {
		return
	}
	e, err := s.d.Messages.Get(c.Request.Context(), c.Param("id"))
	if errors.Is(err, msglog.ErrNotFound) {
		apiError(c, http.StatusNotFound, "not_found", "no message with this id in the message log", "")
		return
	}
	if err != nil {
		s.log.Error("api: message log entry", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "reading the message log failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, e)
}
