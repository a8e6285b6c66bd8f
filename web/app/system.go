package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/i18n"
)

const (
	auditPrefix = "audit/"
	// defaultAuditKeep bounds the audit log on a small SD card; the oldest
	// entries go first (they are in the daemon's log as well).
	defaultAuditKeep = 10000
)

// AuditEntry records one administrative change.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
}

// Audit records an administrative change in the log and the store.
func (s *Server) Audit(c *gin.Context, action, target string) {
	e := AuditEntry{Time: s.D.Now().UTC(), User: CurrentUser(c).Name, Action: action, Target: target}
	s.Log.Info("audit", "user", e.User, "action", action, "target", target, "remote", c.ClientIP())
	// Big-endian-sortable key: newest last; the random suffix keeps two
	// changes in the same nanosecond apart.
	key := fmt.Sprintf("%s%020d-%s", auditPrefix, e.Time.UnixNano(), RandomToken()[:6])
	err := s.D.Store.Update(func(txn *store.Txn) error {
		if err := store.SetJSON(txn, key, e); err != nil {
			return err
		}
		excess := store.Count(txn, auditPrefix) - s.AuditKeep
		if excess <= 0 {
			return nil
		}
		var old []string
		_ = store.Each(txn, auditPrefix, func(k string, _ []byte) error {
			if len(old) == excess {
				return io.EOF
			}
			old = append(old, k)
			return nil
		})
		for _, k := range old {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.Log.Error("audit log write failed", "err", err)
	}
}

func (s *Server) RecentAudit(limit int) []AuditEntry {
	var all []AuditEntry
	_ = s.D.Store.View(func(txn *store.Txn) error {
		return store.Each(txn, auditPrefix, func(_ string, val []byte) error {
			var e AuditEntry
			if jsonUnmarshal(val, &e) == nil {
				all = append(all, e)
			}
			return nil
		})
	})
	if len(all) > limit {
		all = all[len(all)-limit:]
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// RemoveUser deletes a user, the user's tokens and portal sessions.
func (s *Server) RemoveUser(ctx context.Context, name string) error {
	if err := s.D.Users.Delete(ctx, name); err != nil {
		return err
	}
	return s.Sessions.deleteUser(name, nil)
}

// ChangePassword changes the caller's own password after checking the
// current one, ends the caller's other portal sessions and audits it.
// Problems are *inputProblem for current_password, password2 or password.
func (s *Server) ChangePassword(c *gin.Context, current, pw, pw2 string) error {
	u := CurrentUser(c)
	ctx := c.Request.Context()
	if _, err := s.D.Users.Authenticate(ctx, u.Name, current); errors.Is(err, users.ErrBusy) {
		return Problem("current_password", "busy", "login.busy")
	} else if err != nil {
		return Problem("current_password", "wrong_password", "setup.err.current")
	}
	if pw != pw2 {
		return Problem("password2", "mismatch", "user.err.mismatch")
	}
	if err := s.D.Users.SetPassword(ctx, u.Name, pw); errors.Is(err, users.ErrWeakPassword) {
		return Problem("password", "weak_password", "user.err.weak_password", users.MinPasswordLength)
	} else if err != nil {
		return err
	}
	// Other browsers logged in as this user must log in again.
	if err := s.Sessions.deleteUser(u.Name, CurrentSession(c)); err != nil {
		s.Log.Error("end other sessions", "err", err)
	}
	s.Audit(c, "user.password", u.Name)
	return nil
}

func ValidCountry(country string) bool {
	return len(country) == 2 && strings.Trim(country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

func ValidTimeZone(tz string) bool {
	_, err := time.LoadLocation(tz)
	return err == nil && tz != "" && tz != "Local"
}

// ApplyRegion saves the default country (upper case), the time zone and,
// unless lang is "", the language chosen at setup, and audits it.
// Problems are *inputProblem for country, timezone or language.
func (s *Server) ApplyRegion(c *gin.Context, lang, country, tz string) (Settings, error) {
	l, langOK := i18n.Parse(lang)
	switch {
	case !ValidCountry(country):
		return Settings{}, Problem("country", "invalid", "setup.err.country")
	case !ValidTimeZone(tz):
		return Settings{}, Problem("timezone", "invalid", "setup.err.timezone")
	case lang != "" && !langOK:
		return Settings{}, Problem("language", "invalid", "setup.err.language")
	}
	st := s.CurrentSettings()
	st.DefaultCountry, st.TimeZone, st.Updated = country, tz, s.D.Now().UTC()
	target := country + " " + tz
	if lang != "" {
		st.Language = string(l)
		target += " " + st.Language
	}
	if err := s.SaveSettings(st); err != nil {
		return Settings{}, err
	}
	s.Audit(c, "settings.region", target)
	return st, nil
}

// ResetUserPassword sets another user's password (an admin's reset), ends
// that user's portal sessions and audits it.
func (s *Server) ResetUserPassword(c *gin.Context, name, pw string) error {
	if err := s.D.Users.SetPassword(c.Request.Context(), name, pw); err != nil {
		return err
	}
	if err := s.Sessions.deleteUser(name, CurrentSession(c)); err != nil {
		s.Log.Error("end sessions after password reset", "err", err)
	}
	s.Audit(c, "user.password", name)
	return nil
}

// streamingUpload: the handler streams the body itself (requireCSRF then
// takes the token from the query string instead of parsing the form).
func streamingUpload(c *gin.Context) bool {
	if c.Request.Method != http.MethodPost {
		return false
	}
	switch c.Request.URL.Path {
	case "/system/update", "/system/restore":
		return true
	}
	return false
}

// ErrNotYourToken: an operator named another user's API token.
var ErrNotYourToken = errors.New("not your API token")

// RevokeAPIToken revokes the API token id for u (operators only their own:
// ErrNotYourToken) and audits it; users.ErrBadToken when there is none.
func (s *Server) RevokeAPIToken(c *gin.Context, u users.User, id string) error {
	ctx := c.Request.Context()
	if u.Role != users.RoleAdmin {
		toks, err := s.D.Users.ListTokens(ctx, u.Name)
		if err != nil {
			return fmt.Errorf("listing tokens: %w", err)
		}
		if !slices.ContainsFunc(toks, func(t users.Token) bool { return t.ID == id }) {
			return ErrNotYourToken
		}
	}
	if err := s.D.Users.RevokeToken(ctx, id); err != nil {
		return err
	}
	s.Audit(c, "token.revoke", id)
	return nil
}
