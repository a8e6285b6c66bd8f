package whatsapp

import (
	"fmt"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Reason codes of the channel's errors (translated by the portal as
// "reason.<code>"). Meta's codes with a hint have their own code
// "wa.<code>" (argument: Meta's text); the others are "wa.api".
var (
	rAPI           = message.NewCode("wa.api", 2)                // Meta's code, Meta's text
	rAfterAttempts = message.NewWrapCode("wa.after_attempts", 1) // attempts
	rUnreachable   = message.NewCode("wa.unreachable", 2)        // attempts, error text
	rUnknown       = message.NewCode("wa.unknown_outcome", 1)    // error text
	waCodes        = map[int]message.Code{}
)

func init() {
	for code := range codeHints {
		waCodes[code] = message.NewCode(fmt.Sprintf("wa.%d", code), 1)
	}
}

// apiReason is the Reason of Meta's error code with Meta's text.
func apiReason(code int, text string) message.Reason {
	if c, ok := waCodes[code]; ok {
		return c.R(text)
	}
	return rAPI.R(code, text)
}

// ReasonCode makes an APIError a message.Reasoner.
func (e *APIError) ReasonCode() message.Reason {
	text := e.Message
	if e.ErrorData.Details != "" {
		text += " (" + e.ErrorData.Details + ")"
	}
	if t := e.trace(); t != "" {
		text += " [" + t + "]"
	}
	return apiReason(e.Code, text)
}

// unknownReason is the Reason of an ErrUnknownOutcome error.
func unknownReason(err error) message.Reason {
	return rUnknown.R(strings.TrimPrefix(err.Error(), ErrUnknownOutcome.Error()+": "))
}
