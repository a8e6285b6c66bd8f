package screens

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

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

func (s *Screens) automationView(c *gin.Context) (*app.View, *automationData, error) {
	ctx := c.Request.Context()
	d := &automationData{Search: strings.TrimSpace(c.Query("q"))}
	list, err := s.D.Rules.Rules(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range list {
		d.Rules = append(d.Rules, r.Redacted()) // never render a secret back
	}
	recent, err := s.D.Rules.Recent(ctx, messageLogLimit)
	if err != nil {
		return nil, nil, err
	}
	q := strings.ToLower(d.Search)
	for _, r := range recent {
		if q == "" || strings.Contains(strings.ToLower(r.Inbound.Text), q) || strings.Contains(r.Inbound.From, q) {
			d.Log = append(d.Log, r)
		}
	}
	v := s.NewView(c, "automation", "nav.automation", d)
	v.Form["kind"] = "sms"
	v.Form["match"] = string(rules.Contains)
	return v, d, nil
}

func (s *Screens) rulesUnavailable(c *gin.Context) bool {
	if s.D.Rules != nil {
		return false
	}
	v := s.NewView(c, "automation", "nav.automation", "automation.unavailable")
	s.Render(c, http.StatusOK, "unavailable", v)
	return true
}

func (s *Screens) AutomationPage(c *gin.Context) {
	if s.rulesUnavailable(c) {
		return
	}
	v, _, err := s.automationView(c)
	if err != nil {
		s.Log.Error("automation page", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Render(c, http.StatusOK, "automation", v)
}

// RuleTest is the test box: which rules would a message fire?
func (s *Screens) RuleTest(c *gin.Context) {
	if s.rulesUnavailable(c) {
		return
	}
	v, d, err := s.automationView(c)
	if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	text := c.PostForm("test_text")
	kind := message.Kind(c.PostForm("kind"))
	v.Form["test_text"], v.Form["kind"] = text, string(kind)
	if !kind.Known() {
		v.Errors["kind"] = v.T("automation.err.kind")
	}
	if strings.TrimSpace(text) == "" {
		v.Errors["test_text"] = v.T("automation.err.text")
	}
	if len(v.Errors) == 0 {
		d.Tested = true
		d.Result = s.D.Rules.Test(c.Request.Context(), text, "", kind, s.D.Now())
	}
	s.Render(c, http.StatusOK, "automation", v)
}

// RuleCreate saves a keyword rule with one action (answer or route); the
// full rule model (limits, windows, several actions) is in the API.
func (s *Screens) RuleCreate(c *gin.Context) {
	if s.rulesUnavailable(c) {
		return
	}
	v, _, err := s.automationView(c)
	if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
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
		_, err := s.SaveRule(c, r)
		switch {
		case errors.Is(err, rules.ErrInvalidRule), errors.Is(err, rules.ErrNotWired):
			text, _ := v.RuleErrorText(err) // errwalk.go: no English detail
			s.Log.Info("rule refused", "err", err)
			v.Errors["rule_form"] = text
		case err != nil:
			s.Log.Error("save rule", "err", err)
			v.Errors["rule_form"] = v.T("error.internal")
		default:
			s.Flash(c, "automation.saved")
			c.Redirect(http.StatusSeeOther, "/automation")
			return
		}
	}
	s.Render(c, http.StatusUnprocessableEntity, "automation", v)
}

func (s *Screens) RuleDelete(c *gin.Context) {
	if s.rulesUnavailable(c) {
		return
	}
	err := s.DeleteRule(c, c.Param("id"))
	switch {
	case errors.Is(err, rules.ErrNotFound):
		s.Flash(c, "automation.err.not_found")
	case err != nil:
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	default:
		s.Flash(c, "automation.deleted")
	}
	c.Redirect(http.StatusSeeOther, "/automation")
}
