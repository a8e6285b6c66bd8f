package chatchannel

import (
	"context"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Inbox stores inbound messages before the platform gets its
// confirmation (gateway/inbox.Inbox).
type Inbox interface {
	Accept(ctx context.Context, in message.Inbound) error
}

// StatusSink takes the outcome of each sent message (the gateway's status
// router: campaigns, sessions, message log).
type StatusSink interface {
	HandleStatus(ctx context.Context, ev message.StatusEvent) error
}

// Journal records outbound messages in the message log before they go out.
type Journal interface {
	Outbound(ctx context.Context, kind message.Kind, o message.Outbound, summary string) error
	Status(ctx context.Context, ev message.StatusEvent) error
}

// OptOuts records that a subscriber does not want messages any more
// (gateway/consent.Consent).
type OptOuts interface {
	OptOut(ctx context.Context, number, keyword, channel string) error
}
