package app

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/shortlink"
)

// StatusSource feeds the dashboard; the daemon assembles it from the modem
// pool, the WhatsApp client and the SIP user agent. It is called on every
// Dashboard refresh (every few seconds per open browser), so it should
// answer from memory.
type StatusSource interface {
	Status(ctx context.Context) Status
}

// Status is a snapshot of the gateway's channels.
type Status struct {
	Modems     []ModemStatus    `json:"modems"`
	WhatsApp   []WhatsAppStatus `json:"whatsapp"`
	SIP        []SIPStatus      `json:"sip"`
	QueueDepth int              `json:"queue_depth"`
	// History is sent/delivered/failed per interval, oldest first (e.g. 24
	// hourly buckets), for the dashboard chart.
	History []TrafficBucket `json:"history"`
}

// USSDRunner sends a USSD code (balance, tariff) through one modem for the
// Modems page's console; the daemon looks the modem up by its configured
// name.
type USSDRunner interface {
	USSD(ctx context.Context, modem, code string) (string, error)
}

// Health values color a status: "ok", "degraded" or "down".
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
	HealthDown     = "down"
)

// ModemStatus is one modem/SIM.
type ModemStatus struct {
	ID     string `json:"id"`
	Model  string `json:"model"`
	Health string `json:"health"`
	// State is a short machine word ("ready", "registering", "no_sim",
	// "offline", …); the portal translates known words ("state.<word>").
	State        string `json:"state"`
	SignalBars   int    `json:"signal_bars"` // 0–5
	Operator     string `json:"operator"`
	Registration string `json:"registration"` // "home", "roaming", "searching", "denied", …
	SIM          string `json:"sim"`          // ICCID tail or phone number
	SentToday    int    `json:"sent_today"`
	DailyCap     int    `json:"daily_cap"` // 0: no cap
	Detail       string `json:"detail,omitempty"`
}

// WhatsAppStatus is one WhatsApp Business phone number.
type WhatsAppStatus struct {
	PhoneNumber string `json:"phone_number"`
	Name        string `json:"name"`
	Health      string `json:"health"`
	State       string `json:"state"`
	Tier        string `json:"tier"` // messaging limit tier, e.g. "TIER_1K"
	OpenWindows int    `json:"open_windows"`
	Detail      string `json:"detail,omitempty"`
}

// SIPStatus is one SIP registration/trunk to the PBX.
type SIPStatus struct {
	Name   string `json:"name"`
	Server string `json:"server"`
	Health string `json:"health"`
	State  string `json:"state"` // "registered", "unregistered", "failed", …
	Detail string `json:"detail,omitempty"`
}

// TrafficBucket counts messages in one interval.
type TrafficBucket struct {
	Start     time.Time `json:"start"`
	Sent      int       `json:"sent"`
	Delivered int       `json:"delivered"`
	Failed    int       `json:"failed"`
}

// CampaignState is one of the seven campaign states of the seeds.
type CampaignState string

const (
	StateDraft     CampaignState = "draft"     // Entwurf
	StateScheduled CampaignState = "scheduled" // Geplant
	StatePending   CampaignState = "pending"   // Ausstehend: another campaign runs
	StateRunning   CampaignState = "running"   // Ausführung
	StateCompleted CampaignState = "completed" // Vollendet
	StateStopped   CampaignState = "stopped"   // Stoppen
	StateRetrying  CampaignState = "retrying"  // Wiederholungsversuch
)

// CampaignStates lists the states in lifecycle order (filters, badges).
func CampaignStates() []CampaignState {
	return []CampaignState{StateDraft, StateScheduled, StatePending, StateRunning, StateCompleted, StateStopped, StateRetrying}
}

