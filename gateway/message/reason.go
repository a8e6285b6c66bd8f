package message

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Reason is the machine-readable form of a reason text (why a number was
// rejected, a recipient excluded, an SMS failed, a campaign stopped): a
// registered code, its arguments and, for reasons that wrap another one,
// that cause. The English text stays where it always was (API, CSV export,
// logs); the portal translates the Reason with the catalog key
// "reason.<Code>", Args as {0}, {1}, … and the translated Cause as the
// placeholder after the last argument. A zero Reason (records stored before
// codes existed, errors nobody coded) means: show the English text.
type Reason struct {
	Code  string   `json:"code"`
	Args  []string `json:"args,omitempty"`
	Cause *Reason  `json:"cause,omitempty"`
}

// IsZero reports whether r carries no code.
func (r Reason) IsZero() bool { return r.Code == "" }

// Code is a registered reason code. Codes are only made by NewCode and
// NewWrapCode at package level, so Codes lists every code a package can
// produce once it is linked in (a test checks each has a translation).
type Code struct {
	name  string
	args  int
	cause bool
}

// CodeInfo describes a registered code: its name, how many arguments it
// takes and whether it wraps a cause.
type CodeInfo struct {
	Name  string
	Args  int
	Cause bool
}

var (
	regMu    sync.Mutex
	registry = map[string]CodeInfo{}
)

func register(name string, args int, cause bool) Code {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("message: reason code " + name + " registered twice")
	}
	registry[name] = CodeInfo{Name: name, Args: args, Cause: cause}
	return Code{name: name, args: args, cause: cause}
}

// NewCode registers a reason code with args arguments.
func NewCode(name string, args int) Code { return register(name, args, false) }

// NewWrapCode registers a reason code with args arguments that wraps
// another reason (its translation is the placeholder {args}).
func NewWrapCode(name string, args int) Code { return register(name, args, true) }

// Codes returns every registered code, sorted by name.
func Codes() []CodeInfo {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]CodeInfo, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b CodeInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Name is the code's name ("number.too_short").
func (c Code) Name() string { return c.name }

// R is the Reason with args. Arguments beyond the code's count are
// dropped, missing ones are empty, so a slip never shows a raw "{1}".
func (c Code) R(args ...any) Reason {
	if c.name == "" || c.cause {
		return Reason{} // a wrapping code without its cause: show the English text
	}
	return Reason{Code: c.name, Args: strArgs(c.args, args)}
}

// Wrap is the Reason with args around cause. Without a coded cause the
// whole reason cannot be translated, so the result is zero (the English
// text is shown).
func (c Code) Wrap(cause Reason, args ...any) Reason {
	if c.name == "" || !c.cause || cause.IsZero() {
		return Reason{}
	}
	return Reason{Code: c.name, Args: strArgs(c.args, args), Cause: &cause}
}

func strArgs(n int, args []any) []string {
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range min(n, len(args)) {
		out[i] = fmt.Sprint(args[i])
	}
	return out
}

// ReasonError gives err a Reason. Error and Unwrap are err's, so the
// English text and errors.Is are unchanged.
type ReasonError struct {
	Reason Reason
	Err    error
}

func (e *ReasonError) Error() string { return e.Err.Error() }
func (e *ReasonError) Unwrap() error { return e.Err }

// WithReason returns err carrying r (err itself when r is zero or err nil).
func WithReason(err error, r Reason) error {
	if err == nil || r.IsZero() {
		return err
	}
	return &ReasonError{Reason: r, Err: err}
}

// Reasoner is an error that knows its Reason (ReasonError, or a driver's
// own error type such as the WhatsApp API error).
type Reasoner interface {
	error
	ReasonCode() Reason
}

// ReasonCode is e's Reason.
func (e *ReasonError) ReasonCode() Reason { return e.Reason }

// ReasonOf returns the Reason err carries, zero if none. A Reason only
// counts when nothing was added to its text on the way up: if a caller
// wrapped it as "channel sms1: …", the code alone would drop "channel
// sms1", so that caller has to code its own wrapping (see Code.Wrap and
// CauseOf).
func ReasonOf(err error) Reason {
	var re Reasoner
	if err != nil && errors.As(err, &re) && re.Error() == err.Error() {
		return re.ReasonCode()
	}
	return Reason{}
}

// CauseOf returns the Reason carried anywhere in err's chain with the text
// it belongs to, ignoring text added around it; for callers that code their
// own wrapping.
func CauseOf(err error) (Reason, string) {
	var re Reasoner
	if err != nil && errors.As(err, &re) {
		return re.ReasonCode(), re.Error()
	}
	return Reason{}, ""
}
