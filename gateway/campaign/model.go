// Package campaign runs bulk message campaigns (SMS and WhatsApp) with the
// lifecycle of the vendor manuals: draft, scheduled, pending, running,
// completed, stopped and retrying, persisted in Badger under "campaign/".
//
// The engine owns campaign and recipient state; channels (the modem pool,
// the WhatsApp client) are reached through the small Channel interface
// defined here and report back through (*Engine).HandleStatus.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// ErrTooManyCampaigns (an ErrLimit) is Create's and Duplicate's answer
// when campaigns.max_campaigns exist: the portal points to the list.
var ErrTooManyCampaigns = fmt.Errorf("%w: too many campaigns", ErrLimit)

// Sentinel errors callers (the REST API) branch on.
var (
	ErrNotFound      = errors.New("campaign not found")
	ErrNameTaken     = errors.New("campaign name already in use")
	ErrLimit         = errors.New("campaign limit reached")
	ErrInvalid       = errors.New("invalid campaign")
	ErrTransition    = errors.New("not allowed in this campaign state")
	ErrThrottle      = errors.New("throttle above the channel maximum")
	ErrUnknownStatus = errors.New("status event for no campaign message")
	// ErrRejected is wrapped by a channel's Send error when that one
	// message can never be sent (bad number, content refused): the recipient
	// fails with the reason and the campaign goes on. Any other Send error
	// stops the campaign (channel gone, SIM caps or credit exhausted, token
	// expired) so the admin can fix it and resume.
	ErrRejected = errors.New("message rejected by the channel")
)

// Channel is one configured SMS channel or WhatsApp number, implemented by
// adapters over the modem pool and the WhatsApp client (cmd/pbxgate).
type Channel interface {
	Name() string
	Kind() message.Kind
	// Send hands m to the channel, which stores it before returning nil.
	// It must be idempotent by m.ID: a second Send with an ID the channel
	// has seen must not transmit again (the restart argument in dispatch.go
	// relies on it). Status changes come back through Engine.HandleStatus.
	Send(ctx context.Context, m message.Outbound) error
	// MaxPerMinute is the channel's highest rate; 0 means no limit.
	MaxPerMinute() int
}

// AddressNormalizer is implemented by a channel whose recipients are not
// phone numbers (a Telegram bot's chat ids): it reads and normalises a
// recipient instead of the phone number rules.
type AddressNormalizer interface {
	NormalizeAddress(s string) (string, error)
}

// TemplateSender is what a WhatsApp channel implements in addition to
// Channel: campaigns send approved templates, never free text.
type TemplateSender interface {
	// SendTemplate is Send for a template message; m.Text holds the rendered
	// preview for chat logs. Same idempotency contract as Send.
	SendTemplate(ctx context.Context, m message.Outbound, t TemplateMessage) error
}

// SenderLister is optionally implemented by a channel to validate
// Spec.Sender (SIMs of an SMS channel, the number of a WhatsApp channel).
type SenderLister interface {
	Senders() []string
}

// TxnSender is optionally implemented by a ResendSafety channel that keeps
// what it is handed in a store.Store: SendTxn is Send in txn, the
// transaction of that store that records the recipient as handed over
// (and accepted), so a hand-over is one write instead of three (the
// campaign's "sending", the channel's own transaction, the accepted
// mark). The channel stores m in txn and returns what to call once txn
// has committed (nil: nothing); it must not act on m before that, and
// forgets it if txn does not commit (it may be called again for the same
// m when the transaction is retried after a conflict). Errors are Send's.
// The engine uses it only when TxnStore is its own store.
type TxnSender interface {
	SendTxn(txn *store.Txn, m message.Outbound) (committed func(), err error)
	TxnStore() *store.Store
}

// ResendSafety is optionally implemented by a channel whose idempotency by
// ID does not survive a restart. When ResendSafe returns false, recipients
// found in state sending after a crash are recorded unknown instead of being
// handed to the channel again.
type ResendSafety interface {
	ResendSafe() bool
}

