package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/rules"
	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/users"
)

func (s *server) apiPhonebooks(c *gin.Context) {
	list, err := recipients.NewPhonebooks(s.d.Store).All(c.Request.Context())
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "listing phonebooks failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, page[recipients.Phonebook]{Items: nonNil(list), Total: len(list), Limit: len(list)})
}

func (s *server) apiDNCLists(c *gin.Context) {
	list, err := recipients.NewLists(s.d.Store).All(c.Request.Context())
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "listing do-not-contact lists failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, page[recipients.DNCList]{Items: nonNil(list), Total: len(list), Limit: len(list)})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

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

func (s *server) apiRulesReady(c *gin.Context) bool {
	return apiHas(c, s.d.Rules != nil, "automation is")
}

func (s *server) apiRules(c *gin.Context) {
	if !s.apiRulesReady(c) {
		return
	}
	list, err := s.d.Rules.Rules(c.Request.Context())
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "listing rules failed; see the pbxgate log", "")
		return
	}
	out := make([]rules.Rule, 0, len(list))
	for _, r := range list {
		out = append(out, r.Redacted())
	}
	c.JSON(http.StatusOK, page[rules.Rule]{Items: out, Total: len(out), Limit: len(out)})
}

func (s *server) apiRuleTest(c *gin.Context) {
	if !s.apiRulesReady(c) {
		return
	}
	var req struct {
		Text    string       `json:"text"`
		Channel string       `json:"channel"`
		Kind    message.Kind `json:"kind"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		apiError(c, http.StatusBadRequest, "bad_json", `body must be {"text":"…","kind":"sms"|"whatsapp"}`, "")
		return
	}
	if req.Kind != message.SMS && req.Kind != message.WhatsApp {
		apiError(c, http.StatusUnprocessableEntity, "invalid", "kind must be sms or whatsapp", "kind")
		return
	}
	c.JSON(http.StatusOK, s.d.Rules.Test(c.Request.Context(), req.Text, req.Channel, req.Kind, s.d.Now()))
}

// apiTokens lists the caller's tokens (an admin's: everyone's).
func (s *server) apiTokens(c *gin.Context) {
	u := currentUser(c)
	owner := u.Name
	if u.Role == users.RoleAdmin {
		owner = ""
	}
	list, err := s.d.Users.ListTokens(c.Request.Context(), owner)
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "listing tokens failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, page[users.Token]{Items: nonNil(list), Total: len(list), Limit: len(list)})
}

func (s *server) apiCreateToken(c *gin.Context) {
	var req struct {
		Label string `json:"label"`
	}
	if err := c.ShouldBindJSON(&req); err != nil || strings.TrimSpace(req.Label) == "" || len(req.Label) > 64 {
		apiError(c, http.StatusUnprocessableEntity, "invalid", "give a label of at most 64 characters", "label")
		return
	}
	tok, err := s.d.Users.CreateToken(c.Request.Context(), currentUser(c).Name, req.Label)
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "creating the token failed; see the pbxgate log", "")
		return
	}
	s.audit(c, "token.create", req.Label)
	c.JSON(http.StatusCreated, gin.H{"token": tok, "label": strings.TrimSpace(req.Label)})
}

func (s *server) apiRevokeToken(c *gin.Context) {
	u := currentUser(c)
	ctx := c.Request.Context()
	id := c.Param("id")
	if u.Role != users.RoleAdmin {
		own, err := s.d.Users.ListTokens(ctx, u.Name)
		if err != nil {
			apiError(c, http.StatusInternalServerError, "internal", "listing tokens failed", "")
			return
		}
		found := false
		for _, t := range own {
			found = found || t.ID == id
		}
		if !found {
			apiError(c, http.StatusNotFound, "not_found", "no token of yours with this id", "")
			return
		}
	}
	err := s.d.Users.RevokeToken(ctx, id)
	if errors.Is(err, users.ErrBadToken) {
		apiError(c, http.StatusNotFound, "not_found", "no token with this id", "")
		return
	}
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "revoking the token failed", "")
		return
	}
	s.audit(c, "token.revoke", id)
	c.Status(http.StatusNoContent)
}