// CampaignSummary is one row of the campaign list.
type CampaignSummary struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Channel string        `json:"channel"` // configured channel name
	Kind    string        `json:"kind"`    // "sms" or "whatsapp"
	Sender  string        `json:"sender,omitempty"`
	State   CampaignState `json:"state"`
	Reason  string        `json:"reason,omitempty"` // of the last state change, e.g. why it stopped
	// ReasonCode is Reason for translation (zero: show Reason).
	ReasonCode  message.Reason `json:"reason_code,omitzero"`
	Total       int            `json:"total"`
	Done        int            `json:"done"`      // recipients with a final result
	Sent        int            `json:"sent"`      // accepted by the channel (delivered included)
	Delivered   int            `json:"delivered"` // confirmed by a delivery report
	Failed      int            `json:"failed"`
	Excluded    int            `json:"excluded"` // do-not-contact or invalid
	CreatedBy   string         `json:"created_by,omitempty"`
	Created     time.Time      `json:"created"`
	ScheduledAt time.Time      `json:"scheduled_at,omitzero"`
	StartedAt   time.Time      `json:"started_at,omitzero"`
	FinishedAt  time.Time      `json:"finished_at,omitzero"`
	// Archived campaigns are read-only and left out of the default list;
	// PrunedAt is when the retention deleted the recipient details
	// (campaign_archive.go).
	Archived bool      `json:"archived,omitempty"`
	PrunedAt time.Time `json:"pruned_at,omitzero"`
}

// CampaignDetail is one campaign with its content and rules.
type CampaignDetail struct {
	CampaignSummary
	Text          string   `json:"text"`
	Template      string   `json:"template,omitempty"` // WhatsApp: "name (language)"
	RatePerMinute int      `json:"rate_per_minute"`
	DNCLists      []string `json:"dnc_lists,omitempty"`
	// For the edit form.
	Mode     string                    `json:"mode,omitempty"`
	Target   campaign.Target           `json:"target,omitzero"`
	WhatsApp *campaign.WhatsAppContent `json:"whatsapp,omitempty"`
	// Progress is the measured send rate and the expected end, from the
	// channel's reports and its senders' pacing, caps and quiet hours
	// (nil when the service cannot tell).
	Progress *campaign.Progress `json:"progress,omitempty"`
	// List is the contact list the recipients come from (contact_lists.go).
	List *campaign.ListSource `json:"list,omitempty"`
	// Short links with click statistics and the SMS fallback (reach.go).
	ShortenLinks bool               `json:"shorten_links,omitempty"`
	Clicks       *shortlink.Stats   `json:"clicks,omitempty"`
	ClickRate    *float64           `json:"click_rate,omitempty"` // clicked / sent
	Fallback     *campaign.Fallback `json:"fallback,omitempty"`
	Reach        *campaign.Reach    `json:"reach,omitempty"`
}

// CampaignQuery filters and pages the campaign list.
type CampaignQuery struct {
	State  CampaignState // "" for all
	Search string        // in the name, case-insensitive
	// Archived lists the archive instead of the other campaigns.
	Archived bool
	Offset   int
	Limit    int
}

// RecipientResult is one recipient's outcome.
type RecipientResult struct {
	Number string `json:"number"`
	State  string `json:"state"` // "pending", "sent", "delivered", "failed", "skipped"
	Error  string `json:"error,omitempty"`
	// ErrorCode is Error for translation (zero: show Error).
	ErrorCode message.Reason `json:"error_code,omitzero"`
	// Channel reached the recipient: whatsapp, sms (the fallback),
	// whatsapp+sms; set for campaigns with an SMS fallback (reach.go).
	Channel  string    `json:"channel,omitempty"`
	Attempts int       `json:"attempts"`
	Updated  time.Time `json:"updated,omitzero"`
}

// SendMode is the seeds' Sendezeit.
type SendMode string

const (
	SendNow      SendMode = "now"
	SendSchedule SendMode = "schedule"
	SendDraft    SendMode = "draft"
)

// TemplateSource lists the synchronised WhatsApp message templates for the
// campaign form's template picker (the daemon converts whatsapp.Templates).
type TemplateSource interface {
	ListTemplates(ctx context.Context) ([]campaign.TemplateInfo, error)
}

