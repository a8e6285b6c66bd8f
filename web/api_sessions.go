package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	chat "github.com/pbxgate/pbxgate/gateway/session"
)

func (s *server) apiSessionsReady(c *gin.Context) bool {
	return apiHas(c, s.d.Sessions != nil, "sessions are")
}

func (s *server) apiSessions(c *gin.Context) {
	if !s.apiSessionsReady(c) {
		return
	}
	offset, limit, ok := pagination(c)
	if !ok {
		return
	}
	list, err := s.d.Sessions.List(c.Query("all") != "1", 0)
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "listing sessions failed; see the pbxgate log", "")
		return
	}
	items := list[min(offset, len(list)):min(offset+limit, len(list))]
	c.JSON(http.StatusOK, page[chat.Session]{Items: nonNil(items), Total: len(list), Offset: offset, Limit: limit})
}

func (s *server) apiSession(c *gin.Context) {
	if !s.apiSessionsReady(c) {
		return
	}
	id := c.Param("id")
	sess, err := s.d.Sessions.Get(id)
	if errors.Is(err, chat.ErrNotFound) {
		apiError(c, http.StatusNotFound, "not_found", "no session with this id", "")
		return
	}
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "reading the session failed; see the pbxgate log", "")
		return
	}
	log, err := s.d.Sessions.Log(id)
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "reading the chat log failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"session": sess, "log": nonNil(log)})
}

func (s *server) apiSessionAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.apiSessionsReady(c) {
			return
		}
		ctx := c.Request.Context()
		id, by := c.Param("id"), "api:"+currentUser(c).Name
		var err error
		switch action {
		case "close":
			err = s.d.Sessions.Close(ctx, id, by)
		case "reply":
			var req struct {
				Text string `json:"text"`
			}
			if err := c.ShouldBindJSON(&req); err != nil {
				apiError(c, http.StatusBadRequest, "bad_json", `body must be {"text":"…"}`, "")
				return
			}
			if strings.TrimSpace(req.Text) == "" || len([]rune(req.Text)) > maxReplyLen {
				apiError(c, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("text must have 1 to %d characters", maxReplyLen), "text")
				return
			}
			err = s.d.Sessions.Reply(ctx, id, by, req.Text)
		default:
			var req struct {
				Target string `json:"target"`
			}
			if err := c.ShouldBindJSON(&req); err != nil {
				apiError(c, http.StatusBadRequest, "bad_json", `body must be {"target":"201"} or {"target":"queue:support"}`, "")
				return
			}
			t := chat.ParseTarget(strings.TrimSpace(req.Target))
			if t.IsZero() {
				apiError(c, http.StatusUnprocessableEntity, "invalid", "target must be an extension (201) or queue:name", "target")
				return
			}
			err = s.d.Sessions.Transfer(ctx, id, by, t)
		}
		switch {
		case errors.Is(err, chat.ErrNotFound):
			apiError(c, http.StatusNotFound, "not_found", "no open session with this id", "")
		case errors.Is(err, chat.ErrUnknownTarget):
			apiError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "target")
		case errors.Is(err, chat.ErrWindowClosed):
			apiError(c, http.StatusConflict, "window_closed", err.Error(), "")
		case err != nil && action == "reply":
			apiError(c, http.StatusBadGateway, "channel_refused", err.Error(), "")
		case err != nil:
			apiError(c, http.StatusInternalServerError, "internal", "the session action failed; see the pbxgate log", "")
		default:
			sess, _ := s.d.Sessions.Get(id)
			c.JSON(http.StatusOK, sess)
		}
	}
}
