package app

import (
	"context"
	"errors"
	"strconv"
	"syscall"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/gateway/diskguard"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// ErrorText says what went wrong in a layer below the portal in the
// user's language, never as the Go error's English text: a coded reason
// anywhere in err's chain (a WhatsApp API error such as 131026, a
// campaign or consent reason) through the "reason.<code>" keys; the modem
// driver's send errors by their code; a modem's +CME ERROR by its 3GPP TS
// 27.007 §9.2 number ("errors.cme.<n>" where the catalog has it); a full
// data disk (diskguard, ENOSPC); a timeout; anything else as a general
// failure that points to the log (the caller logs err).
func (v *View) ErrorText(err error) string {
	if err == nil {
		return ""
	}
	if r, _ := message.CauseOf(err); !r.IsZero() {
		if s, ok := v.reason(r, 0); ok {
			return s
		}
	}
	var se *modem.SendError
	if errors.As(err, &se) && !se.ReasonCode.IsZero() {
		if s, ok := v.reason(se.ReasonCode, 0); ok {
			return s
		}
	}
	var ce *modem.CommandError
	switch {
	case errors.As(err, &ce) && ce.Kind == "CME":
		why := v.T("errors.cme.unknown")
		if key := "errors.cme." + strconv.Itoa(ce.Code); v.Cat.Has(v.Language, key) {
			why = v.T(key)
		}
		return v.T("errors.modem_cme", ce.Code, why)
	case errors.As(err, &ce):
		return v.T("errors.modem_refused")
	case errors.Is(err, diskguard.ErrDiskFull), errors.Is(err, syscall.ENOSPC):
		return v.T("errors.disk_full")
	case errors.Is(err, context.DeadlineExceeded):
		return v.T("errors.timeout")
	}
	return v.T("errors.other")
}
