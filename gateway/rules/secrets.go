package rules

import (
	"context"
	"fmt"
)

// SecretMask stands for a stored HMAC secret in what the portal shows;
// saving a rule with it keeps the stored secret.
const SecretMask = "********"

// Redacted returns r with its secrets masked, for the portal and the API.
func (r Rule) Redacted() Rule {
	r.Actions = append([]Action(nil), r.Actions...)
	for i := range r.Actions {
		if r.Actions[i].Secret != "" {
			r.Actions[i].Secret = SecretMask
		}
	}
	return r
}

// keepSecrets replaces masked secrets in r with the stored ones of the same
// action (same index and URL).
func (e *Engine) keepSecrets(ctx context.Context, r Rule) (Rule, error) {
	var old *Rule
	r.Actions = append([]Action(nil), r.Actions...)
	for i, a := range r.Actions {
		if a.Secret != SecretMask {
			continue
		}
		if old == nil {
			o, err := e.Get(ctx, r.ID)
			if err != nil {
				return r, fmt.Errorf("%w %q: actions[%d].secret: no stored secret to keep; enter it again", ErrInvalidRule, r.Name, i)
			}
			old = &o
		}
		if i >= len(old.Actions) || old.Actions[i].URL != a.URL || old.Actions[i].Secret == "" {
			return r, fmt.Errorf("%w %q: actions[%d].secret: the action changed; enter the secret again", ErrInvalidRule, r.Name, i)
		}
		r.Actions[i].Secret = old.Actions[i].Secret
	}
	return r, nil
}
