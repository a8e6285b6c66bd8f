package rules

import (
	"context"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Hit is a rule a dry run would fire.
type Hit struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Actions []ActionType `json:"actions"`
	// Limited: the rule has a per-contact limit, which a dry run does not
	// count (it may not fire for a contact who reached it).
	Limited bool `json:"limited,omitempty"`
}

// TestResult is what a message would trigger.
type TestResult struct {
	// Consent is "opt_out" or "opt_in" when the text is a built-in
	// STOP/START keyword (rules are then not evaluated).
	Consent string `json:"consent,omitempty"`
	Hits    []Hit  `json:"hits"`
}

// Test is the portal's "which rule fires" box: it evaluates text as if it
// came in on channel (of kind) at the given time, without storing,
// counting or running anything.
func (e *Engine) Test(_ context.Context, text, channel string, kind message.Kind, at time.Time) TestResult {
	var r TestResult
	switch {
	case e.cs.IsStopWord(text):
		r.Consent = "opt_out"
		return r
	case e.cs.IsStartWord(text):
		r.Consent = "opt_in"
		return r
	}
	s := newSubject(message.Inbound{Text: text, Channel: channel, Kind: kind, At: at}, e.loc)
	r.Hits = []Hit{}
	_ = match(e.snapshot(), &s, func(c *compiled) (bool, error) {
		h := Hit{ID: c.ID, Name: c.Name, Limited: c.Limit != nil}
		for _, a := range c.Actions {
			h.Actions = append(h.Actions, a.Type)
		}
		r.Hits = append(r.Hits, h)
		return true, nil
	})
	return r
}
