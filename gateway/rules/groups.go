package rules

import (
	"regexp"
	"strings"
)

// GroupKeywordRules returns the two rules behind a subscriber group's
// keywords (what a click-to-chat link prefills): the whole message equal
// to join (any case, surrounding space ignored) adds the contact and
// answers welcome; equal to leave removes them and answers goodbye. Save
// them with Engine.Save; order them before broader rules.
func GroupKeywordRules(group, join, leave, welcome, goodbye string, order int) []Rule {
	exact := func(k string) string {
		return `(?i)^\s*` + strings.Join(strings.Fields(regexp.QuoteMeta(k)), `\s+`) + `\s*$`
	}
	withAnswer := func(a Action, text string) []Action {
		as := []Action{a}
		if text != "" {
			as = append(as, Action{Type: AutoAnswer, Text: text})
		}
		return as
	}
	var rs []Rule
	if join != "" {
		rs = append(rs, Rule{Name: group + ": join", Order: order, Enabled: true, Keyword: Define, Match: Regexp,
			Pattern: exact(join), Actions: withAnswer(Action{Type: GroupAdd, Group: group}, welcome)})
	}
	if leave != "" {
		rs = append(rs, Rule{Name: group + ": leave", Order: order, Enabled: true, Keyword: Define, Match: Regexp,
			Pattern: exact(leave), Actions: withAnswer(Action{Type: GroupRemove, Group: group}, goodbye)})
	}
	return rs
}
