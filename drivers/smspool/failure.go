package smspool

import (
	"context"
	"errors"
	"strconv"
)

// Failure is what a Send error means for the message.
type Failure struct {
	// Permanent: no SIM will do better (e.g. CMS 21 "short message
	// transfer rejected"); the message fails. Otherwise it moves to another
	// SIM of its channel.
	Permanent bool
	Reason    string
	Code      string // "CMS 500" when the network or modem gave one
}

// Classify maps an error from Modem.Send to a Failure. The driver's errors
// say what they are through methods, so the pool does not depend on its
// error types:
//
//	Permanent() bool  true: resending cannot help
//	CMSCode() int     the +CMS ERROR code, reported as Code
//
// Anything else — a hung or vanished modem, a deregistered SIM, a timeout
// — is a modem problem: another SIM may well succeed.
func Classify(err error) Failure {
	f := Failure{Reason: err.Error()}
	var perm interface{ Permanent() bool }
	if errors.As(err, &perm) {
		f.Permanent = perm.Permanent()
	}
	var cms interface{ CMSCode() int }
	if errors.As(err, &cms) {
		f.Code = "CMS " + strconv.Itoa(cms.CMSCode())
	}
	if errors.Is(err, context.DeadlineExceeded) && f.Code == "" {
		f.Reason = "the modem did not finish sending in time: " + f.Reason
	}
	return f
}
