package web

import (
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/web/app"
)

// The daemon builds the web layer from Deps and the service interfaces;
// they live in web/app (shared by the screens and the API) and are named
// here as before.

type (
	RuleService        = app.RuleService
	ConsentService     = app.ConsentService
	DiskWatch          = app.DiskWatch
	UpdateSpool        = app.UpdateSpool
	GroupService       = app.GroupService
	LogSource          = app.LogSource
	MessageLogService  = app.MessageLogService
	ModemPacing        = app.ModemPacing
	SIMPacing          = app.SIMPacing
	PBXSettings        = app.PBXSettings
	RestoreStager      = app.RestoreStager
	StatusSource       = app.StatusSource
	Status             = app.Status
	USSDRunner         = app.USSDRunner
	ModemStatus        = app.ModemStatus
	WhatsAppStatus     = app.WhatsAppStatus
	SIPStatus          = app.SIPStatus
	TrafficBucket      = app.TrafficBucket
	CampaignState      = app.CampaignState
	CampaignSummary    = app.CampaignSummary
	CampaignDetail     = app.CampaignDetail
	CampaignQuery      = app.CampaignQuery
	RecipientResult    = app.RecipientResult
	SendMode           = app.SendMode
	TemplateSource     = app.TemplateSource
	CampaignInput      = app.CampaignInput
	Sender             = app.Sender
	CampaignService    = app.CampaignService
	CampaignDeleter    = app.CampaignDeleter
	CampaignExporter   = app.CampaignExporter
	FieldError         = app.FieldError
	MediaSource        = app.MediaSource
	SessionService     = app.SessionService
	Settings           = app.Settings
	AuditEntry         = app.AuditEntry
	Deps               = app.Deps
	WhatsAppSetup      = app.WhatsAppSetup
	VersionInfo        = app.VersionInfo
	Readiness          = app.Readiness
	Component          = app.Component
	MediaUploader      = app.MediaUploader
	ModemConsole       = app.ModemConsole
	MMSService         = app.MMSService
	MMSModem           = app.MMSModem
	MMSPreset          = app.MMSPreset
	MMSRequest         = app.MMSRequest
	MMSFit             = app.MMSFit
	MMSOutcome         = app.MMSOutcome
	MMSFitError        = app.MMSFitError
	ATLine             = app.ATLine
	ATRisk             = app.ATRisk
	ATCheck            = app.ATCheck
	ATInputError       = app.ATInputError
	ATResult           = app.ATResult
	ShortLinkService   = app.ShortLinkService
	TelegramSetup      = app.TelegramSetup
	TelegramStatus     = app.TelegramStatus
	TelegramSubscriber = app.TelegramSubscriber
	ViberSetup         = app.ViberSetup
	ViberStatus        = app.ViberStatus
	ViberSubscriber    = app.ViberSubscriber
	VKSetup            = app.VKSetup
	VKStatus           = app.VKStatus
	VKSubscriber       = app.VKSubscriber

	MetaSetup      = app.MetaSetup
	MetaStatus     = app.MetaStatus
	MetaSubscriber = app.MetaSubscriber
)

const (
	DefaultBodyLimit = app.DefaultBodyLimit
	HealthOK         = app.HealthOK
	HealthDegraded   = app.HealthDegraded
	HealthDown       = app.HealthDown
	StateDraft       = app.StateDraft
	StateScheduled   = app.StateScheduled
	StatePending     = app.StatePending
	StateRunning     = app.StateRunning
	StateCompleted   = app.StateCompleted
	StateStopped     = app.StateStopped
	StateRetrying    = app.StateRetrying
	SendNow          = app.SendNow
	SendSchedule     = app.SendSchedule
	SendDraft        = app.SendDraft
	ATSafe           = app.ATSafe
	ATConfirm        = app.ATConfirm
	ATRefused        = app.ATRefused
	MaxTelegramList  = app.MaxTelegramList
	MaxViberList     = app.MaxViberList
	MaxVKList        = app.MaxVKList

	MaxMetaList = app.MaxMetaList
)

// The errors services return to the portal (errors.Is).
var (
	ErrUnknownModem     = app.ErrUnknownModem
	ErrCampaignNotFound = app.ErrCampaignNotFound
	ErrCampaignState    = app.ErrCampaignState
	ErrNoMMSModem       = app.ErrNoMMSModem
	ErrMMSNotConfigured = app.ErrMMSNotConfigured
	ErrMMSRejected      = app.ErrMMSRejected
)

// EngineCampaigns adapts the campaign engine to CampaignService.
func EngineCampaigns(e *campaign.Engine, channels map[string]campaign.Channel) CampaignService {
	return app.EngineCampaigns(e, channels)
}
