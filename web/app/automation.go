package app

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

// RuleService is what the Automation screens need from the rules engine;
// *rules.Engine implements it.
type RuleService interface {
	Rules(ctx context.Context) ([]rules.Rule, error)
	Save(ctx context.Context, r rules.Rule) (rules.Rule, error)
	Delete(ctx context.Context, id string) error
	Test(ctx context.Context, text, channel string, kind message.Kind, at time.Time) rules.TestResult
	Recent(ctx context.Context, limit int) ([]rules.Record, error)
}

// SaveRule validates, stores and audits r; errors as RuleService.Save.
// The saved rule carries its secrets: show only saved.Redacted().
func (s *Server) SaveRule(c *gin.Context, r rules.Rule) (rules.Rule, error) {
	saved, err := s.D.Rules.Save(c.Request.Context(), r)
	if err == nil {
		s.Audit(c, "rule.save", saved.Name)
	}
	return saved, err
}

// DeleteRule removes and audits rule id; rules.ErrNotFound if none.
func (s *Server) DeleteRule(c *gin.Context, id string) error {
	err := s.D.Rules.Delete(c.Request.Context(), id)
	if err == nil {
		s.Audit(c, "rule.delete", id)
	}
	return err
}
