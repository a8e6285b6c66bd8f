package app

import (
	"context"
	"errors"
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

// BlockEntry blocks entry (a number, or a prefix with a trailing "*")
// in direction, for days ("" permanent) and audits it. Problems are
// *inputProblem for "entry" or "days".
func (s *Server) BlockEntry(c *gin.Context, entry, direction, reason, days string) (consent.Entry, error) {
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
			return e, Problem("days", "invalid", "blacklist.err.days")
		}
		e.Until = s.D.Now().Add(time.Duration(n) * 24 * time.Hour)
	}
	if entry == "" {
		return e, Problem("entry", "required", "blacklist.err.entry")
	}
	if e.Direction != "" && e.Direction != consent.Send && e.Direction != consent.Receive && e.Direction != consent.Both {
		return e, Problem("direction", "invalid", "errwalk.blacklist.direction")
	}
	saved, err := s.D.Consent.Block(c.Request.Context(), e)
	if errors.Is(err, consent.ErrInvalidEntry) {
		return e, blockProblem(e, err) // errwalk.go: no English detail
	}
	if err != nil {
		return e, err
	}
	s.Audit(c, "blacklist.add", saved.Number+saved.Prefix+" ("+string(saved.Direction)+")")
	return saved, nil
}

// Unblock removes blacklist entry id and audits it.
func (s *Server) Unblock(c *gin.Context, id string) error {
	err := s.D.Consent.Unblock(c.Request.Context(), id)
	if err == nil {
		s.Audit(c, "blacklist.remove", id)
	}
	return err
}
