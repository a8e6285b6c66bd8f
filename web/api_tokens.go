package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/users"
)

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
