package campaign

import (
	"context"
	"errors"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Reason codes of campaign transitions and recipients (translated by the
// portal as "reason.<code>"); the English texts are unchanged.
var (
	rCreated        = message.NewCode("campaign.created", 0)
	rDraft          = message.NewCode("campaign.draft", 0)
	rSendNow        = message.NewCode("campaign.send_now", 0)
	rScheduledFor   = message.NewCode("campaign.scheduled_for", 3)   // date, time, zone
	rRescheduledFor = message.NewCode("campaign.rescheduled_for", 3) // date, time, zone
	rScheduledTime  = message.NewCode("campaign.scheduled_time", 1)  // when
	rScheduledLate  = message.NewCode("campaign.scheduled_late", 2)  // when, how late
	rWaiting        = message.NewWrapCode("campaign.waiting", 2)     // other campaign, channel; why it started
	rStoppedAdmin   = message.NewCode("campaign.stopped_admin", 0)
	rStoppedPortal  = message.NewCode("campaign.stopped_portal", 0)
	rRestart        = message.NewCode("campaign.restart", 0)
	rAutoResume     = message.NewCode("campaign.auto_resume", 0)
	rResumed        = message.NewCode("campaign.resumed", 0)
	rResumedClean   = message.NewCode("campaign.resumed_after_restart", 0)
	rChannelFree    = message.NewCode("campaign.channel_free", 1) // channel
	rRetry          = message.NewCode("campaign.retry", 1)        // failed recipients
	rCompleted      = message.NewCode("campaign.completed", 1)    // recipients
	rNoChannel      = message.NewCode("campaign.no_channel", 1)
	rNoPBX          = message.NewCode("campaign.no_pbx", 0)
	rNoTemplates    = message.NewCode("campaign.no_templates", 0)
	rNoDNC          = message.NewCode("campaign.no_dnc", 0)
	rTemplateErr    = message.NewCode("campaign.template_error", 3)  // template, language, error text
	rTemplateState  = message.NewCode("campaign.template_status", 3) // template, language, status
	rDNCCheck       = message.NewCode("campaign.dnc_check", 1)       // error text
	rNoTemplateSend = message.NewCode("campaign.no_template_send", 1)
	rChannelErr     = message.NewWrapCode("campaign.channel_error", 1)  // channel; the channel's reason
	rChannelText    = message.NewCode("campaign.channel_error_text", 2) // channel, error text
	rPBXSession     = message.NewCode("campaign.pbx_session", 2)        // number, error text
	rRender         = message.NewCode("campaign.render", 1)             // error text
	rInFlight       = message.NewCode("campaign.unknown_after_stop", 1) // channel
	rDNC            = message.NewCode("campaign.dnc", 1)                // list
	rBlacklist      = message.NewCode("campaign.blacklisted", 0)
	rRejected       = message.NewWrapCode("campaign.rejected", 0) // the channel's reason
)

// ReasonBlocker is optionally implemented by a Blocker that can say why in
// a translatable form (the consent store does).
type ReasonBlocker interface {
	BlockedReason(ctx context.Context, number string) (text string, r message.Reason, blocked bool)
}

// stopCode is the code of a Stop reason given as text.
func stopCode(reason string) message.Reason {
	switch strings.TrimSpace(reason) {
	case "stopped by the administrator":
		return rStoppedAdmin.R()
	case "stopped in the portal":
		return rStoppedPortal.R()
	}
	return message.Reason{}
}

// failReason is the Reason of a recipient's Send error: its own, or the
// channel's inside "message rejected by the channel: …".
func failReason(err error) message.Reason {
	if r := message.ReasonOf(err); !r.IsZero() {
		return r
	}
	if cause, text := message.CauseOf(err); !cause.IsZero() && errors.Is(err, ErrRejected) && err.Error() == ErrRejected.Error()+": "+text {
		return rRejected.Wrap(cause)
	}
	return message.Reason{}
}
