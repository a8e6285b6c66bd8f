package api

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

// findRule is rule id as the engine has it (secrets included).
func (s *API) findRule(c *gin.Context, id string) (rules.Rule, error) {
	list, err := s.D.Rules.Rules(c.Request.Context())
	if err != nil {
		return rules.Rule{}, err
	}
	for _, r := range list {
		if r.ID == id {
			return r, nil
		}
	}
	return rules.Rule{}, rules.ErrNotFound
}

func (s *API) apiRuleErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, rules.ErrNotFound):
		app.APIError(c, http.StatusNotFound, "not_found", "no rule with this id", "")
	case errors.Is(err, rules.ErrNotWired):
		app.APIError(c, http.StatusUnprocessableEntity, "not_configured", err.Error(), RuleErrField(err))
	case errors.Is(err, rules.ErrInvalidRule):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), RuleErrField(err))
	default:
		s.Log.Error("api: rule", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "the rule operation failed; see the pbxgate log", "")
	}
}

// RuleErrField is the field a rules validation error names: after
// `invalid rule "name": ` comes the field ("pattern", "window.end") or
// "actions[i] (type)" and the action's field ("actions[0].text").
func RuleErrField(err error) string {
	msg := err.Error()
	i := strings.Index(msg, rules.ErrInvalidRule.Error())
	if i < 0 {
		return ""
	}
	rest := msg[i+len(rules.ErrInvalidRule.Error()):]
	if strings.HasPrefix(rest, " ") {
		q, err := strconv.QuotedPrefix(rest[1:])
		if err != nil {
			return ""
		}
		rest = rest[1+len(q):]
	}
	parts := strings.Split(strings.TrimPrefix(rest, ": "), ": ")
	if len(parts) < 2 {
		return ""
	}
	field := parts[0]
	if act, _, ok := strings.Cut(field, " ("); ok && strings.HasPrefix(act, "actions[") {
		field = act
		if len(parts) > 2 && !strings.ContainsAny(parts[1], " \"") {
			field += "." + parts[1]
		}
	}
	return field
}

func (s *API) APIRule(c *gin.Context) {
	if !s.apiRulesReady(c) {
		return
	}
	r, err := s.findRule(c, c.Param("id"))
	if err != nil {
		s.apiRuleErr(c, err)
		return
	}
	c.JSON(http.StatusOK, r.Redacted())
}

// APISaveRule creates (POST, no id) or replaces (PUT /rules/{id}) a rule.
// Secrets sent back masked keep their stored value.
func (s *API) APISaveRule(replace bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.apiRulesReady(c) {
			return
		}
		var r rules.Rule
		if !app.BindJSON(c, &r, "a rule as GET /rules/{id} answers it") {
			return
		}
		code := http.StatusCreated
		if replace {
			if _, err := s.findRule(c, c.Param("id")); err != nil {
				s.apiRuleErr(c, err)
				return
			}
			if r.ID != "" && r.ID != c.Param("id") {
				app.APIError(c, http.StatusUnprocessableEntity, "invalid", "id differs from the path's", "id")
				return
			}
			r.ID, code = c.Param("id"), http.StatusOK
		} else if r.ID != "" {
			app.APIError(c, http.StatusUnprocessableEntity, "invalid", "a new rule has no id; change a rule with PUT /rules/{id}", "id")
			return
		}
		saved, err := s.SaveRule(c, r)
		if err != nil {
			s.apiRuleErr(c, err)
			return
		}
		c.JSON(code, saved.Redacted())
	}
}

func (s *API) APIDeleteRule(c *gin.Context) {
	if !s.apiRulesReady(c) {
		return
	}
	if err := s.DeleteRule(c, c.Param("id")); err != nil {
		s.apiRuleErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *API) apiRulesReady(c *gin.Context) bool {
	return apiHas(c, s.D.Rules != nil, "automation is")
}

func (s *API) APIRules(c *gin.Context) {
	if !s.apiRulesReady(c) {
		return
	}
	list, err := s.D.Rules.Rules(c.Request.Context())
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "listing rules failed; see the pbxgate log", "")
		return
	}
	out := make([]rules.Rule, 0, len(list))
	for _, r := range list {
		out = append(out, r.Redacted())
	}
	c.JSON(http.StatusOK, app.Page[rules.Rule]{Items: out, Total: len(out), Limit: len(out)})
}

func (s *API) APIRuleTest(c *gin.Context) {
	if !s.apiRulesReady(c) {
		return
	}
	var req struct {
		Text    string       `json:"text"`
		Channel string       `json:"channel"`
		Kind    message.Kind `json:"kind"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		app.APIError(c, http.StatusBadRequest, "bad_json", `body must be {"text":"…","kind":"sms"|"whatsapp"}`, "")
		return
	}
	if req.Kind != message.SMS && req.Kind != message.WhatsApp {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "kind must be sms or whatsapp", "kind")
		return
	}
	c.JSON(http.StatusOK, s.D.Rules.Test(c.Request.Context(), req.Text, req.Channel, req.Kind, s.D.Now()))
}
