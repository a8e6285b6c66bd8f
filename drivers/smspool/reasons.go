package smspool

import (
	"fmt"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
)

// Reason codes of the pool's message reasons (translated by the portal as
// "reason.<code>"); the modem's own codes (cms.<n>, modem.*) are wrapped.
var (
	rWentAway        = message.NewWrapCode("sms.went_away", 0)
	rSendTimeout     = message.NewCode("sms.send_timeout", 0)
	rPoolError       = message.NewCode("sms.error", 1)            // text
	rPartsResent     = message.NewWrapCode("sms.parts_resent", 1) // parts gone out
	rGaveUp          = message.NewWrapCode("sms.gave_up", 1)      // attempts
	rNotResent       = message.NewWrapCode("sms.not_resent", 0)
	rStoppedSending  = message.NewCode("sms.stopped_while_sending", 1) // SIM
	rNotDelivered    = message.NewWrapCode("sms.not_delivered", 0)
	rPartUndelivered = message.NewWrapCode("sms.part_not_delivered", 2) // part, parts
	rTPSTPermanent   = message.NewCode("tpst.permanent", 1)             // TP-ST, hex
	rTPSTStopped     = message.NewCode("tpst.stopped", 1)               // TP-ST, hex
	rInvalidTo       = message.NewCode("sms.invalid_to", 1)             // number
	rNoText          = message.NewCode("sms.no_text", 1)                // number
	rUnencodable     = message.NewCode("sms.unencodable", 1)            // the encoder's text
	rUnknownSender   = message.NewCode("sms.unknown_sender", 3)         // sender, channel, SIMs
	rWithdrawn       = message.NewCode("sms.withdrawn", 0)
	tpstCodes        = map[int]message.Code{}
)

func init() {
	// Named TP-ST values of failed reports (the generic ones say "status").
	for st := 0x40; st <= 0xFF; st++ {
		outcome, reason := gsms.StatusOutcome(byte(st))
		if outcome == gsms.Failed && !strings.Contains(reason, "(status 0x") {
			tpstCodes[st] = message.NewCode(fmt.Sprintf("tpst.%d", st), 0)
		}
	}
}

// tpstReason is gsms.StatusOutcome's reason of a failed report as a Reason.
func tpstReason(st int) message.Reason {
	if c, ok := tpstCodes[st]; ok {
		return c.R()
	}
	hex := fmt.Sprintf("0x%02X", st)
	if st < 0x60 {
		return rTPSTPermanent.R(hex)
	}
	return rTPSTStopped.R(hex)
}
