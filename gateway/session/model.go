// Package session keeps the conversations between contacts and the business
// (one per contact and channel), routes them to PBX extensions and message
// queues, and stores and forwards every customer message until an extension
// has taken it.
//
// Every change is written to the store before it takes effect (key prefix
// "session/"): a restart, an offline extension or a PBX outage never loses a
// customer message; deliveries resume from the store.
package session

import (
	"context"
	"errors"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Sentinel errors callers branch on (the PBX maps them to SIP responses).
var (
	// ErrUnreachable: the extension did not take the message (SIP 404, 480,
	// 408 or no answer); the session retries and then moves on.
	ErrUnreachable = errors.New("extension unreachable")
	// ErrNoSession: the extension wrote to a contact without an open
	// session and may not open one.
	ErrNoSession = errors.New("no open session with this contact")
	// ErrNotYours: the session is handled by someone else.
	ErrNotYours = errors.New("session is handled by another extension")
	// ErrWindowClosed: WhatsApp only allows free text within 24 h of the
	// contact's last message; a new conversation needs a template.
	ErrWindowClosed = errors.New("WhatsApp conversation window is closed")
	// ErrBadCommand: an agent command ("/close", "/transfer …") is not
	// understood.
	ErrBadCommand = errors.New("unknown or malformed command")
	// ErrUnknownChannel: no such channel is configured for sessions.
	ErrUnknownChannel = errors.New("channel is not configured for sessions")
	// ErrUnknownTarget: a transfer names no extension pattern or queue.
	ErrUnknownTarget = errors.New("no such extension or queue")
	// ErrNotFound: no session with that ID.
	ErrNotFound = errors.New("session not found")
	// ErrEmptyReply: a reply without text.
	ErrEmptyReply = errors.New("empty reply")
	// ErrCannotQuote: the message a reply would quote is not a message
	// the contact wrote in this WhatsApp session.
	ErrCannotQuote = errors.New("this message cannot be quoted")
	// ErrUnknownStatus: a status event for a message sessions did not send.
	ErrUnknownStatus = errors.New("status event does not belong to a session")
)

// Deliverer hands a chat message to an extension (the PBX implements it).
// It returns nil once the extension accepted it (SIP 200/202) and an error
// wrapping ErrUnreachable when it is offline or did not answer.
type Deliverer interface {
	DeliverChat(ctx context.Context, ext string, c Chat) error
}

// Sender sends a message to a contact on one channel (SMS pool, WhatsApp).
// A nil error means the channel has stored it and will send it.
type Sender interface {
	Send(ctx context.Context, out message.Outbound) error
}

// IDSender is a Sender that also tells the channel's id of the message it
// took (WhatsApp: the wamid Meta returned). The manager keeps it on the
// reply's entry (Entry.ChannelID), so a contact's quote of that reply
// (WhatsApp's context.id) finds it. *whatsapp.Channel implements it.
type IDSender interface {
	SendID(ctx context.Context, out message.Outbound) (channelID string, err error)
}

// SenderFunc adapts a function (e.g. (*smspool.Pool).Enqueue) to Sender.
type SenderFunc func(ctx context.Context, out message.Outbound) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, out message.Outbound) error { return f(ctx, out) }

// Names finds a contact's display name (pbxgate's phonebooks, a remote
// phonebook of the PBX) for chats that do not carry one.
type Names interface {
	NameOf(ctx context.Context, number string) (string, bool)
}

// Clock is the manager's time source; tests use a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Target is where a session goes: an extension or a message queue.
type Target struct {
	Kind string `json:"kind" yaml:"kind"` // "extension" or "queue"
	ID   string `json:"id" yaml:"id"`
}

// Target kinds.
const (
	ToExtension = "extension"
	ToQueue     = "queue"
)

// IsZero reports whether t names nothing.
func (t Target) IsZero() bool { return t.ID == "" }

func (t Target) String() string {
	if t.Kind == ToQueue {
		return "queue:" + t.ID
	}
	return t.ID
}

// Assignment modes of a queue.
const (
	// Manual: the offered members all see the session until one picks it
	// up by replying; then only that member may reply.
	Manual = "manual"
	// Auto: the session is assigned to the member the distribution picks
	// (or, when ringing all, to the first member who replies).
	Auto = "auto"
	// None: every member sees every message and may reply; nobody owns it.
	None = "none"
)

// Distributions of new sessions over a queue's members.
const (
	RingAll     = "ringall"
	RoundRobin  = "roundrobin"
	LeastRecent = "leastrecent"
)

// Session states.
const (
	Open   = "open"
	Closed = "closed"
)

