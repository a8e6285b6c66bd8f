package smspool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/mms"
)

// MMS on an SMS channel (docs/mms.md): a message with Outbound.Media goes
// out through modem.SendMMS, and only SIMs whose modem can send MMS take
// it. Everything else — the queue, the "sending" record stored before the
// modem sees the message, failover, caps — is the SMS path's.

// MMSModem is what a Modem implements when it may send MMS; *modem.Modem
// does. MMSCapability tells whether the modem's firmware actually can.
type MMSModem interface {
	MMSCapability(ctx context.Context) (modem.MMSSupport, error)
	MMSSettings() modem.MMSSettings
	SendMMS(ctx context.Context, to, subject, text string, file mms.Fitted) (modem.MMSResult, error)
}

// Reason codes of MMS sends (translated as "reason.<code>").
var (
	rMMSRejected   = message.NewCode("mms.mmsc_rejected", 1) // the modem's result line
	rMMSNoResult   = message.NewCode("mms.no_result", 0)
	rMMSNotCapable = message.NewCode("mms.not_capable", 2)  // SIM, modem's reason
	rMMSTooLarge   = message.NewCode("mms.too_large", 1)    // the error's text
	rMMSFileGone   = message.NewCode("mms.file_missing", 1) // file name
	rMMSError      = message.NewCode("mms.error", 1)        // text
)

// mmsProbeEvery bounds how often a worker asks a modem whose answer was a
// timeout (not a "no") again.
const mmsProbeEvery = 30 * time.Second

// mmsCap is what the pool knows of a SIM's MMS capability.
type mmsCap struct {
	known  bool
	send   bool
	reason string
	limit  int // the SIM's carrier limit in bytes (0: not set)
	tried  time.Time
}

