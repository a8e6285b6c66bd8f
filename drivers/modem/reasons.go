package modem

import (
	"fmt"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Reason codes of SendError.Reason (translated by the portal as
// "reason.<code>"). Every +CMS ERROR code of cmsTable has its own code
// "cms.<n>"; the others fall into the ranges below.
var (
	rCMSNetwork = message.NewCode("cms.network", 1)        // cause
	rCMSSMSC    = message.NewCode("cms.smsc", 1)           // TP-FCS, hex
	rCMSModem   = message.NewCode("cms.modem_specific", 1) // code
	rCMSOther   = message.NewCode("cms.other", 1)          // code
	rNoAnswer   = message.NewCode("modem.no_answer", 0)
	rNoPrompt   = message.NewCode("modem.no_prompt", 0)
	rOffline    = message.NewCode("modem.offline", 0)
	rNotReady   = message.NewCode("modem.not_ready", 0)
	rClosed     = message.NewCode("modem.closed", 0)
	rCME        = message.NewCode("modem.cme", 1)       // code
	rModemError = message.NewCode("modem.error", 1)     // the driver's text
	rEncode     = message.NewCode("modem.encode", 1)    // the encoder's text
	rCancelled  = message.NewCode("modem.cancelled", 1) // part
	rPart       = message.NewWrapCode("modem.part", 2)  // part, parts; the part's reason
	cmsCodes    = map[int]message.Code{}
)

func init() {
	for code := range 1024 {
		if _, ok := cmsTable(code); ok {
			cmsCodes[code] = message.NewCode(fmt.Sprintf("cms.%d", code), 0)
		}
	}
}

// CMSReasonCode is CMSReason's text as a Reason.
func CMSReasonCode(code int) message.Reason {
	if c, ok := cmsCodes[code]; ok {
		return c.R()
	}
	switch {
	case code >= 0 && code <= 127:
		return rCMSNetwork.R(code)
	case code >= 128 && code <= 255:
		return rCMSSMSC.R(fmt.Sprintf("0x%02X", code))
	case code >= 512:
		return rCMSModem.R(code)
	}
	return rCMSOther.R(code)
}
