package modem

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/warthog618/modem/at"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Errors callers branch on. Open, Connect and Run return them wrapped with
// the modem's name and what the administrator can do.
var (
	// ErrPINRequired: the SIM asks for a PIN and none is configured.
	ErrPINRequired = errors.New("SIM PIN required")
	// ErrWrongPIN: the SIM rejected the configured PIN. It is never tried
	// again by this Modem, so a wrong PIN cannot burn the remaining tries
	// and lock the SIM into PUK.
	ErrWrongPIN = errors.New("SIM rejected the PIN")
	// ErrPUKLocked: the SIM needs its PUK (too many wrong PINs).
	ErrPUKLocked = errors.New("SIM is PUK-locked")
	// ErrNoSIM: no SIM inserted or the SIM failed.
	ErrNoSIM = errors.New("no SIM card")
	// ErrNotRegistered: the modem did not register on a network in time.
	ErrNotRegistered = errors.New("not registered on a network")
	// ErrTimeout: the modem did not answer a command in time.
	ErrTimeout = errors.New("modem did not answer")
	// ErrOffline: the port is closed or gone (unplugged, rebooting).
	ErrOffline = errors.New("modem offline")
	// ErrNotReady: the modem is connected but not able to send now
	// (registering, recovering from a hang).
	ErrNotReady = errors.New("modem not ready")
	// ErrWrongModem: the port answers with another IMEI than configured.
	ErrWrongModem = errors.New("another modem is on this port")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("modem closed")
	// ErrUSSD: the network answered a USSD request with an error.
	ErrUSSD = errors.New("USSD failed")
	// ErrNotSent: a send stopped before the modem had the message (no "> "
	// prompt, the PDU could not be written, the port went away before it
	// was): it certainly did not go out, and another SIM may send it at
	// once. A SendError wrapping it never has MaybeSent.
	ErrNotSent = errors.New("message not handed to the modem")
)

// permanent reports whether err needs the administrator (Run stops retrying).
func permanent(err error) bool {
	return errors.Is(err, ErrWrongPIN) || errors.Is(err, ErrPUKLocked) || errors.Is(err, ErrPINRequired)
}

// CommandError is an error result of an AT command: +CME ERROR or plain
// ERROR (Kind ""). Code is -1 when the modem answered in text.
type CommandError struct {
	Command string
	Kind    string // "CME" or ""
	Code    int
	Text    string
}

func (e *CommandError) Error() string {
	if e.Kind == "CME" {
		return fmt.Sprintf("AT%s: +CME ERROR: %s", e.Command, e.Text)
	}
	return fmt.Sprintf("AT%s: ERROR", e.Command)
}

// CMSError is a +CMS ERROR answer (SMS commands). Code is -1 when the modem
// answered in text.
type CMSError struct {
	Command string
	Code    int
	Text    string
}

func (e *CMSError) Error() string {
	reason, _, _ := CMSReason(e.Code)
	return fmt.Sprintf("AT%s: +CMS ERROR: %s (%s)", e.Command, e.Text, reason)
}

// CMSCode is the +CMS ERROR code.
func (e *CMSError) CMSCode() int { return e.Code }