// probeMMS learns once per attached modem whether it can send MMS and
// reports whether that is known now. It runs in the SIM's worker, outside
// p.mu (it may send a test command).
func (p *Pool) probeMMS(ctx context.Context, s *sim, m Modem) bool {
	mm, ok := m.(MMSModem)
	p.mu.Lock()
	c := s.mms
	p.mu.Unlock()
	if c.known {
		return true
	}
	if time.Since(c.tried) < mmsProbeEvery && !c.tried.IsZero() {
		return false
	}
	if !ok {
		p.mu.Lock()
		s.mms = mmsCap{known: true, reason: "this modem has no MMS support in pbxgate"}
		p.mu.Unlock()
		return true
	}
	if !m.Ready() {
		return false
	}
	sup, err := mm.MMSCapability(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.modem != m {
		return true // replaced meanwhile: its new worker asks
	}
	if err != nil {
		s.mms.tried = time.Now()
		return false
	}
	s.mms = mmsCap{known: true, send: sup.Send, reason: sup.Reason, limit: mm.MMSSettings().MaxSize}
	if sup.Send {
		p.broadcastLocked() // MMS waiting for a capable SIM may go now
	}
	return true
}

// noMMSLocked: SIM n is known not to send MMS (its modem said so, or it
// has no MMS driver). A SIM not yet probed is not counted out.
func (p *Pool) noMMSLocked(n string) bool {
	s := p.sims[n]
	return s != nil && s.mms.known && !s.mms.send
}

// mmsEligibleLocked: an MMS goes only to a SIM whose modem can send MMS.
func (p *Pool) mmsEligibleLocked(s *sim, it *item) bool {
	return !it.mms || (s.mms.known && s.mms.send)
}

// validateMMS checks an MMS message (Enqueue).
func (p *Pool) validateMMS(msg *message.Outbound) error {
	md := msg.Media
	if md.Path == "" || md.ContentType == "" {
		return fmt.Errorf("%w: the MMS to %s names no stored file", ErrInvalid, msg.To)
	}
	if _, err := os.Stat(md.Path); err != nil {
		return message.WithReason(fmt.Errorf("%w: the MMS file %s is gone: %w", ErrInvalid, md.Name, err), rMMSFileGone.R(md.Name))
	}
	return nil
}

// transmit sends the record's message: an SMS through Send, an MMS through
// SendMMS. MMS errors come back as *modem.SendError so Classify reads them
// like every other send error.
func (p *Pool) transmit(ctx context.Context, m Modem, r *record) (modem.SendResult, error) {
	md := r.Msg.Media
	if md == nil {
		return m.Send(ctx, r.Msg.To, r.Msg.Text, r.Msg.DeliveryReport)
	}
	mm, ok := m.(MMSModem)
	if !ok {
		return modem.SendResult{}, &modem.SendError{Reason: "this modem cannot send MMS", ReasonCode: rMMSNotCapable.R(r.SIM, "no MMS driver"),
			Retryable: true, ModemFault: true, Err: modem.ErrNoMMS}
	}
	data, err := os.ReadFile(md.Path)
	if err != nil {
		return modem.SendResult{}, &modem.SendError{Reason: fmt.Sprintf("the MMS file %s cannot be read: %v", md.Name, err),
			ReasonCode: rMMSFileGone.R(md.Name), Err: err}
	}
	_, err = mm.SendMMS(ctx, r.Msg.To, "", r.Msg.Text, mms.Fitted{Data: data, Name: md.Name, ContentType: md.ContentType, OriginalSize: md.Size})
	if err == nil {
		return modem.SendResult{}, nil
	}
	return modem.SendResult{}, mmsSendError(r.SIM, err)
}

// mmsSendError says what an error of SendMMS means for the message.
func mmsSendError(simName string, err error) error {
	var se *modem.SendError
	if errors.As(err, &se) {
		return err
	}
	text := err.Error()
	e := &modem.SendError{Reason: "MMS not sent: " + text, ReasonCode: rMMSError.R(text), Retryable: true, ModemFault: true, Err: err}
	switch {
	case errors.Is(err, modem.ErrMMSCRejected):
		// The carrier's answer: another SIM of the same carrier gets the
		// same. The result line is the modem's (e.g. "+QMMSEND: 0,503").
		line := text
		if i := strings.LastIndex(text, "("); i >= 0 {
			line = strings.TrimSuffix(text[i+1:], ")")
		}
		e.Reason = "the carrier's MMSC refused the MMS: " + line
		e.ReasonCode = rMMSRejected.R(line)
		e.Retryable, e.ModemFault = false, false
	case errors.Is(err, modem.ErrMMSNoResult):
		e.Reason = "the modem gave no MMS send result in time; the MMS may have gone out"
		e.ReasonCode = rMMSNoResult.R()
		e.MaybeSent = true
	case errors.Is(err, mms.ErrCannotFit):
		e.Reason = "MMS not sent: " + text
		e.ReasonCode = rMMSTooLarge.R(text)
		e.Retryable, e.ModemFault = false, false
	case errors.Is(err, modem.ErrNoMMS), errors.Is(err, modem.ErrMMSNotSet):
		e.Reason = fmt.Sprintf("SIM %s cannot send MMS: %s", simName, text)
		e.ReasonCode = rMMSNotCapable.R(simName, text)
	}
	return e
}

// MMSSupport is what a channel can do with MMS: the SIMs whose modem can
// send them, the smallest carrier limit among them (0 when none is set),
// and why the others cannot.
type MMSSupport struct {
	SIMs    []string
	Limit   int
	Refused map[string]string // SIM -> reason
}

// MMSSupport probes the channel's attached SIMs (each modem answers once)
// and tells which can send MMS.
func (c *SMSChannel) MMSSupport(ctx context.Context) MMSSupport {
	type cand struct {
		name string
		m    Modem
	}
	p := c.p
	p.mu.Lock()
	var cands []cand
	out := MMSSupport{Refused: map[string]string{}}
	for _, n := range c.ch.sims {
		s := p.sims[n]
		if s == nil || s.modem == nil {
			out.Refused[n] = "not attached"
			continue
		}
		cands = append(cands, cand{n, s.modem})
	}
	p.mu.Unlock()
	for _, cd := range cands {
		p.probeMMS(ctx, p.simNamed(cd.name), cd.m)
		p.mu.Lock()
		mc := p.sims[cd.name].mms
		p.mu.Unlock()
		switch {
		case mc.known && mc.send:
			out.SIMs = append(out.SIMs, cd.name)
			if mc.limit > 0 && (out.Limit == 0 || mc.limit < out.Limit) {
				out.Limit = mc.limit
			}
		case mc.known:
			out.Refused[cd.name] = mc.reason
		default:
			out.Refused[cd.name] = "not answering"
		}
	}
	slices.Sort(out.SIMs)
	return out
}

func (p *Pool) simNamed(n string) *sim {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sims[n]
}

// MMSSIMs is gateway/campaign's MMSCapable: the capable SIMs, their
// smallest limit, and why the others cannot ("gsm2: …; gsm3: …").
func (c *SMSChannel) MMSSIMs(ctx context.Context) ([]string, int, string) {
	s := c.MMSSupport(ctx)
	names := make([]string, 0, len(s.Refused))
	for n := range s.Refused {
		names = append(names, n)
	}
	slices.Sort(names)
	why := make([]string, len(names))
	for i, n := range names {
		why[i] = n + ": " + s.Refused[n]
	}
	return s.SIMs, s.Limit, strings.Join(why, "; ")
}
