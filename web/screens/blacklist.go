package screens

import (
	"errors"
	"net/http"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/consent"
)

type blacklistData struct {
	Entries []consent.Entry
	OptOuts []consent.OptOut
}

func (s *Screens) blacklistView(c *gin.Context) *app.View {
	ctx := c.Request.Context()
	d := blacklistData{Entries: s.D.Consent.Blacklist(ctx), OptOuts: s.D.Consent.OptOuts(ctx)}
	v := s.NewView(c, "blacklist", "nav.blacklist", d)
	v.Form["direction"] = string(consent.Both)
	return v
}

func (s *Screens) consentUnavailable(c *gin.Context) bool {
	if s.D.Consent != nil {
		return false
	}
	s.Render(c, http.StatusOK, "unavailable", s.NewView(c, "blacklist", "nav.blacklist", "blacklist.unavailable"))
	return true
}

func (s *Screens) BlacklistPage(c *gin.Context) {
	if s.consentUnavailable(c) {
		return
	}
	s.Render(c, http.StatusOK, "blacklist", s.blacklistView(c))
}

func (s *Screens) BlacklistAdd(c *gin.Context) {
	if s.consentUnavailable(c) {
		return
	}
	v := s.blacklistView(c)
	for _, k := range []string{"entry", "direction", "reason", "days"} {
		v.Form[k] = c.PostForm(k)
	}
	_, err := s.BlockEntry(c, c.PostForm("entry"), c.PostForm("direction"), c.PostForm("reason"), c.PostForm("days"))
	var p *app.InputProblem
	switch {
	case errors.As(err, &p):
		v.Errors[p.Field] = v.T(p.Key, p.Args...)
	case err != nil:
		s.Log.Error("blacklist add", "err", err)
		v.Errors["entry"] = v.T("error.internal")
	default:
		s.Flash(c, "blacklist.added")
		c.Redirect(http.StatusSeeOther, "/blacklist")
		return
	}
	s.Render(c, http.StatusUnprocessableEntity, "blacklist", v)
}

func (s *Screens) BlacklistRemove(c *gin.Context) {
	if s.consentUnavailable(c) {
		return
	}
	if err := s.Unblock(c, c.Param("id")); err != nil {
		s.Log.Warn("blacklist remove", "err", err)
		s.Flash(c, "blacklist.err.not_found")
	} else {
		s.Flash(c, "blacklist.removed")
	}
	c.Redirect(http.StatusSeeOther, "/blacklist")
}
