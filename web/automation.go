package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
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

const messageLogLimit = 500

type automationData struct {
	Rules []rules.Rule
	// Test box result.
	Tested bool
	Result rules.TestResult
	// Message log (inbound), filtered by Search.
	Log    []rules.Record
	Search string
}

func (s *server) automationView(c *gin.Context) (*view, *automationData, error) {
	ctx := c.Request.Context()
	d := &automationData{Search: strings.TrimSpace(c.Query("q"))}
	list, err := s.d.Rules.Rules(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range list {
		d.Rules = append(d.Rules, r.Redacted()) // never render a secret back
	}
	recent, err := s.d.Rules.Recent(ctx, messageLogLimit)
	if err != nil {
		return nil, nil, err
	}
	q := strings.ToLower(d.Search)
	for _, r := range recent {
		if q == "" || strings.Contains(strings.ToLower(r.Inbound.Text), q) || strings.Contains(r.Inbound.From, q) {
			d.Log = append(d.Log, r)
		}
	}
	v := s.newView(c, "automation", "nav.automation", d)
	v.Form["kind"] = "sms"
	v.Form["match"] = string(rules.Contains)
	return v, d, nil
}

func (s *server) rulesUnavailable(c *gin.Context) bool {
	if s.d.Rules != nil {
		return false
	}
	v := s.newView(c, "automation", "nav.automation", "automation.unavailable")
	s.render(c, http.StatusOK, "unavailable", v)
	return true
}

func (s *server) automationPage(c *gin.Context) {
	if s.rulesUnavailable(c) {
		return
	}
	v, _, err := s.automationView(c)
	if err != nil {
		s.log.Error("automation page", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "automation", v)
}

// ruleTest is the test box: which rules would a message fire?
func (s *server) ruleTest(c *gin.Context) {
	if s.rulesUnavailable(c) {
		return
	}
	v, d, err := s.automationView(c)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	text := c.PostForm("test_text")
	kind := message.Kind(c.PostForm("kind"))
	v.Form["test_text"], v.Form["kind"] = text, string(kind)
	if kind != message.SMS && kind != message.WhatsApp {
		v.Errors["kind"] = v.T("automation.err.kind")
	}
	if strings.TrimSpace(text) == "" {
		v.Errors["test_text"] = v.T("automation.err.text")
	}
	if len(v.Errors) == 0 {
		d.Tested = true
		d.Result = s.d.Rules.Test(c.Request.Context(), text, "", kind, s.d.Now())
	}
	s.render(c, http.StatusOK, "automation", v)
}

// ruleCreate saves a keyword rule with one action (answer or route); the
// full rule model (limits, windows, several actions) is in the API.
func (s *server) ruleCreate(c *gin.Context) {
	if s.rulesUnavailable(c) {
		return
	}
	v, _, err := s.automationView(c)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	for _, k := range []string{"rule_name", "match", "pattern", "action", "answer", "route", "order"} {
		v.Form[k] = c.PostForm(k)
	}
	r := rules.Rule{Name: strings.TrimSpace(c.PostForm("rule_name")), Enabled: true, Keyword: rules.Define,
		Match: rules.Match(c.PostForm("match")), Pattern: c.PostForm("pattern")}
	if r.Name == "" {
		v.Errors["rule_name"] = v.T("campaign.err.name_required")
	}
	if c.PostForm("match") == "always" {
		r.Keyword, r.Match, r.Pattern = rules.Always, "", ""
	} else if strings.TrimSpace(r.Pattern) == "" {
		v.Errors["pattern"] = v.T("automation.err.pattern")
	}
	if o, err := strconv.Atoi(strings.TrimSpace(c.PostForm("order"))); err == nil {
		r.Order = o
	}
	switch c.PostForm("action") {
	case string(rules.AutoAnswer):
		text := strings.TrimSpace(c.PostForm("answer"))
		if text == "" {
			v.Errors["answer"] = v.T("automation.err.answer")
		}
		r.Actions = []rules.Action{{Type: rules.AutoAnswer, Text: text}}
	case string(rules.RouteTo):
		route := strings.TrimSpace(c.PostForm("route"))
		kind, id := "extension", route
		if q, ok := strings.CutPrefix(route, "queue:"); ok {
			kind, id = "queue", q
		}
		if id == "" {
			v.Errors["route"] = v.T("sessions.err.target")
		}
		r.Actions = []rules.Action{{Type: rules.RouteTo, RouteKind: kind, RouteID: id}}
	default:
		v.Errors["action"] = v.T("automation.err.action")
	}
	if len(v.Errors) == 0 {
		_, err := s.saveRule(c, r)
		switch {
		case errors.Is(err, rules.ErrInvalidRule), errors.Is(err, rules.ErrNotWired):
			v.Errors["rule_form"] = v.T("automation.err.invalid", err.Error())
		case err != nil:
			s.log.Error("save rule", "err", err)
			v.Errors["rule_form"] = v.T("error.internal")
		default:
			s.flash(c, "automation.saved")
			c.Redirect(http.StatusSeeOther, "/automation")
			return
		}
	}
	s.render(c, http.StatusUnprocessableEntity, "automation", v)
}

func (s *server) ruleDelete(c *gin.Context) {
	if s.rulesUnavailable(c) {
		return
	}
	err := s.deleteRule(c, c.Param("id"))
	switch {
	case errors.Is(err, rules.ErrNotFound):
		s.flash(c, "automation.err.not_found")
	case err != nil:
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	default:
		s.flash(c, "automation.deleted")
	}
	c.Redirect(http.StatusSeeOther, "/automation")
}

// saveRule validates, stores and audits r; errors as RuleService.Save.
// The saved rule carries its secrets: show only saved.Redacted().
func (s *server) saveRule(c *gin.Context, r rules.Rule) (rules.Rule, error) {
	saved, err := s.d.Rules.Save(c.Request.Context(), r)
	if err == nil {
		s.audit(c, "rule.save", saved.Name)
	}
	return saved, err
}

// deleteRule removes and audits rule id; rules.ErrNotFound if none.
func (s *server) deleteRule(c *gin.Context, id string) error {
	err := s.d.Rules.Delete(c.Request.Context(), id)
	if err == nil {
		s.audit(c, "rule.delete", id)
	}
	return err
}
