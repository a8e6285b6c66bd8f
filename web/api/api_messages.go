package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/msglog"
)

// messagePage is the API's list answer: cursor pages, so no total.
type messagePage struct {
	Items      []msglog.Entry `json:"items"`
	Limit      int            `json:"limit"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func (s *API) APIMessages(c *gin.Context) {
	if !apiHas(c, s.D.Messages != nil, "the message log is") {
		return
	}
	_, q, field := app.ParseMessageQuery(c, s.Location())
	if field != "" {
		msg := map[string]string{"dir": "dir must be in or out", "kind": "kind must be sms, whatsapp, telegram, messenger, instagram, viber or vk",
			"status": "status must be one of received, queued, sending, sent, delivered, read, failed, unknown",
			"from":   "from must be a day (YYYY-MM-DD, portal time zone) or an RFC 3339 time",
			"to":     "to must be a day (YYYY-MM-DD, portal time zone) or an RFC 3339 time after from"}[field]
		app.APIError(c, http.StatusBadRequest, "invalid", msg, field)
		return
	}
	q.Limit = msglog.DefaultLimit
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > msglog.MaxLimit {
			app.APIError(c, http.StatusBadRequest, "invalid", "limit must be between 1 and 500", "limit")
			return
		}
		q.Limit = n
	}
	p, err := s.D.Messages.Search(c.Request.Context(), q)
	if errors.Is(err, msglog.ErrBadCursor) {
		app.APIError(c, http.StatusBadRequest, "invalid", err.Error(), "cursor")
		return
	}
	if err != nil {
		s.Log.Error("api: message log search", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "searching the message log failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, messagePage{Items: app.NonNil(p.Items), Limit: q.Limit, NextCursor: p.Next})
}

func (s *API) APIMessage(c *gin.Context) {
	if !apiHas(c, s.D.Messages != nil, "the message log is") {
		return
	}
	e, err := s.D.Messages.Get(c.Request.Context(), c.Param("id"))
	if errors.Is(err, msglog.ErrNotFound) {
		app.APIError(c, http.StatusNotFound, "not_found", "no message with this id in the message log", "")
		return
	}
	if err != nil {
		s.Log.Error("api: message log entry", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "reading the message log failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, e)
}
