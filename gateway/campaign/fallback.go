package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Fallback from WhatsApp to SMS (seed 003: reaching customers over the
// channel that works): a WhatsApp campaign may name an SMS channel and a
// text. A recipient who is not on WhatsApp or whose template is
// undeliverable (Meta's 131026), or who has not received the template
// within After minutes, gets the SMS instead, once.
//
// Why once, even across a crash: the fallback of a recipient is stored
// "sending" with its own message ID (the WhatsApp message ID + ".sms")
// before the SMS channel gets it; the SMS channel is idempotent by ID (the
// Channel contract), so handing the same ID over again after a restart
// sends nothing twice. A recipient with a stored fallback is never chosen
// again. Its SMS's status events update the fallback, not the recipient's
// WhatsApp status, so the results show which channel reached whom.

// Fallback is Spec.Fallback.
type Fallback struct {
	Channel string `json:"channel"` // an SMS channel
	Sender  string `json:"sender,omitempty"`
	Text    string `json:"text"`
	// After is how many minutes after the template was sent an
	// undelivered recipient gets the SMS; 0: only on failure.
	After int `json:"after_minutes,omitempty"`
}

// FallbackState is a recipient's SMS fallback.
type FallbackState struct {
	Status RecipientStatus `json:"status"` // sending, sent, delivered, failed, unknown
	MsgID  string          `json:"msg_id"`
	Why    string          `json:"why"` // "undeliverable" or "timeout"
	Reason string          `json:"reason,omitempty"`
	// ReasonCode is Reason for translation.
	ReasonCode message.Reason `json:"reason_code,omitzero"`
	At         time.Time      `json:"at"`
	DoneAt     time.Time      `json:"done_at,omitzero"`
	Sender     string         `json:"sender,omitempty"`
}

// FallbackCodes are the WhatsApp error codes that send the SMS at once:
// 131026 (undeliverable: no WhatsApp, old app, terms not accepted) and the
// on-premises API's 1013 (user is not a WhatsApp user).
var FallbackCodes = []string{"131026", "1013"}

const fallbackSuffix = ".sms"

var (
	rFallbackNoChannel = message.NewCode("campaign.fallback_no_channel", 1) // channel
	rFallbackSend      = message.NewCode("campaign.fallback_send", 1)       // error
)

// ReachedBy names the channel kind(s) that reached r: "whatsapp", "sms",
// "whatsapp+sms" (the template arrived after the SMS went), or "" when
// none did (yet).
func (r Recipient) ReachedBy(c Campaign) string {
	wa := r.Status == RDelivered
	viaSMS := r.Fallback != nil && (r.Fallback.Status == RSent || r.Fallback.Status == RDelivered)
	kind := string(message.WhatsApp)
	if c.Spec.Content.WhatsApp == nil {
		kind = string(message.SMS)
	}
	switch {
	case wa && viaSMS:
		return kind + "+sms"
	case wa || (r.Status == RSent && !viaSMS && c.Spec.Fallback == nil):
		return kind
	case viaSMS:
		return "sms"
	}
	return ""
}

// checkFallback validates spec.Fallback.
func (e *Engine) checkFallback(spec *Spec) error {
	f := spec.Fallback
	if f == nil {
		return nil
	}
	if spec.Content.WhatsApp == nil {
		return fmt.Errorf("%w: an SMS fallback is for WhatsApp campaigns", ErrInvalid)
	}
	ch := e.cfg.Channels[f.Channel]
	if ch == nil || ch.Kind() != message.SMS {
		return fmt.Errorf("%w: fallback channel %q is not an SMS channel", ErrInvalid, f.Channel)
	}
	if sl, ok := ch.(SenderLister); ok && f.Sender != "" && !slices.Contains(sl.Senders(), f.Sender) {
		return fmt.Errorf("%w: fallback sender %q does not belong to channel %q", ErrInvalid, f.Sender, f.Channel)
	}
	if strings.TrimSpace(f.Text) == "" {
		return fmt.Errorf("%w: the SMS fallback needs a text", ErrInvalid)
	}
	txt := f.Text
	if spec.ShortenLinks && e.cfg.Links != nil {
		txt = linkRE.ReplaceAllLiteralString(txt, e.cfg.Links.Sample())
	}
	if _, err := sms.PlanText(txt); err != nil {
		return fmt.Errorf("%w: SMS fallback: %w", ErrInvalid, err)
	}
	if f.After < 0 || f.After > 7*24*60 {
		return fmt.Errorf("%w: the fallback wait must be 0 to %d minutes", ErrInvalid, 7*24*60)
	}
	return nil
}

// fallbackDue reports whether r needs its SMS now, and why; next is when
// it will if it does not yet (zero: never by time).
func fallbackDue(c *Campaign, r *Recipient, now time.Time) (why string, next time.Time) {
	f := c.Spec.Fallback
	if f == nil || r.Fallback != nil {
		return "", time.Time{}
	}
	switch r.Status {
	case RFailed:
		if slices.Contains(FallbackCodes, r.Code) || slices.ContainsFunc(FallbackCodes, func(code string) bool {
			// A synchronous refusal keeps only the text: "WhatsApp error
			// 131026: …" (drivers/whatsapp APIError).
			return strings.Contains(r.Reason, "("+code+")") || strings.Contains(r.Reason, "code "+code) || strings.Contains(r.Reason, "error "+code+":")
		}) {
			return "undeliverable", time.Time{}
		}
	case RSent:
		if f.After > 0 && !r.SentAt.IsZero() {
			due := r.SentAt.Add(time.Duration(f.After) * time.Minute)
			if !due.After(now) {
				return "timeout", time.Time{}
			}
			return "", due
		}
	}
	return "", time.Time{}
}

// fallbackActive: campaigns whose recipients may still need their SMS
// (not drafts, and not stopped: a stopped campaign sends nothing).
func fallbackActive(c *Campaign) bool {
	return c.Spec.Fallback != nil && (sending(c.State) || c.State == Completed)
}

// runFallbacks sends the SMS fallbacks until ctx ends: at a campaign's
// change (a status event; at most once per fallbackGap, which bounds the
// scans of a big campaign's recipients while its reports pour in) and when
// its next wait runs out.
func (e *Engine) runFallbacks(ctx context.Context) {
	type scan struct {
		ver  *Campaign // version last scanned: every change publishes a new one
		due  time.Time // when a recipient's wait runs out (engine clock)
		last time.Time // when it was scanned (wall clock, for fallbackGap)
	}
	scans := map[string]*scan{}
	// timer fires at timerAt; it is made again only when the wake-up moves
	// (a status event would otherwise add a timer each time).
	var timer <-chan time.Time
	var timerAt time.Time
	for {
		changed := e.Changes()
		now := e.clock.Now()
		var wake time.Time     // engine clock
		var soon time.Duration // wall clock, for throttled changes
		e.mu.RLock()
		var ids []string
		for id, c := range e.camps {
			if fallbackActive(c) {
				ids = append(ids, id)
			}
		}
		e.mu.RUnlock()
		slices.Sort(ids)
		for id := range scans {
			if _, ok := slices.BinarySearch(ids, id); !ok {
				delete(scans, id) // deleted, stopped or no longer concerned
			}
		}
		for _, id := range ids {
			c := e.current(id)
			if c == nil {
				continue
			}
			sc := scans[id]
			if sc == nil {
				sc = &scan{}
				scans[id] = sc
			}
			due := !sc.due.IsZero() && !sc.due.After(now)
			switch {
			case sc.ver == c && !due:
			case !due && time.Since(sc.last) < fallbackGap:
				if w := fallbackGap - time.Since(sc.last); soon == 0 || w < soon {
					soon = w
				}
			default:
				sc.ver, sc.last = c, time.Now()
				n, err := e.sendFallbacks(ctx, id)
				if err != nil && ctx.Err() == nil {
					e.log.Warn("SMS fallback", "campaign", c.Spec.Name, "err", err)
					sc.ver = nil
					n = now.Add(fallbackRetry) // try again then (or at the next change)
				}
				sc.due = n
			}
			if !sc.due.IsZero() && (wake.IsZero() || sc.due.Before(wake)) {
				wake = sc.due
			}
		}
		var throttle <-chan time.Time
		if !wake.Equal(timerAt) {
			timer, timerAt = nil, wake
			if !wake.IsZero() {
				timer = e.clock.After(wake.Sub(e.clock.Now()))
			}
		}
		if soon > 0 {
			throttle = time.After(soon)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-timer:
			timer, timerAt = nil, time.Time{}
		case <-throttle:
		}
	}
}

// fallbackGap is the least time between two scans of one campaign for its
// fallbacks (wall clock).
const fallbackGap = time.Second

// fallbackRetry is how soon a fallback the SMS channel refused is tried
// again.
const fallbackRetry = 30 * time.Second

// sendFallbacks sends the SMS of every recipient of campaign id that needs
// one and returns when the next one will (zero: none by time).
func (e *Engine) sendFallbacks(ctx context.Context, id string) (time.Time, error) {
	c := e.current(id)
	if c == nil || !fallbackActive(c) {
		return time.Time{}, nil
	}
	all, err := e.allRecipients(id)
	if err != nil {
		return time.Time{}, err
	}
	now := e.clock.Now()
	var next time.Time
	var due []int
	whyOf := map[int]string{}
	var resend []Recipient // stored "sending" by an earlier run
	for i := range all {
		r := &all[i]
		if r.Fallback != nil && r.Fallback.Status == RSending {
			resend = append(resend, *r)
			continue
		}
		why, n := fallbackDue(c, r, now)
		if why != "" {
			due = append(due, r.Seq)
			whyOf[r.Seq] = why
		} else if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	if len(due) == 0 && len(resend) == 0 {
		return next, nil
	}
	ch := e.cfg.Channels[c.Spec.Fallback.Channel]
	if ch == nil || ch.Kind() != message.SMS {
		return next, message.WithReason(fmt.Errorf("fallback channel %q is not configured", c.Spec.Fallback.Channel), rFallbackNoChannel.R(c.Spec.Fallback.Channel))
	}
	at := now.UTC()
	marked, err := e.applyRecipients(id, false, due, func(cur *Campaign, r *Recipient) bool {
		if !fallbackActive(cur) {
			return false
		}
		why, _ := fallbackDue(cur, r, now)
		if why == "" {
			return false
		}
		r.Fallback = &FallbackState{Status: RSending, MsgID: r.MsgID + fallbackSuffix, Why: why, At: at}
		return true
	})
	if err != nil {
		return next, err
	}
	for _, r := range append(resend, marked...) {
		if err := ctx.Err(); err != nil {
			return next, err
		}
		if err := e.sendFallback(ctx, c, ch, r); err != nil {
			return next, err
		}
	}
	return next, nil
}

// sendFallback hands recipient r's SMS to ch and records the answer.
func (e *Engine) sendFallback(ctx context.Context, c *Campaign, ch Channel, r Recipient) error {
	f := c.Spec.Fallback
	out := message.Outbound{ID: r.Fallback.MsgID, Channel: f.Channel, Sender: f.Sender, To: r.Number, Ref: "campaign/" + c.ID,
		Class: message.Bulk, DeliveryReport: true}
	txt, err := render(f.Text, r.Number, r.Vars)
	if err == nil {
		out.Text = txt
		err = e.shortenOut(ctx, c, &r, &out, nil)
	}
	if err == nil {
		err = ch.Send(ctx, out)
	}
	if err != nil && !errors.Is(err, ErrRejected) {
		// Channel trouble: the fallback stays "sending" and is handed over
		// again (same ID) at the next scan.
		return message.WithReason(fmt.Errorf("SMS fallback via %s: %w", f.Channel, err), rFallbackSend.R(err))
	}
	done := e.clock.Now().UTC()
	_, aerr := e.applyRecipients(c.ID, false, []int{r.Seq}, func(_ *Campaign, cur *Recipient) bool {
		if cur.Fallback == nil || cur.Fallback.MsgID != out.ID || cur.Fallback.Status != RSending {
			return false
		}
		fb := *cur.Fallback
		if err != nil {
			fb.Status, fb.Reason, fb.ReasonCode, fb.DoneAt = RFailed, err.Error(), failReason(err), done
		} else {
			fb.Status = RSent
		}
		cur.Fallback = &fb
		return true
	})
	return aerr
}

// fallbackStatus applies an SMS fallback's status event; false when ev is
// not about a fallback.
func (e *Engine) fallbackStatus(ev message.StatusEvent) (bool, error) {
	base, ok := strings.CutSuffix(ev.ID, fallbackSuffix)
	if !ok {
		return false, nil
	}
	id, seq, _, ok := parseMsgID(base)
	if !ok {
		return false, nil
	}
	to, moves := recipientStatus(ev.Status)
	if !moves {
		return true, nil
	}
	at := ev.At.UTC()
	if ev.At.IsZero() {
		at = e.clock.Now().UTC()
	}
	_, err := e.applyRecipients(id, false, []int{seq}, func(_ *Campaign, r *Recipient) bool {
		if r.Fallback == nil || r.Fallback.MsgID != ev.ID || !advances(r.Fallback.Status, to) {
			return false
		}
		fb := *r.Fallback
		fb.Status = to
		if ev.Sender != "" {
			fb.Sender = ev.Sender
		}
		if to != RSent {
			fb.DoneAt = at
		}
		if to == RFailed || to == RUnknown {
			fb.Reason, fb.ReasonCode = ev.Reason, ev.ReasonCode
		}
		r.Fallback = &fb
		return true
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return true, fmt.Errorf("%w: %s (campaign deleted?)", ErrUnknownStatus, ev.ID)
	}
	return true, err
}

// Reach counts how a campaign's recipients were reached.
type Reach struct {
	WhatsApp int `json:"whatsapp"` // delivered by WhatsApp
	SMS      int `json:"sms"`      // reached by the SMS fallback (sent or delivered)
	Both     int `json:"both"`     // the template arrived after the SMS went
	Pending  int `json:"pending"`  // fallback SMS handed over, no answer yet
	Failed   int `json:"failed"`   // fallback SMS failed
}

// Reach returns how campaign id's recipients were reached (WhatsApp
// campaigns with an SMS fallback).
func (e *Engine) Reach(ctx context.Context, id string) (Reach, error) {
	c, err := e.Get(ctx, id)
	if err != nil {
		return Reach{}, err
	}
	rs, err := e.allRecipients(id)
	if err != nil {
		return Reach{}, err
	}
	var out Reach
	for _, r := range rs {
		switch r.ReachedBy(c) {
		case "whatsapp":
			out.WhatsApp++
		case "sms":
			out.SMS++
		case "whatsapp+sms":
			out.Both++
		}
		if r.Fallback != nil {
			switch r.Fallback.Status {
			case RSending:
				out.Pending++
			case RFailed, RUnknown:
				out.Failed++
			}
		}
	}
	return out, nil
}
