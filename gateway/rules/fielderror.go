package rules

import "fmt"

// FieldError is one validation problem of a rule: Field names it
// ("pattern", "match", "window.end", "actions[0] (route)" …), Detail says
// why in English (the API's message) and Err is the cause where there is
// one (a *regexp/syntax.Error for an invalid expression), so the portal
// can say it in the user's language. It is ErrInvalidRule.
type FieldError struct {
	Rule, Field, Detail string
	Err                 error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v %q: %s: %s", ErrInvalidRule, e.Rule, e.Field, e.Detail)
}

// Unwrap makes errors.Is(err, ErrInvalidRule) hold and reaches the cause.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidRule}
	}
	return []error{ErrInvalidRule, e.Err}
}
