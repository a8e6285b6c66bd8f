package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Route hands a conversation to an extension or queue for a keyword rule's
// route action (gateway/rules.Router): the message joins (or opens) the
// contact's session on its channel, which is then transferred to the
// rule's target.
func (m *Manager) Route(ctx context.Context, in message.Inbound, kind, id string) error {
	if !m.Handles(in.Channel) {
		return fmt.Errorf("channel %q has no session route (sip.sessions.routes)", in.Channel)
	}
	if err := m.Inbound(ctx, in); err != nil {
		return err
	}
	open, err := m.List(true, 0)
	if err != nil {
		return err
	}
	for _, s := range open {
		if s.Channel == in.Channel && s.Contact == in.From {
			if s.Target == (Target{Kind: kind, ID: id}) {
				return nil
			}
			return m.Transfer(ctx, s.ID, "automation", Target{Kind: kind, ID: id})
		}
	}
	return errors.New("the session for the message was not found after routing it")
}