// CampaignInput creates a campaign; the portal has already normalised and
// de-duplicated the recipients.
type CampaignInput struct {
	Name       string                 `json:"name"`
	Channel    string                 `json:"channel"`
	Sender     string                 `json:"sender"`
	Recipients []recipients.Recipient `json:"recipients"`
	// Text is an SMS campaign's message; WhatsApp campaigns send a template.
	Text     string                    `json:"text"`
	WhatsApp *campaign.WhatsAppContent `json:"whatsapp,omitempty"`
	// Mode "session" attaches each message to a PBX chat session assigned
	// to Target; "direct" (default) only sends.
	Mode          string          `json:"mode,omitempty"`
	Target        campaign.Target `json:"target,omitzero"`
	Send          SendMode        `json:"send"`
	ScheduleAt    time.Time       `json:"schedule_at,omitzero"`
	RatePerMinute int             `json:"rate_per_minute"`
	DNCLists      []string        `json:"dnc_lists,omitempty"`
	CreatedBy     string          `json:"-"`
	// List: the recipients are this contact list's selection (contact_lists.go).
	List *campaign.ListSource `json:"list,omitempty"`
	// ShortenLinks and Fallback: reach.go.
	ShortenLinks bool               `json:"shorten_links,omitempty"`
	Fallback     *campaign.Fallback `json:"fallback,omitempty"`
	// Media, fitted by CampaignMedia, makes an SMS campaign an MMS
	// campaign; Text is then optional.
	Media *campaign.Media `json:"media,omitempty"`
}

// Sender is a selectable sending identity: a configured channel and,
// optionally, one SIM or number of it ("" lets the channel choose).
type Sender struct {
	Channel string `json:"channel"`
	Kind    string `json:"kind"` // "sms" or "whatsapp"
	ID      string `json:"id"`
	Label   string `json:"label"`
}

// CampaignService is what the campaign screens and API need from the
// campaign engine.
type CampaignService interface {
	ListCampaigns(ctx context.Context, q CampaignQuery) (items []CampaignSummary, total int, err error)
	Campaign(ctx context.Context, id string) (CampaignDetail, error)
	CampaignRecipients(ctx context.Context, id string, offset, limit int) (items []RecipientResult, total int, err error)
	// CreateCampaign returns the new ID; validation problems are
	// *FieldError values.
	CreateCampaign(ctx context.Context, in CampaignInput) (string, error)
	// StartCampaign sends a draft or scheduled campaign now.
	StartCampaign(ctx context.Context, id string) error
	// UpdateCampaign edits a draft or scheduled campaign; in.Recipients
	// replace the old ones unless keepRecipients.
	UpdateCampaign(ctx context.Context, id string, in CampaignInput, keepRecipients bool) error
	StopCampaign(ctx context.Context, id string) error
	// ResumeCampaign continues a stopped campaign.
	ResumeCampaign(ctx context.Context, id string) error
	// RetryFailed sends again to every failed recipient.
	RetryFailed(ctx context.Context, id string) error
	// DuplicateCampaign copies a campaign as a new draft.
	DuplicateCampaign(ctx context.Context, id, by string) (string, error)
	Senders(ctx context.Context) ([]Sender, error)
}

// CampaignDeleter is optionally implemented by a CampaignService that can
// Delete campaigns; DeleteCampaign stops a sending campaign first.
type CampaignDeleter interface {
	DeleteCampaign(ctx context.Context, id string) error
}

// CampaignExporter is optionally implemented by a CampaignService with its
// own, richer CSV export; otherwise the portal writes one from
// CampaignRecipients.
type CampaignExporter interface {
	ExportCampaignCSV(ctx context.Context, id string, w io.Writer) error
}

// ErrCampaignNotFound is returned for an unknown campaign ID.
var ErrCampaignNotFound = errors.New("campaign not found")

// ErrCampaignState is returned when an action does not fit the campaign's
// state (stopping a completed campaign, retrying one without failures).
var ErrCampaignState = errors.New("action not possible in the campaign's state")

// FieldError is a validation problem with one input field. Code is a
// catalog key suffix ("campaign.err.<Code>") so the portal can show it in
// the user's language; Message is the English text for the API and logs.
type FieldError struct {
	Field   string
	Code    string
	Message string
	// Reason translates Message where the engine coded it.
	Reason message.Reason
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// MediaSource fetches media contacts sent (WhatsApp pictures, documents)
// into local files, for the links in chat sessions.
type MediaSource interface {
	// MediaFile returns the local path and MIME type of media id,
	// downloading it first if needed.
	MediaFile(ctx context.Context, id string) (path, mime string, err error)
}
