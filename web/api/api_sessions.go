package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	chat "github.com/pbxgate/pbxgate/gateway/session"
)

func (s *API) apiSessionsReady(c *gin.Context) bool {
	return apiHas(c, s.D.Sessions != nil, "sessions are")
}

func (s *API) APISessions(c *gin.Context) {
	if !s.apiSessionsReady(c) {
		return
	}
	offset, limit, ok := app.Pagination(c)
	if !ok {
		return
	}
	list, err := s.D.Sessions.List(c.Query("all") != "1", 0)
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "listing sessions failed; see the pbxgate log", "")
		return
	}
	items := list[min(offset, len(list)):min(offset+limit, len(list))]
	c.JSON(http.StatusOK, app.Page[chat.Session]{Items: app.NonNil(items), Total: len(list), Offset: offset, Limit: limit})
}

func (s *API) APISession(c *gin.Context) {
	if !s.apiSessionsReady(c) {
		return
	}
	id := c.Param("id")
	sess, err := s.D.Sessions.Get(id)
	if errors.Is(err, chat.ErrNotFound) {
		app.APIError(c, http.StatusNotFound, "not_found", "no session with this id", "")
		return
	}
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "reading the session failed; see the pbxgate log", "")
		return
	}
	log, err := s.D.Sessions.Log(id)
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "reading the chat log failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"session": sess, "log": app.NonNil(log)})
}

func (s *API) APISessionAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.apiSessionsReady(c) {
			return
		}
		ctx := c.Request.Context()
		id, by := c.Param("id"), "api:"+app.CurrentUser(c).Name
		var err error
		switch action {
		case "close":
			err = s.D.Sessions.Close(ctx, id, by)
		case "reply":
			var req apiReplyRequest
			if ok := s.bindReply(c, &req); !ok {
				return
			}
			if req.Media != nil {
				s.apiReplyWithFile(c, id, by, req)
				return
			}
			if strings.TrimSpace(req.Text) == "" || len([]rune(req.Text)) > app.MaxReplyLen {
				app.APIError(c, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("text must have 1 to %d characters", app.MaxReplyLen), "text")
				return
			}
			if req.Quote != 0 {
				qr, ok := s.D.Sessions.(app.QuoteReplier)
				if !ok {
					err = chat.ErrCannotQuote
				} else {
					err = qr.ReplyQuoting(ctx, id, by, req.Text, req.Quote)
				}
				if errors.Is(err, chat.ErrCannotQuote) {
					app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error()+"; quote names the seq of a message the contact wrote in this open WhatsApp session", "quote")
					return
				}
				break
			}
			err = s.D.Sessions.Reply(ctx, id, by, req.Text)
		default:
			var req struct {
				Target string `json:"target"`
			}
			if err := c.ShouldBindJSON(&req); err != nil {
				app.APIError(c, http.StatusBadRequest, "bad_json", `body must be {"target":"201"} or {"target":"queue:support"}`, "")
				return
			}
			t := chat.ParseTarget(strings.TrimSpace(req.Target))
			if t.IsZero() {
				app.APIError(c, http.StatusUnprocessableEntity, "invalid", "target must be an extension (201) or queue:name", "target")
				return
			}
			err = s.D.Sessions.Transfer(ctx, id, by, t)
		}
		switch {
		case errors.Is(err, chat.ErrNotFound):
			app.APIError(c, http.StatusNotFound, "not_found", "no open session with this id", "")
		case errors.Is(err, chat.ErrUnknownTarget):
			app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "target")
		case errors.Is(err, chat.ErrWindowClosed):
			app.APIError(c, http.StatusConflict, "window_closed", err.Error(), "")
		case err != nil && action == "reply":
			app.APIError(c, http.StatusBadGateway, "channel_refused", err.Error(), "")
		case err != nil:
			app.APIError(c, http.StatusInternalServerError, "internal", "the session action failed; see the pbxgate log", "")
		default:
			sess, _ := s.D.Sessions.Get(id)
			c.JSON(http.StatusOK, sess)
		}
	}
}