// Withdrawer is implemented by channels that can take back messages they accepted but have not started transmitting.
type Withdrawer interface {
	// Withdraw removes those of ids that have not started transmitting and returns the ones removed; they will never be sent.
	Withdraw(ctx context.Context, ids []string) ([]string, error)
}

// Capacitor is optionally implemented by a channel that knows how many
// messages it can start next (an SMS channel: its SIMs that are ready and
// not held back by quiet hours or caps). The dispatcher keeps at most
// WindowPerSender × Capacity() of a campaign's messages handed over and
// not yet reported sent or failed (at least WindowPerSender); the rest
// waits in the campaign, where Stop and Delete act on it. A channel
// without it gets DefaultWindow.
type Capacitor interface {
	Capacity() int
}

// Handed-over window of the dispatcher (see Capacitor): three per ready
// sender keep every sender busy (one transmitting, two waiting) while the
// reports travel back through the channel's outbox (with two, 4 simulated
// SIMs at 1 s per SMS idled a quarter of the time: docs/benchmarks.md).
const (
	WindowPerSender = 3
	DefaultWindow   = 16
)

// Hold is what makes campaigns pause without stopping: Wait returns when
// they may hand a channel the next messages, or ctx's error.
type Hold interface {
	Wait(ctx context.Context) error
}

// SessionOpener attaches campaign messages to PBX chat sessions (send mode
// "session"); the PBX work implements it.
type SessionOpener interface {
	// OpenSession returns the active session for the contact on the channel
	// or creates one assigned to target. It must be idempotent per contact
	// (a crash between OpenSession and Send leads to a second call).
	OpenSession(ctx context.Context, r SessionRequest) (sessionID string, reused bool, err error)
}

// SessionRequest asks for a chat session for one recipient.
type SessionRequest struct {
	Channel string
	Sender  string
	Contact string // E.164
	Target  Target
	// The campaign's message to this recipient, for the session's chat
	// log: its ID (the channel's status events carry it), text (for a
	// WhatsApp template the rendered preview) and author.
	MsgID, Text, By string
}

// TemplateCatalog is the synchronised list of WhatsApp templates.
type TemplateCatalog interface {
	Template(ctx context.Context, name, language string) (TemplateInfo, error)
}

// TemplateInfo is what the campaign needs to know about a template.
type TemplateInfo struct {
	Name     string
	Language string
	Status   string // APPROVED, PENDING, REJECTED, PAUSED, DISABLED
	Category string
	// Header is "", TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION.
	Header string
	// Variables are the placeholders of the body (and text header) in
	// order: "1", "2"… or named parameters.
	Variables []string
	Body      string // with {{1}} placeholders, for the preview
	// HeaderText is a TEXT header (with its placeholder) and Footer the
	// footer, for the portal's preview.
	HeaderText, Footer string
	// Buttons are the template's buttons in order (buttons.go).
	Buttons []TemplateButton
}

// DNCLists checks numbers against named do-not-contact lists;
// *recipients.Lists implements it.
type DNCLists interface {
	Exists(ctx context.Context, name string) bool
	Match(ctx context.Context, lists []string, number string) (list string, found bool, err error)
}

// Blocker is the global blacklist (opt-outs); recipients.Blocker has the
// same shape.
type Blocker interface {
	Blocked(ctx context.Context, number string) (reason string, blocked bool)
}

// State of a campaign.
type State string

const (
	Draft     State = "draft"
	Scheduled State = "scheduled"
	Pending   State = "pending" // another campaign runs on the same channel
	Running   State = "running"
	Completed State = "completed"
	Stopped   State = "stopped" // by a system problem or the admin; Reason says which
	Retrying  State = "retrying"
)

// SendMode: create/reuse a PBX session per contact, or send directly.
type SendMode string

const (
	Direct  SendMode = "direct"
	Session SendMode = "session"
)

// Target is where session-mode sessions are assigned.
type Target struct {
	Kind string `json:"kind"` // "extension" or "queue"
	ID   string `json:"id"`
}

// When says when a campaign sends: "now", "scheduled" (Date, Time in
// TimeZone) or "draft".
type When struct {
	Kind     string `json:"kind"`
	Date     string `json:"date,omitempty"`      // 2006-01-02
	Time     string `json:"time,omitempty"`      // 15:04
	TimeZone string `json:"time_zone,omitempty"` // IANA, e.g. Europe/Berlin; empty: the configured one
}

