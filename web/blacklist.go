package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/consent"
)

// ConsentService is what the blacklist and opt-out screens need;
// *consent.Consent implements it.
type ConsentService interface {
	Blacklist(ctx context.Context) []consent.Entry
	Block(ctx context.Context, e consent.Entry) (consent.Entry, error)
	Unblock(ctx context.Context, id string) error
	OptOuts(ctx context.Context) []consent.OptOut
	// GroupService backs the subscriber groups (web/groups.go).
	GroupService
}

type blacklistData struct {
	Entries []consent.Entry
	OptOuts []consent.OptOut
}

func (s *server) blacklistView(c *gin.Context) *view {
	ctx := c.Request.Context()
	d := blacklistData{Entries: s.d.Consent.Blacklist(ctx), OptOuts: s.d.Consent.OptOuts(ctx)}
	v := s.newView(c, "blacklist", "nav.blacklist", d)
	v.Form["direction"] = string(consent.Both)
	return v
}

func (s *server) consentUnavailable(c *gin.Context) bool {
	if s.d.Consent != nil {
		return false
	}
	s.render(c, http.StatusOK, "unavailable", s.newView(c, "blacklist", "nav.blacklist", "blacklist.unavailable"))
	return true
}

func (s *server) blacklistPage(c *gin.Context) {
	if s.consentUnavailable(c) {
		return
	}
	s.render(c, http.StatusOK, "blacklist", s.blacklistView(c))
}

// blockEntry blocks entry (a number, or a prefix with a trailing "*")
// in direction, for days ("" permanent) and audits it. Problems are
// *inputProblem for "entry" or "days".
func (s *server) blockEntry(c *gin.Context, entry, direction, reason, days string) (consent.Entry, error) {
	e := consent.Entry{Direction: consent.Direction(direction), Reason: strings.TrimSpace(reason)}
	// A trailing "*" blocks a prefix (a whole range, e.g. +49900*).
	entry = strings.TrimSpace(entry)
	if p, ok := strings.CutSuffix(entry, "*"); ok {
		e.Prefix = strings.TrimSpace(p)
	} else {
		e.Number = entry
	}
	if raw := strings.TrimSpace(days); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 3650 {
			return e, problem("days", "invalid", "blacklist.err.days")
		}
		e.Until = s.d.Now().Add(time.Duration(n) * 24 * time.Hour)
	}
	if entry == "" {
		return e, problem("entry", "required", "blacklist.err.entry")
	}
	saved, err := s.d.Consent.Block(c.Request.Context(), e)
	if errors.Is(err, consent.ErrInvalidEntry) {
		return e, problem("entry", "invalid", "blacklist.err.invalid", err.Error())
	}
	if err != nil {
		return e, err
	}
	s.audit(c, "blacklist.add", saved.Number+saved.Prefix+" ("+string(saved.Direction)+")")
	return saved, nil
}

func (s *server) blacklistAdd(c *gin.Context) {
	if s.consentUnavailable(c) {
		return
	}
	v := s.blacklistView(c)
	for _, k := range []string{"entry", "direction", "reason", "days"} {
		v.Form[k] = c.PostForm(k)
	}
	_, err := s.blockEntry(c, c.PostForm("entry"), c.PostForm("direction"), c.PostForm("reason"), c.PostForm("days"))
	var p *inputProblem
	switch {
	case errors.As(err, &p):
		v.Errors[p.Field] = v.T(p.Key, p.Args...)
	case err != nil:
		s.log.Error("blacklist add", "err", err)
		v.Errors["entry"] = v.T("error.internal")
	default:
		s.flash(c, "blacklist.added")
		c.Redirect(http.StatusSeeOther, "/blacklist")
		return
	}
	s.render(c, http.StatusUnprocessableEntity, "blacklist", v)
}

// unblock removes blacklist entry id and audits it.
func (s *server) unblock(c *gin.Context, id string) error {
	err := s.d.Consent.Unblock(c.Request.Context(), id)
	if err == nil {
		s.audit(c, "blacklist.remove", id)
	}
	return err
}

func (s *server) blacklistRemove(c *gin.Context) {
	if s.consentUnavailable(c) {
		return
	}
	if err := s.unblock(c, c.Param("id")); err != nil {
		s.log.Warn("blacklist remove", "err", err)
		s.flash(c, "blacklist.err.not_found")
	} else {
		s.flash(c, "blacklist.removed")
	}
	c.Redirect(http.StatusSeeOther, "/blacklist")
}
