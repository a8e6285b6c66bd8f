package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/users"
)

// APITokens lists the caller's tokens (an admin's: everyone's).
func (s *API) APITokens(c *gin.Context) {
	u := app.CurrentUser(c)
	owner := u.Name
	if u.Role == users.RoleAdmin {
		owner = ""
	}
	list, err := s.D.Users.ListTokens(c.Request.Context(), owner)
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "listing tokens failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, app.Page[users.Token]{Items: app.NonNil(list), Total: len(list), Limit: len(list)})
}

func (s *API) APICreateToken(c *gin.Context) {
	var req struct {
		Label string `json:"label"`
	}
	if err := c.ShouldBindJSON(&req); err != nil || strings.TrimSpace(req.Label) == "" || len(req.Label) > 64 {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "give a label of at most 64 characters", "label")
		return
	}
	tok, err := s.D.Users.CreateToken(c.Request.Context(), app.CurrentUser(c).Name, req.Label)
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "creating the token failed; see the pbxgate log", "")
		return
	}
	s.Audit(c, "token.create", req.Label)
	c.JSON(http.StatusCreated, gin.H{"token": tok, "label": strings.TrimSpace(req.Label)})
}

func (s *API) APIRevokeToken(c *gin.Context) {
	id := c.Param("id")
	err := s.RevokeAPIToken(c, app.CurrentUser(c), id)
	switch {
	case errors.Is(err, app.ErrNotYourToken):
		app.APIError(c, http.StatusNotFound, "not_found", "no token of yours with this id", "")
	case errors.Is(err, users.ErrBadToken):
		app.APIError(c, http.StatusNotFound, "not_found", "no token with this id", "")
	case err != nil:
		s.Log.Error("revoking API token", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "revoking the token failed", "")
	default:
		c.Status(http.StatusNoContent)
	}
}