// Content of a campaign message: SMS text or a WhatsApp template.
type Content struct {
	Text     string           `json:"text,omitempty"`
	WhatsApp *WhatsAppContent `json:"whatsapp,omitempty"`
	// Media makes an SMS campaign an MMS campaign (media.go); Text is
	// then optional.
	Media *Media `json:"media,omitempty"`
}

// WhatsAppContent is an approved template with its values.
type WhatsAppContent struct {
	Template string `json:"template"`
	Language string `json:"language"`
	// Values for every template variable; a value may itself contain
	// recipient variables ("{{first_name}}").
	Values map[string]string `json:"values,omitempty"`
	Header *Header           `json:"header,omitempty"`
	// Buttons fill the template's buttons (URL suffix, quick-reply
	// payload, copy code); values may contain recipient variables.
	Buttons []ButtonValue `json:"buttons,omitempty"`
}

// Header fills a template's media or location header.
type Header struct {
	Type     string    `json:"type"` // image, video, document, location
	MediaID  string    `json:"media_id,omitempty"`
	MediaURL string    `json:"media_url,omitempty"`
	Filename string    `json:"filename,omitempty"`
	Location *Location `json:"location,omitempty"`
}

// Location is a location header, usually filled by ParseMapsURL.
type Location struct {
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// TemplateMessage is one rendered template send.
type TemplateMessage struct {
	Name     string
	Language string
	Params   []Param
	Header   *Header
	Buttons  []ButtonValue // rendered for the recipient
}

// Param is one template variable with its rendered value.
type Param struct {
	Name  string
	Value string
}

// Spec is everything the admin edits.
type Spec struct {
	Name     string   `json:"name"`
	Channel  string   `json:"channel"`
	Sender   string   `json:"sender,omitempty"`
	Content  Content  `json:"content"`
	Mode     SendMode `json:"mode"`
	Target   Target   `json:"target,omitzero"`
	Throttle int      `json:"throttle,omitempty"` // messages per minute; 0: the channel's maximum
	DNCLists []string `json:"dnc_lists,omitempty"`
	When     When     `json:"when"`
	// List, when set, is the contact list the recipients came from
	// (livelist.go).
	List *ListSource `json:"list,omitempty"`
	// ShortenLinks replaces the text's links by per-recipient short links
	// with click counting (shortlinks.go).
	ShortenLinks bool `json:"shorten_links,omitempty"`
	// Fallback sends an SMS to WhatsApp recipients the template does not
	// reach (fallback.go).
	Fallback *Fallback `json:"fallback,omitempty"`
}

// Transition is one recorded state change.
type Transition struct {
	From   State  `json:"from"`
	To     State  `json:"to"`
	Reason string `json:"reason"`
	// ReasonCode is Reason for translation (zero: show Reason).
	ReasonCode message.Reason `json:"reason_code,omitzero"`
	At         time.Time      `json:"at"`
}

// Counts of recipients per status.
type Counts struct {
	Queued    int `json:"queued"`
	Sending   int `json:"sending"`
	Sent      int `json:"sent"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	Excluded  int `json:"excluded"`
	Unknown   int `json:"unknown"`
}

func (c *Counts) add(s RecipientStatus, d int) {
	switch s {
	case RQueued:
		c.Queued += d
	case RSending:
		c.Sending += d
	case RSent:
		c.Sent += d
	case RDelivered:
		c.Delivered += d
	case RFailed:
		c.Failed += d
	case RExcluded:
		c.Excluded += d
	case RUnknown:
		c.Unknown += d
	}
}

// Done is how many recipients the dispatcher is finished with.
func (c Counts) Done() int { return c.Sent + c.Delivered + c.Failed + c.Excluded + c.Unknown }

// Campaign is the stored campaign.
type Campaign struct {
	ID   string `json:"id"`
	Spec Spec   `json:"spec"`
	// State and Reason of the last transition.
	State      State          `json:"state"`
	Reason     string         `json:"reason,omitempty"`
	ReasonCode message.Reason `json:"reason_code,omitzero"`
	// ScheduledAt is the instant a scheduled campaign fires (UTC).
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	// Retry is true while the current pass re-sends failed recipients
	// (pending and stopped campaigns remember which pass they were in).
	Retry        bool         `json:"retry,omitempty"`
	Attempt      int          `json:"attempt"` // 1 for the first pass, +1 per retry
	Recipients   int          `json:"recipients"`
	Duplicates   int          `json:"duplicates"` // removed at creation
	Counts       Counts       `json:"counts"`
	CreatedAt    time.Time    `json:"created_at"`
	UpdatedAt    time.Time    `json:"updated_at"`
	PendingSince time.Time    `json:"pending_since,omitzero"`
	History      []Transition `json:"history,omitempty"`
	// Archived campaigns are finished, hidden from the default list and
	// read-only (archive.go); PrunedAt is when the retention deleted the
	// recipients' details, keeping the totals (retention.go).
	Archived bool      `json:"archived,omitempty"`
	PrunedAt time.Time `json:"pruned_at,omitzero"`
}

// Progress is the share of recipients the dispatcher is done with, 0..1.
func (c Campaign) Progress() float64 {
	if c.Recipients == 0 {
		return 1
	}
	return float64(c.Counts.Done()) / float64(c.Recipients)
}

// RecipientStatus is a recipient's state.
type RecipientStatus string

const (
	RQueued    RecipientStatus = "queued"
	RSending   RecipientStatus = "sending" // stored before Send; handed (or about to be) to the channel
	RSent      RecipientStatus = "sent"    // the channel accepted it
	RDelivered RecipientStatus = "delivered"
	RFailed    RecipientStatus = "failed"
	RExcluded  RecipientStatus = "excluded"
	RUnknown   RecipientStatus = "unknown" // may or may not have been sent
)

// rank orders statuses so late or repeated events never move a recipient
// backwards.
func rank(s RecipientStatus) int {
	switch s {
	case RQueued:
		return 0
	case RSending:
		return 1
	case RSent:
		return 2
	case RDelivered, RFailed, RUnknown:
		return 3
	case RExcluded:
		return 4
	}
	return -1
}

// advances reports whether a recipient in from may move to to.
func advances(from, to RecipientStatus) bool {
	if from == RUnknown && (to == RSent || to == RDelivered || to == RFailed) {
		return true // late news about a message we lost track of
	}
	return rank(to) > rank(from)
}

// Recipient is one stored recipient of a campaign.
type Recipient struct {
	Seq    int               `json:"seq"`
	Number string            `json:"number"`
	Vars   map[string]string `json:"vars,omitempty"`
	Line   int               `json:"line,omitempty"` // line of the import it came from
	Status RecipientStatus   `json:"status"`
	Reason string            `json:"reason,omitempty"`
	// ReasonCode is Reason for translation (zero: show Reason).
	ReasonCode message.Reason `json:"reason_code,omitzero"`
	Code       string         `json:"code,omitempty"` // the channel's error code (CMS 38, WA 131047)
	Attempt    int            `json:"attempt,omitempty"`
	MsgID      string         `json:"msg_id,omitempty"`
	SessionID  string         `json:"session_id,omitempty"`
	Sender     string         `json:"sender,omitempty"`
	ChannelID  string         `json:"channel_id,omitempty"`
	SendingAt  time.Time      `json:"sending_at,omitzero"`
	// Withdrawn counts the times a Stop took this recipient's message back
	// from the channel before it was transmitted; each hand-over after one
	// gets a new message ID (see msgID).
	Withdrawn int `json:"withdrawn,omitempty"`
	// AcceptedAt is when the channel accepted (stored) the message; from
	// then on its status comes only from the channel's events, and it is
	// never handed over again.
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
	SentAt     time.Time `json:"sent_at,omitzero"`
	DoneAt     time.Time `json:"done_at,omitzero"`
	// Fallback is the SMS sent instead of the WhatsApp template (fallback.go).
	Fallback *FallbackState `json:"fallback,omitempty"`
}
