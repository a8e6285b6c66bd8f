// Package message holds the message types every channel (modem pool,
// WhatsApp) and every user of a channel (campaigns, sessions, rules) share.
package message

import "time"

// Kind of channel a message travels on.
type Kind string

const (
	SMS      Kind = "sms"
	WhatsApp Kind = "whatsapp"
	Telegram Kind = "telegram"
	// Viber and VK: subscribers addressed by their Viber user id ("vb…")
	// and VK user id ("vk…") (drivers/viber, drivers/vk).
	Viber Kind = "viber"
	VK    Kind = "vk"
	// Messenger and Instagram: a Facebook Page's and an Instagram
	// account's conversations (drivers/metamsg).
	Messenger Kind = "messenger"
	Instagram Kind = "instagram"
)

// Known reports whether k is a channel kind pbxgate has (rules, filters).
func (k Kind) Known() bool {
	switch k {
	case SMS, WhatsApp, Telegram, Messenger, Instagram, Viber, VK:
		return true
	}
	return false
}

// ByID reports whether the kind's contacts are messenger ids (a Telegram
// chat id, a page-scoped id, a Viber or VK user id), not phone numbers.
func (k Kind) ByID() bool {
	return k == Telegram || k == Messenger || k == Instagram || k == Viber || k == VK
}

// Status of an outbound message. The final ones are Delivered, Failed and
// Unknown (the channel may or may not have sent it: e.g. a crash after the
// modem took it, or a timed-out HTTP request). Sent becomes final when no
// delivery report is expected.
type Status string

const (
	Queued    Status = "queued"
	Sending   Status = "sending"
	Sent      Status = "sent"
	Delivered Status = "delivered"
	Read      Status = "read"
	Failed    Status = "failed"
	Unknown   Status = "unknown"
)

// Outbound is one message to send. ID is unique and chosen by the caller
// (campaign/recipient, session/message); channels use it to make sending
// idempotent: an ID they have seen is never sent twice.
type Outbound struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`          // configured channel name
	Sender  string `json:"sender,omitempty"` // SIM/number pinned by the admin; empty: any healthy one
	To      string `json:"to"`               // E.164, with +
	Text    string `json:"text,omitempty"`
	// DeliveryReport requests a status report (SMS) where the channel
	// supports it.
	DeliveryReport bool `json:"delivery_report,omitempty"`
	// Ref is opaque correlation data echoed in StatusEvents.
	Ref string `json:"ref,omitempty"`
	// Class is the message's scheduling class. The zero value is
	// Interactive, so every sender but the campaign engine gets it without
	// setting anything.
	Class Class `json:"class,omitempty"`
	// Media makes the message an MMS (SMS channels whose SIM can send
	// MMS): a file already fitted to the carrier's limit, stored once on
	// disk; Text is its optional text.
	Media *Media `json:"media,omitempty"`
	// ReplyTo is the channel id (WhatsApp: wamid) of an earlier message
	// this one quotes; channels that cannot quote send the text alone.
	ReplyTo string `json:"reply_to,omitempty"`
}

// Media is the file of an MMS: Path is the fitted file on disk (under the
// data directory), read at each send; Name and ContentType go on the wire.
type Media struct {
	Path        string `json:"path"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
}

// Class is how a channel schedules a message on its scarce capacity (a
// SIM's sends, a WhatsApp number's rate): interactive messages always go
// before bulk ones on the sender they need; within a class the order of
// arrival is kept.
type Class uint8

const (
	// Interactive: agent replies (SIP, portal), automatic answers,
	// STOP/START confirmations, forwards, `pbxgate send`, single API sends.
	Interactive Class = iota
	// Bulk: campaign messages.
	Bulk
)

// String is "interactive" or "bulk".
func (c Class) String() string {
	if c == Bulk {
		return "bulk"
	}
	return "interactive"
}

// CodeWithdrawn is StatusEvent.Code of a message its channel took back
// before transmitting it (a campaign was stopped): it was never sent and
// never will be under this ID. The event has Status Failed.
const CodeWithdrawn = "withdrawn"

// StatusEvent reports a change of an outbound message's status.
type StatusEvent struct {
	ID        string `json:"id"` // Outbound.ID
	Ref       string `json:"ref,omitempty"`
	Status    Status `json:"status"`
	Sender    string `json:"sender,omitempty"`     // SIM/number that sent it
	ChannelID string `json:"channel_id,omitempty"` // wamid, SMS message references
	Reason    string `json:"reason,omitempty"`     // why it failed, for the admin
	// ReasonCode is Reason for translation; zero when the channel gave
	// none (show Reason as it is).
	ReasonCode Reason    `json:"reason_code,omitzero"`
	Code       string    `json:"code,omitempty"`      // channel error code (CMS 500, WA 131047)
	Retryable  bool      `json:"retryable,omitempty"` // a later attempt may succeed
	At         time.Time `json:"at"`
}

// Inbound is one message received from a contact, complete (long SMS
// reassembled) and already stored by the channel.
type Inbound struct {
	ID        string    `json:"id"`      // unique (channel-specific: wamid, SIM+timestamp+ref)
	Kind      Kind      `json:"kind"`    // sms or whatsapp
	Channel   string    `json:"channel"` // configured channel name
	Receiver  string    `json:"receiver"`
	From      string    `json:"from"` // E.164 or WhatsApp user id
	Name      string    `json:"name,omitempty"`
	Text      string    `json:"text,omitempty"`
	MediaType string    `json:"media_type,omitempty"`
	MediaID   string    `json:"media_id,omitempty"`
	At        time.Time `json:"at"`
	// ReplyTo is the channel id (wamid) of the message this one quotes
	// or, for a reaction, reacts to.
	ReplyTo string `json:"reply_to,omitempty"`
	// Reaction: Text is the emoji the contact reacted to ReplyTo with;
	// Removed says the contact took its reaction back.
	Reaction bool `json:"reaction,omitempty"`
	Removed  bool `json:"removed,omitempty"`
	// Payload is what stands behind a tapped template button (its payload)
	// or interactive reply (the button or list row id).
	Payload string `json:"payload,omitempty"`
	// Referral names the ad or post the contact came from (WhatsApp
	// click-to-chat ads).
	Referral *Referral `json:"referral,omitempty"`
	// Unsupported is the channel's reason it cannot show the content;
	// Text then says so.
	Unsupported string `json:"unsupported,omitempty"`
}

// Referral is the ad or post an inbound conversation started from.
type Referral struct {
	SourceType string `json:"source_type,omitempty"` // "ad" or "post"
	SourceID   string `json:"source_id,omitempty"`
	SourceURL  string `json:"source_url,omitempty"`
	Headline   string `json:"headline,omitempty"`
	Body       string `json:"body,omitempty"`
}

// Rank orders outbound statuses so late, repeated or reordered events never
// move a message backwards: queued, sending, unknown, sent, delivered, then
// read and failed. Unknown (may or may not have gone out) sits between
// sending and sent: news that it was sent, delivered or failed replaces it,
// a "sending" does not. A status that is none of these ranks -1.
func (s Status) Rank() int {
	switch s {
	case Queued:
		return 0
	case Sending:
		return 1
	case Unknown:
		return 2
	case Sent:
		return 3
	case Delivered:
		return 4
	case Read, Failed:
		return 5
	}
	return -1
}

// IsFinal reports whether no further status change is expected for s.
func (s Status) IsFinal() bool {
	switch s {
	case Delivered, Read, Failed, Unknown:
		return true
	}
	return false
}