// commandErr translates the at package's errors.
func commandErr(cmd string, err error) error {
	if err == nil {
		return nil
	}
	var cme at.CMEError
	var cms at.CMSError
	switch {
	case errors.Is(err, at.ErrDeadlineExceeded):
		return fmt.Errorf("AT%s: %w", cmd, ErrTimeout)
	case errors.Is(err, at.ErrClosed):
		return fmt.Errorf("AT%s: %w", cmd, ErrOffline)
	case errors.Is(err, at.ErrError):
		return &CommandError{Command: cmd, Code: -1}
	case errors.As(err, &cme):
		return &CommandError{Command: cmd, Kind: "CME", Code: atoiOr(string(cme), -1), Text: string(cme)}
	case errors.As(err, &cms):
		return &CMSError{Command: cmd, Code: atoiOr(string(cms), -1), Text: string(cms)}
	}
	return fmt.Errorf("AT%s: %w", cmd, err)
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

// cmeCode returns the +CME ERROR code of err, or -1.
func cmeCode(err error) int {
	var ce *CommandError
	if errors.As(err, &ce) && ce.Kind == "CME" {
		return ce.Code
	}
	return -1
}

// cmsCode returns the +CMS ERROR code of err, or -1.
func cmsCode(err error) int {
	var ce *CMSError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// SendError is why a message (or one of its parts) was not sent.
type SendError struct {
	// CMS is the +CMS ERROR code, 0 when the failure was not a CMS error.
	CMS    int
	Reason string // for the administrator
	// ReasonCode is Reason for translation; zero when there is none.
	ReasonCode message.Reason
	// Retryable: a later attempt may succeed (congestion, network trouble,
	// a modem problem). Permanent errors (unknown number, barred, bad
	// message) fail the same way every time.
	Retryable bool
	// ModemFault: the failure lies with this modem or SIM (no network, SIM
	// trouble, offline, hung), so another SIM of the channel may send it
	// at once.
	ModemFault bool
	// MaybeSent: the modem took the part but never answered; the message
	// may have gone out. Resending risks a duplicate.
	MaybeSent bool
	Err       error // underlying error
}

func (e *SendError) Error() string {
	if e.CMS != 0 {
		return fmt.Sprintf("SMS not sent: +CMS ERROR %d: %s", e.CMS, e.Reason)
	}
	return "SMS not sent: " + e.Reason
}

func (e *SendError) Unwrap() error { return e.Err }

// Permanent reports that resending (on any SIM) cannot help.
func (e *SendError) Permanent() bool { return !e.Retryable }

// Uncertain reports that the modem may have sent the message although it
// did not confirm it (MaybeSent).
func (e *SendError) Uncertain() bool { return e.MaybeSent }

// cmsInfo describes one +CMS ERROR code.
type cmsInfo struct {
	reason     string
	retryable  bool
	modemFault bool
}

// CMSReason explains a +CMS ERROR code (3GPP TS 27.005 §3.2.5, network
// causes of TS 24.011 §8.2.5.4 and TP-FCS values of TS 23.040 §9.2.3.22)
// and classifies it.
func CMSReason(code int) (reason string, retryable, modemFault bool) {
	if i, ok := cmsTable(code); ok {
		return i.reason, i.retryable, i.modemFault
	}
	switch {
	case code >= 0 && code <= 127:
		return fmt.Sprintf("network rejected the message (cause %d)", code), true, false
	case code >= 128 && code <= 255:
		return fmt.Sprintf("service centre rejected the message (TP-FCS 0x%02X)", code), false, false
	case code >= 512:
		return fmt.Sprintf("modem-specific error %d", code), true, true
	}
	return fmt.Sprintf("error %d", code), true, true
}

func cmsTable(code int) (cmsInfo, bool) {
	perm := func(r string) (cmsInfo, bool) { return cmsInfo{reason: r}, true }
	temp := func(r string) (cmsInfo, bool) { return cmsInfo{reason: r, retryable: true}, true }
	modem := func(r string) (cmsInfo, bool) { return cmsInfo{reason: r, retryable: true, modemFault: true}, true }
	switch code {
	// TS 24.011 RP causes, as relayed by the network.
	case 1:
		return perm("unassigned (unallocated) number: check the recipient's number")
	case 8:
		return modem("operator determined barring: this SIM may not send SMS (check the contract or credit)")
	case 10:
		return modem("call barred: outgoing SMS are barred on this SIM")
	case 21:
		return perm("short message transfer rejected by the network")
	case 27:
		return temp("destination out of service")
	case 28:
		return perm("unidentified subscriber: the recipient's number is unknown")
	case 29:
		return modem("facility rejected by the network")
	case 30:
		return perm("unknown subscriber: the recipient's number does not exist")
	case 38:
		return modem("network out of order")
	case 41:
		return temp("temporary network failure")
	case 42:
		return temp("network congestion")
	case 47:
		return temp("network resources unavailable")
	case 50:
		return modem("SMS not subscribed on this SIM")
	case 69:
		return modem("requested facility not implemented by the network")
	case 81:
		return temp("invalid short message transfer reference")
	case 95:
		return perm("invalid message (semantically incorrect)")
	case 96:
		return perm("invalid mandatory information in the message")
	case 97:
		return perm("message type not implemented by the network")
	case 98:
		return temp("message not compatible with the protocol state")
	case 99:
		return perm("information element not implemented by the network")
	case 111:
		return temp("protocol error")
	case 127:
		return temp("interworking error")
	// TP-FCS values from the service centre.
	case 0x80:
		return perm("telematic interworking not supported")
	case 0x8F:
		return perm("TP-PID error")
	case 0x90:
		return perm("data coding scheme not supported")
	case 0xC0:
		return temp("service centre busy")
	case 0xC1:
		return modem("no subscription at the service centre for this SIM")
	case 0xC2:
		return temp("service centre system failure")
	case 0xC3:
		return perm("invalid recipient address")
	case 0xC4:
		return perm("recipient barred")
	case 0xC5:
		return perm("rejected as duplicate of an earlier message")
	case 0xD0:
		return modem("SIM SMS storage full")
	case 0xD3:
		return modem("memory capacity exceeded")
	case 0xFF:
		return temp("unspecified service centre error")
	// TS 27.005 §3.2.5 ME/network errors.
	case 300:
		return modem("modem failure")
	case 301:
		return modem("SMS service of the modem is reserved")
	case 302:
		return modem("operation not allowed (modem not ready for SMS)")
	case 303:
		return modem("operation not supported by the modem")
	case 304:
		return perm("invalid PDU (message could not be encoded for this modem)")
	case 305:
		return perm("invalid text mode parameter")
	case 310:
		return modem("SIM not inserted")
	case 311:
		return modem("SIM PIN required")
	case 312:
		return modem("PH-SIM PIN required")
	case 313:
		return modem("SIM failure")
	case 314:
		return modem("SIM busy")
	case 315:
		return modem("SIM wrong")
	case 316:
		return modem("SIM PUK required")
	case 317, 318:
		return modem("SIM PIN2/PUK2 required")
	case 320:
		return modem("modem memory failure")
	case 321:
		return perm("invalid memory index")
	case 322:
		return modem("modem memory full")
	case 330:
		return modem("SMS service centre address unknown: set it on the SIM (AT+CSCA)")
	case 331:
		return modem("no network service")
	case 332:
		return modem("network timeout")
	case 340:
		return perm("no +CNMA acknowledgement expected")
	case 500:
		return modem("unknown modem error")
	}
	return cmsInfo{}, false
}

// sendErr turns a failed AT+CMGS into a *SendError.
func sendErr(err error) *SendError {
	if code := cmsCode(err); code >= 0 {
		reason, retry, fault := CMSReason(code)
		return &SendError{CMS: code, Reason: reason, ReasonCode: CMSReasonCode(code), Retryable: retry, ModemFault: fault, Err: err}
	}
	switch {
	case errors.Is(err, ErrNotSent) && errors.Is(err, ErrTimeout):
		return &SendError{Reason: "the modem did not ask for the message (no \"> \" prompt); it was not sent", ReasonCode: rNoPrompt.R(), Retryable: true, ModemFault: true, Err: err}
	case errors.Is(err, ErrTimeout):
		return &SendError{Reason: "the modem did not answer; the message may have been sent", ReasonCode: rNoAnswer.R(), Retryable: false, ModemFault: true, MaybeSent: true, Err: err}
	case errors.Is(err, ErrOffline), errors.Is(err, ErrNotReady), errors.Is(err, ErrClosed):
		code := rOffline.R()
		if errors.Is(err, ErrNotReady) {
			code = rNotReady.R()
		} else if errors.Is(err, ErrClosed) {
			code = rClosed.R()
		}
		return &SendError{Reason: err.Error(), ReasonCode: code, Retryable: true, ModemFault: true, Err: err}
	}
	if cme := cmeCode(err); cme >= 0 {
		return &SendError{Reason: fmt.Sprintf("modem error (CME %d)", cme), ReasonCode: rCME.R(cme), Retryable: true, ModemFault: true, Err: err}
	}
	return &SendError{Reason: err.Error(), ReasonCode: rModemError.R(err), Retryable: true, ModemFault: true, Err: err}
}