// Session is one conversation between a contact and the business on one
// channel and sender.
type Session struct {
	ID      string       `json:"id"`
	Channel string       `json:"channel"`
	Kind    message.Kind `json:"kind"`
	// Sender is the SIM (name or number) or WhatsApp number the contact
	// wrote to last; replies leave through it.
	Sender string `json:"sender,omitempty"`
	// SenderPinned: an admin fixed Sender (PinSender); the contact writing
	// to another SIM or number no longer moves it.
	SenderPinned bool   `json:"sender_pinned,omitempty"`
	Contact      string `json:"contact"`
	Name         string `json:"name,omitempty"`
	State        string `json:"state"`
	Target       Target `json:"target"`
	// Owner is the extension that handles the session ("" while a queue's
	// members are still offered it, and always in assignment mode none).
	Owner string `json:"owner,omitempty"`
	// PickedUp: the owner has replied (an auto-assigned owner who has not
	// replied yet is moved on after the queue's answer timeout).
	PickedUp bool `json:"picked_up,omitempty"`
	// Offered are the queue members that currently see the session.
	Offered   []string  `json:"offered,omitempty"`
	OfferedAt time.Time `json:"offered_at,omitzero"`
	// Tried are the members that were offered it and did not answer.
	Tried []string `json:"tried,omitempty"`
	// Exhausted: every member and the fallback were tried; the session
	// stays offered to all members without further timeouts.
	Exhausted    bool      `json:"exhausted,omitempty"`
	AnsweredSeq  int       `json:"answered_seq,omitempty"` // last entry an agent answered
	AutoReplied  bool      `json:"auto_replied,omitempty"`
	Created      time.Time `json:"created"`
	LastActivity time.Time `json:"last_activity"`
	LastInbound  time.Time `json:"last_inbound,omitzero"`
	ClosedAt     time.Time `json:"closed_at,omitzero"`
	NextSeq      int       `json:"next_seq"`
	Timeline     []Event   `json:"timeline"`
	// Box is the cluster box that holds the session (created it and
	// writes it) and Updated when it last did; both empty on a box alone
	// (peer.go).
	Box     string    `json:"box,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
}

// Event is one operation in a session's timeline.
type Event struct {
	At     time.Time `json:"at"`
	Op     string    `json:"op"` // created, assigned, offered, picked_up, transferred, closed, unreachable, sender
	By     string    `json:"by"` // extension, "campaign", "contact", "pbxgate"
	Detail string    `json:"detail,omitempty"`
}

// Entry directions.
const (
	In   = "in"   // from the contact
	Out  = "out"  // from an extension (or an auto-reply) to the contact
	Note = "note" // from pbxgate to extensions
)

// Entry is one message in a session's chat log.
type Entry struct {
	Seq       int       `json:"seq"`
	Dir       string    `json:"dir"`
	At        time.Time `json:"at"`
	Text      string    `json:"text"`
	MediaType string    `json:"media_type,omitempty"`
	MediaID   string    `json:"media_id,omitempty"`
	// Attachment: the file an Out entry sent as MMS (ReplyWithFile) and
	// what fitting did to it; MediaID then names the stored file.
	Attachment *Attachment `json:"attachment,omitempty"`
	By         string      `json:"by,omitempty"` // extension that wrote an Out entry
	// Status of an Out entry (message.Status) or of an In entry: "pending"
	// until an extension took it, then "delivered".
	Status      string   `json:"status"`
	DeliveredTo []string `json:"delivered_to,omitempty"`
	OutboundID  string   `json:"outbound_id,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	// ReasonCode is Reason for translation (zero: show Reason).
	ReasonCode message.Reason `json:"reason_code,omitzero"`
	InboundID  string         `json:"inbound_id,omitempty"`
	// QuoteID is the channel id (WhatsApp: wamid) of the message this
	// one quotes: an In entry's context.id, an Out entry's quoted
	// customer message (the InboundID of an earlier In entry).
	QuoteID string `json:"quote_id,omitempty"`
	// ChannelID is the channel's id of an Out entry once the channel took
	// it (WhatsApp: the wamid Meta returned, or the one its status
	// webhooks carry): a contact quoting this reply names it as QuoteID.
	ChannelID string `json:"channel_id,omitempty"`
	// Notify: the extension that wrote an Out entry asked to be told
	// what became of it.
	Notify *DeliveryNotify `json:"notify,omitempty"`
	// Box and Updated: the cluster box that last wrote the entry, and
	// when (peer.go); empty on a box alone.
	Box     string    `json:"box,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
}

// Chat is what an extension receives.
type Chat struct {
	SessionID string
	Seq       int
	Contact   string // E.164 or WhatsApp user id: the chat's sender
	Name      string // display name, when known
	Channel   string
	Kind      message.Kind
	Text      string
	At        time.Time
	// Thread tells the chat's channel apart on the phone: "" for the
	// first session channel, the channel's name for the others. The PBX
	// side makes it part of the contact's address, so each channel of a
	// contact is its own thread and a reply in it goes back on that
	// channel (Manager.FromExtensionThread).
	Thread string
	// Label names the channel for the display name ("SMS", "WhatsApp", or
	// the channel's name when two channels share a kind); "" with only
	// one session channel.
	Label string
	// Notice: from pbxgate itself (e.g. "taken by 201"), not from the
	// contact; the PBX side sends it from a gateway identity, so it does
	// not read as if the contact wrote it.
	Notice bool
	// Receipt: a notice about the fate of the extension's reply (IMDN or
	// text, see DeliveryNotify).
	Receipt *Receipt
}
