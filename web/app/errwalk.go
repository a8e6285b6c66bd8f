package app

import (
	"errors"
	"regexp/syntax"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

// reSyntax names regexp/syntax's error codes in the catalog
// ("errwalk.re.<name>"), so an invalid expression is explained in the
// user's language.
var reSyntax = map[syntax.ErrorCode]string{
	syntax.ErrInvalidCharClass:      "char_class",
	syntax.ErrInvalidCharRange:      "char_range",
	syntax.ErrInvalidEscape:         "escape",
	syntax.ErrInvalidNamedCapture:   "named_capture",
	syntax.ErrInvalidPerlOp:         "perl_op",
	syntax.ErrInvalidRepeatOp:       "repeat_op",
	syntax.ErrInvalidRepeatSize:     "repeat_size",
	syntax.ErrInvalidUTF8:           "utf8",
	syntax.ErrMissingBracket:        "missing_bracket",
	syntax.ErrMissingParen:          "missing_paren",
	syntax.ErrMissingRepeatArgument: "missing_repeat_argument",
	syntax.ErrTrailingBackslash:     "trailing_backslash",
	syntax.ErrUnexpectedParen:       "unexpected_paren",
	syntax.ErrNestingDepth:          "too_complex",
	syntax.ErrLarge:                 "too_complex",
}

// RuleErrorText says why the rules engine refused a rule, in the user's
// language: an invalid regular expression with what is wrong in it, the
// field of another validation problem, an action this gateway has not
// set up. known is false for an error it cannot explain (the caller logs
// it and shows a general failure).
func (v *View) RuleErrorText(err error) (text string, known bool) {
	var se *syntax.Error
	var fe *rules.FieldError
	switch {
	case errors.As(err, &se):
		why := v.T("errwalk.re.other")
		if k, ok := reSyntax[se.Code]; ok {
			why = v.T("errwalk.re." + k)
		}
		return v.T("errwalk.rule.regexp", se.Expr, why), true
	case errors.Is(err, rules.ErrNotWired):
		return v.T("errwalk.rule.not_wired"), true
	case errors.As(err, &fe):
		switch fe.Field {
		case "match":
			return v.T("errwalk.rule.match"), true
		case "pattern":
			return v.T("errwalk.rule.pattern"), true
		}
		return v.T("errwalk.rule.field", fe.Field), true
	case errors.Is(err, rules.ErrInvalidRule):
		return v.T("errwalk.rule.invalid"), true
	}
	return "", false
}

// blockProblem says why the blacklist refused entry e (consent.
// ErrInvalidEntry): a number or prefix without digits, else in general.
func blockProblem(e consent.Entry, err error) *InputProblem {
	if errors.Is(err, consent.ErrInvalidNumber) {
		return Problem("entry", "invalid_number", "errwalk.blacklist.no_digits", e.Number+e.Prefix)
	}
	return Problem("entry", "invalid", "errwalk.blacklist.invalid")
}
