package whatsapp

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors callers branch on (errors.Is).
var (
	// ErrOutsideWindow: a free-form message to a contact whose last message
	// is older than 24 hours (or who never wrote). Send a template instead.
	ErrOutsideWindow = errors.New("contact is outside the 24-hour customer-service window: only an approved template may be sent")
	// ErrTierLimit: the messaging-limit tier (unique users outside the
	// service window per rolling 24 h) is used up. Wait until LimitError.RetryAt.
	ErrTierLimit = errors.New("WhatsApp messaging limit reached")
	// ErrChannelStopped: the channel stopped itself after an error that
	// needs the administrator (expired token, spam limit). See Health.
	ErrChannelStopped = errors.New("WhatsApp channel is stopped")
	// ErrUnknownOutcome: the request may or may not have reached Meta (a
	// timeout after the body was written). Not resent automatically.
	ErrUnknownOutcome = errors.New("WhatsApp send outcome unknown")
	// ErrTemplate: the template is unknown, not APPROVED, or its variables
	// are not all filled.
	ErrTemplate = errors.New("WhatsApp template cannot be used")
	// ErrInvalidMessage: the message is incomplete or malformed; nothing was sent.
	ErrInvalidMessage = errors.New("invalid WhatsApp message")
	// ErrRetryable: Meta refused for a passing reason (rate limits, outage)
	// and the retries are used up; a later attempt may succeed.
	ErrRetryable = errors.New("WhatsApp temporarily refused the message")
	// ErrPermanent: Meta refused the message; resending it unchanged fails again.
	ErrPermanent = errors.New("WhatsApp refused the message")
	// ErrMediaTooLarge: inbound media exceeds the configured size limit.
	ErrMediaTooLarge = errors.New("WhatsApp media is larger than the configured limit")
)

// Class says what to do after an API error.
type Class int

const (
	// Permanent: fail the message with Meta's code and text.
	Permanent Class = iota
	// Retry: back off and try again.
	Retry
	// Stop: stop the channel and alert the administrator; the message
	// fails (190) or waits (131048).
	Stop
)

func (c Class) String() string {
	switch c {
	case Retry:
		return "retry"
	case Stop:
		return "stop"
	}
	return "permanent"
}

// APIError is a Graph API error answer.
type APIError struct {
	HTTPStatus int    `json:"-"`
	Message    string `json:"message"`
	Type       string `json:"type"`
	Code       int    `json:"code"`
	Subcode    int    `json:"error_subcode,omitempty"`
	ErrorData  struct {
		Details string `json:"details"`
	} `json:"error_data"`
	FBTraceID string `json:"fbtrace_id,omitempty"`
	Transient bool   `json:"is_transient,omitempty"`
	// UserTitle and UserMsg are Meta's explanation for people (template
	// creation: which field is wrong and why).
	UserTitle string `json:"error_user_title,omitempty"`
	UserMsg   string `json:"error_user_msg,omitempty"`
	// RetryAfter is the answer's Retry-After header (seconds), if any: a
	// retry waits at least this long.
	RetryAfter time.Duration `json:"-"`
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("WhatsApp error %d: %s", e.Code, e.Message)
	if e.ErrorData.Details != "" {
		s += " (" + e.ErrorData.Details + ")"
	}
	if e.UserMsg != "" {
		s += ": " + strings.TrimSpace(e.UserTitle+" — "+e.UserMsg)
	}
	if hint := codeHints[e.Code]; hint != "" {
		s += "; " + hint
	}
	if t := e.trace(); t != "" {
		s += " [" + t + "]"
	}
	return s
}

// trace is what Meta's support asks for: the error subcode and the
// fbtrace_id of the request.
func (e *APIError) trace() string {
	var parts []string
	if e.Subcode != 0 {
		parts = append(parts, "error_subcode "+strconv.Itoa(e.Subcode))
	}
	if e.FBTraceID != "" {
		parts = append(parts, "fbtrace_id "+e.FBTraceID)
	}
	return strings.Join(parts, ", ")
}

// Is lets errors.Is(err, ErrPermanent/ErrRetryable/ErrChannelStopped) work
// on an APIError by its class.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrRetryable:
		return e.Class() == Retry
	case ErrPermanent:
		return e.Class() == Permanent
	case ErrChannelStopped:
		return e.Class() == Stop
	case ErrOutsideWindow:
		return e.Code == 131047
	case ErrTemplate:
		return e.Code >= 132000 && e.Code <= 132999
	}
	return false
}

// Class classifies the error by its code as in Meta's error reference.
func (e *APIError) Class() Class {
	return ClassifyCode(e.Code, e.HTTPStatus, e.Transient)
}

// ClassifyCode classifies a Graph API error code. Branch on the code, not on
// the HTTP status or the text; the HTTP status only matters for unknown
// codes (5xx and 429 are retried) and is_transient marks Meta's own
// passing faults.
func ClassifyCode(code, httpStatus int, transient bool) Class {
	switch code {
	case 190, 131048:
		return Stop
	case 130429, 131056, 80007, 4, 131057, 1, 2, 131000, 131016, 133004:
		return Retry
	case 131047, 131026, 131049, 131050, 100, 131008, 131009,
		132000, 132001, 132005, 132007, 132012, 132015, 132016, 368, 131031:
		return Permanent
	}
	// 429 without Meta's body (a proxy's or load balancer's) is a rate
	// limit like 130429: retried with back-off.
	if transient || httpStatus >= 500 || httpStatus == http.StatusTooManyRequests {
		return Retry
	}
	return Permanent
}

// codeHints are what the administrator can do about a code.
var codeHints = map[int]string{
	190:    "the access token is invalid or expired: create a new system-user token in Meta Business Settings and set whatsapp.token",
	131048: "Meta's spam rate limit was hit: the channel stopped; check the number's quality rating and send less before resuming",
	131047: "more than 24 hours since the customer's last message: send an approved template",
	131026: "the recipient cannot receive this message (no WhatsApp, old app or not accepted terms)",
	132000: "the number of template parameters does not match the template",
	132001: "the template does not exist in this language or is not approved: sync templates",
	132015: "the template is paused for low quality",
	132016: "the template is disabled",
	368:    "the account is restricted for policy violations: see WhatsApp Manager",
	131031: "the business account is locked: see WhatsApp Manager",
	130429: "throughput limit reached",
	131056: "too many messages to the same user in a short time",
}

// LimitError says why pbxgate holds a message back itself and when to try
// again. It wraps ErrTierLimit.
type LimitError struct {
	Reason  string
	RetryAt time.Time
	err     error
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %s; next attempt possible at %s", e.err, e.Reason, e.RetryAt.UTC().Format(time.RFC3339))
}

func (e *LimitError) Unwrap() error { return e.err }
