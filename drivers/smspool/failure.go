package smspool

import (
	"context"
	"errors"
	"strconv"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// Failure is what a Send error means for the message.
type Failure struct {
	// Permanent: no SIM will do better (e.g. CMS 1 "unassigned number");
	// the message fails.
	Permanent bool
	// MaybeSent: the modem took the message (or a part) but never answered.
	// It may have gone out, so it is not sent again: it becomes unknown.
	MaybeSent bool
	// ModemFault: the fault lies with the SIM or modem, so another SIM may
	// take the message at once; otherwise (network congestion) it waits
	// RetryBackoff first.
	ModemFault bool
	Reason     string
	ReasonCode message.Reason // Reason for translation
	Code       string         // "CMS 500" when the network or modem gave one
}

// Classify maps an error from Modem.Send to a Failure. A *modem.SendError
// says itself what it is; any other error (a timeout of the pool's own
// SendTimeout, a driver bug) counts as a modem problem: another SIM may
// well succeed.
func Classify(err error) Failure {
	var se *modem.SendError
	if errors.As(err, &se) {
		f := Failure{Permanent: !se.Retryable && !se.MaybeSent, MaybeSent: se.MaybeSent,
			ModemFault: se.ModemFault, Reason: se.Reason, ReasonCode: se.ReasonCode}
		if se.CMS != 0 {
			f.Code = "CMS " + strconv.Itoa(se.CMS)
		}
		if !f.MaybeSent && se.CMS == 0 && !errors.Is(err, modem.ErrNotSent) && (errors.Is(err, modem.ErrOffline) || errors.Is(err, modem.ErrClosed)) {
			// The port vanished during AT+CMGS. The driver cannot tell
			// whether that was before or after the modem took the PDU, and
			// with a real network the wait for the answer (1-4 s) is most
			// of the command: it may well have gone out. (The pool checked
			// the modem was ready just before, so "offline before anything
			// was written" is the rare case.)
			f.MaybeSent = true
			f.Reason = se.Reason + ": the modem went away during the send; the message may have gone out"
			f.ReasonCode = rWentAway.Wrap(se.ReasonCode)
		}
		return f
	}
	f := Failure{ModemFault: true, Reason: err.Error(), ReasonCode: rPoolError.R(err)}
	if errors.Is(err, context.DeadlineExceeded) {
		// The pool's SendTimeout cut the modem off mid-send.
		f.MaybeSent = true
		f.Reason = "the modem did not finish sending in time; the message may have gone out"
		f.ReasonCode = rSendTimeout.R()
	}
	return f
}
