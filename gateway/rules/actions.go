package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// errSkipped marks an action deliberately not run.
var errSkipped = errors.New("skipped")

// Job is a persisted retry of a failed outside action.
type Job struct {
	MsgID    string    `json:"msg_id"`
	Rule     string    `json:"rule"`
	RuleName string    `json:"rule_name"`
	Index    int       `json:"index"`
	Action   Action    `json:"action"` // as it was when the message came in
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"next_at"`
}

func (j Job) key() string { return prefixJob + j.MsgID + "/" + j.Rule + "/" + strconv.Itoa(j.Index) }

// retryable: actions that reach outside the box, where a later attempt may
// succeed. Local ones (groups, consent store) fail for good.
func retryable(t ActionType) bool {
	switch t {
	case AutoAnswer, RouteTo, EmailForward, HTTPForward, HTTPBot, SMSForward, StartCampaign, OptOutAction, OptInAction:
		return true
	}
	return false
}

// background: actions that wait on another server over the network (up
// to http_timeout or the SMTP timeout each); the inbound message is stored
// and handled at once, these run in the retry worker right after.
func background(t ActionType) bool {
	switch t {
	case EmailForward, HTTPForward, HTTPBot:
		return true
	}
	return false
}

// queue records a background action as due now; Run makes its first
// attempt (the job's Attempts count attempts made).
func (e *Engine) queue(in message.Inbound, rule, ruleName string, idx int, a Action) (Outcome, *Job) {
	now := e.now()
	o := Outcome{Rule: rule, RuleName: ruleName, Index: idx, Action: a.Type, Status: Queued, At: now, NextAt: now}
	e.met.actions.WithLabelValues(string(a.Type), string(Queued)).Inc()
	return o, &Job{MsgID: in.ID, Rule: rule, RuleName: ruleName, Index: idx, Action: a, NextAt: now}
}

// permanent reports whether err says retrying cannot help (an HTTP 4xx, an
// SMTP 5xx, a part that is not configured).
func permanent(err error) bool {
	if errors.Is(err, ErrNotWired) {
		return true
	}
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// runAction performs attempt number attempt of a and returns its outcome
// and, when it is to be retried, the job.
func (e *Engine) runAction(ctx context.Context, in message.Inbound, vars Vars, rule, ruleName string, idx int, a Action, attempt int) (Outcome, *Job) {
	o, job := e.attempt(ctx, in, vars, rule, ruleName, idx, a, attempt)
	e.met.actions.WithLabelValues(string(a.Type), string(o.Status)).Inc()
	return o, job
}

func (e *Engine) attempt(ctx context.Context, in message.Inbound, vars Vars, rule, ruleName string, idx int, a Action, attempt int) (Outcome, *Job) {
	o := Outcome{Rule: rule, RuleName: ruleName, Index: idx, Action: a.Type, Attempts: attempt, At: e.now()}
	detail, err := e.perform(ctx, in, vars, rule, idx, a)
	switch {
	case err == nil:
		o.Status, o.Detail = Done, detail
		return o, nil
	case errors.Is(err, errSkipped):
		o.Status, o.Detail = Skipped, err.Error()
		return o, nil
	}
	o.Detail = err.Error()
	if ctx.Err() != nil && retryable(a.Type) {
		// Shutting down: not the action's fault, so the attempt does not
		// count; it runs again after the restart.
		o.Status, o.Attempts = Retrying, attempt-1
		o.NextAt = o.At
		return o, &Job{MsgID: in.ID, Rule: rule, RuleName: ruleName, Index: idx, Action: a, Attempts: attempt - 1, NextAt: o.NextAt}
	}
	if !retryable(a.Type) || permanent(err) || attempt >= e.cfg.Retry.Attempts {
		o.Status = Failed
		e.log.Warn("automation action failed", "msg", in.ID, "rule", ruleName, "action", a.Type, "attempts", attempt, "err", err)
		return o, nil
	}
	o.Status = Retrying
	o.NextAt = o.At.Add(e.backoff(attempt))
	e.log.Info("automation action failed, will retry", "msg", in.ID, "rule", ruleName, "action", a.Type, "attempts", attempt, "next", o.NextAt, "err", err)
	return o, &Job{MsgID: in.ID, Rule: rule, RuleName: ruleName, Index: idx, Action: a, Attempts: attempt, NextAt: o.NextAt}
}

func (e *Engine) backoff(attempts int) time.Duration {
	d := e.cfg.Retry.First
	for i := 1; i < attempts && d < e.cfg.Retry.Max; i++ {
		d *= 2
	}
	return min(d, e.cfg.Retry.Max)
}

// Default texts of forwards.
const (
	defaultSubject   = "{CHANNEL}: message from {MSISDN}"
	defaultMailBody  = "From: {MSISDN} {NICKNAME}\nChannel: {CHANNEL} ({KIND})\nReceived: {TIMESTAMP} (UTC{UTC})\nMessage ID: {MSGID}\nMedia: {MEDIATYPE}\n\n{MSG}\n"
	defaultSMSFwd    = "{MSISDN}: {MSG}"
	maxForwardedSMS  = 1600
	detailReplied    = "answer sent"
	detailNoBotReply = "the bot gave no answer"
)

func (e *Engine) perform(ctx context.Context, in message.Inbound, vars Vars, rule string, idx int, a Action) (string, error) {
	if err := e.wired(a); err != nil {
		return "", err
	}
	switch a.Type {
	case AutoAnswer:
		if err := e.replyAllowed(ctx, in); err != nil {
			return "", err
		}
		switch {
		case a.Interactive != nil:
			if err := e.replyInteractive(ctx, in, vars, a); err != nil {
				return "", fmt.Errorf("reply: %w", err)
			}
		case a.Text != "":
			if err := e.cfg.Replier.Reply(ctx, in, vars.Render(a.Text)); err != nil {
				return "", fmt.Errorf("reply: %w", err)
			}
		}
		if a.Media != nil {
			m := *a.Media
			m.Caption = vars.Render(m.Caption)
			if err := e.cfg.Media.ReplyMedia(ctx, in, m); err != nil {
				return "", fmt.Errorf("media reply: %w", err)
			}
		}
		return detailReplied, nil
	case RouteTo:
		if err := e.cfg.Router.Route(ctx, in, a.RouteKind, a.RouteID); err != nil {
			return "", fmt.Errorf("route to %s %s: %w", a.RouteKind, a.RouteID, err)
		}
		return "routed to " + a.RouteKind + " " + a.RouteID, nil
	case EmailForward:
		subject, body := a.Subject, a.Text
		if subject == "" {
			subject = defaultSubject
		}
		if body == "" {
			body = defaultMailBody
		}
		if err := e.cfg.Mailer.Mail(ctx, a.To, vars.Render(subject), vars.Render(body)); err != nil {
			return "", fmt.Errorf("e-mail: %w", err)
		}
		return fmt.Sprintf("e-mailed to %d recipient(s)", len(a.To)), nil
	case HTTPForward:
		body, err := e.payload(vars, rule)
		if err != nil {
			return "", err
		}
		if err := e.cfg.HTTP.Post(ctx, a.URL, a.Secret, body); err != nil {
			return "", fmt.Errorf("http forward: %w", err)
		}
		return "posted to " + a.URL, nil
	case HTTPBot:
		body, err := e.payload(vars, rule)
		if err != nil {
			return "", err
		}
		answer, err := e.cfg.HTTP.Ask(ctx, a.URL, a.Secret, body)
		if err != nil {
			return "", fmt.Errorf("http bot: %w", err)
		}
		if answer == "" {
			return detailNoBotReply, nil
		}
		if err := e.replyAllowed(ctx, in); err != nil {
			return "", err
		}
		if err := e.cfg.Replier.Reply(ctx, in, answer); err != nil {
			return "", fmt.Errorf("reply with the bot's answer: %w", err)
		}
		return "bot answer sent", nil
	case SMSForward:
		text := a.Text
		if text == "" {
			text = defaultSMSFwd
		}
		text = vars.Render(text)
		if r := []rune(text); len(r) > maxForwardedSMS {
			text = string(r[:maxForwardedSMS-1]) + "…"
		}
		out := message.Outbound{ID: "fwd-" + in.ID + "-" + rule + "-" + strconv.Itoa(idx), To: a.Number, Text: text}
		if in.Kind == message.SMS {
			out.Channel = in.Channel
		}
		if err := e.cfg.SMS.SendSMS(ctx, out); err != nil {
			return "", fmt.Errorf("sms forward: %w", err)
		}
		return "forwarded by SMS to " + a.Number, nil
	case GroupAdd:
		if err := e.cs.Join(ctx, a.Group, in.From, consent.SourceKeyword); err != nil {
			return "", err
		}
		return "joined group " + a.Group, nil
	case GroupRemove:
		if err := e.cs.Leave(ctx, a.Group, in.From); err != nil {
			return "", err
		}
		return "left group " + a.Group, nil
	case OptOutAction:
		if err := e.cs.OptOut(ctx, in.From, consent.Normalize(in.Text), in.Channel); err != nil {
			return "", err
		}
		return "opted out" + e.confirm(ctx, in, vars, a.Text, e.cfg.StopReply, DefaultStopReply), nil
	case OptInAction:
		if _, err := e.cs.OptIn(ctx, in.From); err != nil {
			return "", err
		}
		return "opted in" + e.confirm(ctx, in, vars, a.Text, e.cfg.StartReply, DefaultStartReply), nil
	case StartCampaign:
		vals := make(map[string]string, len(vars.Values)+len(vars.Fields))
		for k, v := range vars.Fields {
			vals[k] = v
		}
		for k, v := range vars.Values {
			vals[k] = v
		}
		if err := e.cfg.Campaigns.StartForContact(ctx, a.Campaign, in, vals); err != nil {
			return "", fmt.Errorf("campaign %s: %w", a.Campaign, err)
		}
		return "campaign " + a.Campaign + " started", nil
	case DoNothing:
		return "nothing to do", nil
	}
	return "", fmt.Errorf("%w: unknown action %q", ErrNotWired, a.Type)
}

// confirm sends an opt-out/opt-in confirmation (the rule's text, else the
// configured one, else the default; "-" for none). A failed confirmation is
// only noted: the consent change itself stands.
func (e *Engine) confirm(ctx context.Context, in message.Inbound, vars Vars, texts ...string) string {
	text := ""
	for _, t := range texts {
		if t != "" {
			text = t
			break
		}
	}
	if text == "-" || e.cfg.Replier == nil {
		return ""
	}
	if err := e.replyAllowed(ctx, in); err != nil {
		return "; no confirmation: " + err.Error()
	}
	if err := e.cfg.Replier.Reply(ctx, in, vars.Render(text)); err != nil {
		e.log.Warn("automation: consent confirmation not sent", "msg", in.ID, "err", err)
		return "; confirmation not sent: " + err.Error()
	}
	return "; confirmation sent"
}

// replyAllowed refuses replies to numbers blacklisted for sending.
func (e *Engine) replyAllowed(ctx context.Context, in message.Inbound) error {
	if reason, blocked := e.cs.SendBlacklisted(ctx, in.From); blocked {
		return fmt.Errorf("%w: no reply: %s", errSkipped, reason)
	}
	return nil
}

func (e *Engine) payload(vars Vars, rule string) ([]byte, error) {
	m := vars.flat()
	m["RULE"] = rule
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("forward payload: %w", err)
	}
	return b, nil
}

func badgerReverse(prefix string) store.IteratorOptions { return store.Prefix(prefix, true, true) }

func badgerForward(prefix string) store.IteratorOptions { return store.Prefix(prefix, true, false) }
