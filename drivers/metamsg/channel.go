package metamsg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// The ports the channel feeds (chatchannel): the inbox stores inbound
// messages before Meta's webhook call is answered (gateway/inbox.Inbox),
// the status sink takes each sent message's outcome, the journal is the
// message log, and OptOuts records a person who blocked the page as an
// opt-out (gateway/consent.Consent).
type (
	Inbox      = chatchannel.Inbox
	StatusSink = chatchannel.StatusSink
	Journal    = chatchannel.Journal
	OptOuts    = chatchannel.OptOuts
)

// WebhookPath is where the portal takes the platform's webhook calls.
func WebhookPath(p Platform) string { return "/webhooks/" + string(p) }

// Windows of the Messenger Platform's policy: the standard messaging
// window after a person's last message, and the HUMAN_AGENT tag's.
const (
	StandardWindow   = 24 * time.Hour
	HumanAgentWindow = 7 * 24 * time.Hour
)

// Options configure a Channel.
type Options struct {
	Platform Platform // Messenger or Instagram (required)
	Name     string   // channel name; default the platform's name
	BaseURL  string   // DefaultGraphURL, DefaultInstagramURL or the emulator
	Version  string   // Graph API version; default DefaultVersion
	// AccountID is the Facebook Page id or the Instagram professional
	// account id; messages are sent as /{AccountID}/messages and webhook
	// entries of other accounts are ignored. Empty: "me".
	AccountID   string
	Token       string // Page access token or Instagram user access token
	AppSecret   string // signs the webhook calls
	VerifyToken string // the webhook subscription check's hub.verify_token
	// HumanAgent allows agent replies up to 7 days after the person's last
	// message with the HUMAN_AGENT tag (the app needs Meta's Human Agent
	// permission); false: replies stop after 24 hours.
	HumanAgent     bool
	PerSecond      int           // overall send rate; default 20
	MaxAttempts    int           // tries on a rate limit; default 5
	RequestTimeout time.Duration // per Send; default 20 s
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	Store      *store.Store // required
	HTTPClient *http.Client
	Logger     *slog.Logger
	Inbox      Inbox
	Statuses   StatusSink
	Journal    Journal
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = string(o.Platform)
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultGraphURL
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	chatchannel.Defaults{MaxAttempts: &o.MaxAttempts, RequestTimeout: &o.RequestTimeout, HTTPClient: &o.HTTPClient,
		Logger: &o.Logger}.Fill()
}

// Status is the channel's state for the portal's setup page.
type Status struct {
	Account   Account   `json:"account"`
	LastOK    time.Time `json:"last_ok,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Received  int64     `json:"received"`
	Sent      int64     `json:"sent"`
}

// Channel is one Facebook Page or Instagram account.
type Channel struct {
	o      Options
	client *Client
	log    *slog.Logger
	cc     *chatchannel.Parts[Subscriber] // pacer, outbox, subscribers, health, opt-outs

	smu    sync.Mutex
	status Status // Account; the counters are health's
}

// New builds the channel; Run checks the token.
func New(o Options) (*Channel, error) {
	if o.Platform != Messenger && o.Platform != Instagram {
		return nil, fmt.Errorf("metamsg: platform %q: use messenger or instagram", o.Platform)
	}
	o.defaults()
	if o.Store == nil {
		return nil, errors.New("metamsg: Options.Store is required")
	}
	if o.Token == "" {
		return nil, fmt.Errorf("%s: no access token (%s.token)", o.Platform, o.Platform)
	}
	if o.AppSecret == "" {
		return nil, fmt.Errorf("%s: no app secret (%s.app_secret): webhook calls could not be checked", o.Platform, o.Platform)
	}
	ch := &Channel{o: o, log: o.Logger, client: &Client{BaseURL: o.BaseURL, Version: o.Version, Token: o.Token, HTTP: o.HTTPClient}}
	ch.status.Account.ID = o.AccountID
	ch.cc = chatchannel.NewParts[Subscriber](chatchannel.Outbox{Store: o.Store, Prefix: ch.keyPrefix(), Kind: ch.Kind(),
		Name: ch.pfx(), ErrName: string(o.Platform), Service: "Meta", Journal: o.Journal, Statuses: o.Statuses,
		Log: o.Logger, Now: o.Now, Sender: func() string { return o.AccountID }, Code: errorCode, Reject: rejected},
		o.PerSecond, 0, func(s string) string { return redact(s, o.Token) })
	return ch, nil
}

// UseOptOuts sets where blocks are recorded (built after the channels);
// call before sending.
func (ch *Channel) UseOptOuts(o OptOuts) { ch.cc.OptOuts.Use(o) }

// Platform is Messenger or Instagram.
func (ch *Channel) Platform() Platform { return ch.o.Platform }

// Name is the configured channel name.
func (ch *Channel) Name() string { return ch.o.Name }

// Kind is message.Messenger or message.Instagram.
func (ch *Channel) Kind() message.Kind {
	if ch.o.Platform == Instagram {
		return message.Instagram
	}
	return message.Messenger
}

// MaxPerMinute is the channel's overall rate.
func (ch *Channel) MaxPerMinute() int { return ch.o.PerSecond * 60 }

// ResendSafe: a message's record survives a restart, so it is never sent
// twice.
func (ch *Channel) ResendSafe() bool { return true }

// Client is the Graph API client (the portal's connection test).
func (ch *Channel) Client() *Client { return ch.client }

// pfx is the address prefix: "fb" (Messenger) or "ig" (Instagram).
func (ch *Channel) pfx() string {
	if ch.o.Platform == Instagram {
		return "ig"
	}
	return "fb"
}

func (ch *Channel) label() string {
	if ch.o.Platform == Instagram {
		return "Instagram"
	}
	return "Messenger"
}

// Address is how pbxgate writes a person: "fb" or "ig" and the
// page-/Instagram-scoped id (the SIP user part an extension answers to).
func (ch *Channel) Address(id string) string { return ch.pfx() + id }

// ParseAddress reads a person's id: digits, with or without the
// platform's prefix (or "tg", which pasted-id lists carry).
func (ch *Channel) ParseAddress(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{ch.pfx() + ":", ch.pfx(), "tg"} {
		if rest, ok := strings.CutPrefix(t, p); ok {
			t = rest
			break
		}
	}
	if t == "" || len(t) > 24 || strings.TrimLeft(t, "0123456789") != "" {
		return "", fmt.Errorf("%q is not a %s id (the digits of a page-scoped id, e.g. %s1234567890123456)", s, ch.label(), ch.pfx())
	}
	return t, nil
}

// NormalizeAddress reads a campaign recipient.
func (ch *Channel) NormalizeAddress(s string) (string, error) {
	id, err := ch.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return ch.Address(id), nil
}

// Status returns the channel's state.
func (ch *Channel) Status() Status {
	ch.smu.Lock()
	st := ch.status
	ch.smu.Unlock()
	c := ch.cc.Health.Counts()
	st.LastOK, st.LastError, st.Received, st.Sent = c.LastOK, c.LastError, c.Received, c.Sent
	return st
}

func (ch *Channel) noteOK() { ch.cc.Health.OK(ch.o.Now()) }

func (ch *Channel) noteErr(err error) { ch.cc.Health.Err(err) }

// Run asks Meta which Page or account the token is for, then waits for
// ctx: messages come by webhook.
func (ch *Channel) Run(ctx context.Context) error {
	if err := ch.CheckAccount(ctx); err != nil && ctx.Err() == nil {
		ch.log.Error(ch.pfx()+": Meta does not accept the access token; check "+string(ch.o.Platform)+".token", "err", err)
	}
	<-ctx.Done()
	return nil
}

// CheckAccount asks GET /me and keeps the answer.
func (ch *Channel) CheckAccount(ctx context.Context) error {
	a, err := ch.client.Me(ctx)
	if err != nil {
		ch.noteErr(err)
		return err
	}
	if ch.o.AccountID != "" && a.ID != ch.o.AccountID {
		err := fmt.Errorf("the token is for %s %s, not %s (%s.account_id)", ch.label(), a.ID, ch.o.AccountID, ch.o.Platform)
		ch.noteErr(err)
		return err
	}
	ch.smu.Lock()
	ch.status.Account = a
	ch.smu.Unlock()
	ch.noteOK()
	return nil
}

func (ch *Channel) account() string {
	if ch.o.AccountID != "" {
		return ch.o.AccountID
	}
	return "me"
}

func (ch *Channel) keyPrefix() string { return "metamsg/" + ch.o.Name + "/" }

// Subscriber is a person who wrote to the page or account: campaigns
// reach them by their id while the messaging window is open.
type Subscriber struct {
	ID      string    `json:"id"`
	Payload string    `json:"payload,omitempty"` // the link ref they came by
	First   time.Time `json:"first"`
	LastIn  time.Time `json:"last_in"` // their last message: opens the window
	Blocked bool      `json:"blocked,omitempty"`
}

func (ch *Channel) remember(id string, at time.Time, payload string) error {
	return ch.cc.Subs.Edit(id, func(s *Subscriber, _ bool) bool {
		if s.ID == "" {
			*s = Subscriber{ID: id, First: at}
		}
		if at.After(s.LastIn) {
			s.LastIn = at
		}
		s.Blocked = false
		if payload != "" {
			s.Payload = payload
		}
		return true
	})
}

// Subscriber returns one person's record.
func (ch *Channel) Subscriber(id string) (Subscriber, bool, error) { return ch.cc.Subs.Get(id) }

// Subscribers lists the people who wrote.
func (ch *Channel) Subscribers(ctx context.Context) ([]Subscriber, error) {
	return ch.cc.Subs.List(ctx)
}

// blocked records that a person is not reachable any more: an opt-out,
// and the subscriber is marked.
func (ch *Channel) blocked(ctx context.Context, id, why string) error {
	if err := ch.cc.OptOuts.OptOut(ctx, ch.Address(id), string(ch.o.Platform)+": "+why, ch.o.Name); err != nil {
		return err
	}
	return ch.cc.Subs.Edit(id, func(s *Subscriber, found bool) bool {
		s.Blocked = true
		return found
	})
}

// SendText sends free text (the automation's replies).
func (ch *Channel) SendText(ctx context.Context, id, to, text string) error {
	return ch.Send(ctx, message.Outbound{ID: id, Channel: ch.o.Name, To: to, Text: text})
}

// sentRecord is the outbox record of a sent message (a stored shape:
// {"state":"sent","mid":…}).
type sentRecord struct {
	State     string `json:"state"`
	MessageID string `json:"mid,omitempty"`
}

func (ch *Channel) midKey(mid string) string { return ch.keyPrefix() + "mid/" + mid }

// Policy decides how a message to a person whose last message was at
// lastIn may go at now: the messaging type and tag, or ErrWindowClosed.
// Within 24 hours: RESPONSE (a reply) or UPDATE (a campaign). After that
// only a human agent's reply, for 7 days, with HUMAN_AGENT when allowed;
// campaign messages never go outside the window (tags are not for
// promotional content).
func Policy(lastIn, now time.Time, bulk, humanAgent bool) (msgType, tag string, err error) {
	age := now.Sub(lastIn)
	switch {
	case age <= StandardWindow && bulk:
		return TypeUpdate, "", nil
	case age <= StandardWindow:
		return TypeResponse, "", nil
	case bulk:
		return "", "", fmt.Errorf("%w (last message %s ago; campaign messages may not use a message tag)", ErrWindowClosed, age.Round(time.Minute))
	case humanAgent && age <= HumanAgentWindow:
		return TypeMessageTag, TagHumanAgent, nil
	case humanAgent:
		return "", "", fmt.Errorf("%w (last message %s ago, more than the human agent's 7 days)", ErrWindowClosed, age.Round(time.Minute))
	}
	return "", "", fmt.Errorf("%w (last message %s ago; enable human_agent for 7 days of agent replies)", ErrWindowClosed, age.Round(time.Minute))
}

// Send sends m.Text to the person m.To. It is idempotent by m.ID, also
// across restarts: a message whose send was cut short is reported unknown,
// never resent. The messaging window is checked here first, so a message
// Meta would refuse is refused locally with the reason. A refusal for good
// returns an error wrapping campaign.ErrRejected; a person who blocked the
// page also becomes an opt-out.
func (ch *Channel) Send(ctx context.Context, m message.Outbound) error {
	if m.Channel == "" {
		m.Channel = ch.o.Name
	}
	id, err := ch.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("%w: %w", campaign.ErrRejected, err)
	}
	if strings.TrimSpace(m.Text) == "" {
		return fmt.Errorf("%w: the message text is empty", campaign.ErrRejected)
	}
	if n, max := TextLen(ch.o.Platform, m.Text), MaxTextLen(ch.o.Platform); n > max {
		return rejected(fmt.Errorf("%w (%d; %s takes at most %d)", ErrTooLong, n, ch.label(), max))
	}
	m.To = ch.Address(id)
	sub, known, err := ch.Subscriber(id)
	if err != nil {
		return err
	}
	if !known {
		return ch.refuse(ctx, m, fmt.Errorf("%w: %s never wrote to this %s", ErrNoUser, m.To, ch.label()))
	}
	if sub.Blocked {
		return ch.refuse(ctx, m, fmt.Errorf("%w: %s", ErrUnavailable, m.To))
	}
	msgType, tag, err := Policy(sub.LastIn, ch.o.Now(), m.Class == message.Bulk, ch.o.HumanAgent)
	if err != nil {
		return ch.refuse(ctx, m, err)
	}
	req := SendRequest{Recipient: Recipient{ID: id}, MessagingType: msgType, Tag: tag, Message: TextMessage{Text: m.Text}}
	return ch.cc.Outbox.Send(ctx, m, chatchannel.Attempt{
		Transmit: func(ctx context.Context) (chatchannel.Sent, error) {
			res, err := ch.transmit(ctx, req, m.Class == message.Bulk)
			if err != nil {
				return chatchannel.Sent{}, err
			}
			sent := chatchannel.Sent{ChannelID: res.MessageID, Record: sentRecord{State: chatchannel.StateSent, MessageID: res.MessageID}}
			if res.MessageID != "" {
				// Delivery events name the mid: it leads back to the message.
				sent.Also = map[string]any{ch.midKey(res.MessageID): midRecord{ID: m.ID, Ref: m.Ref, To: m.To}}
			}
			return sent, nil
		},
		Unknown:  ErrUnknownOutcome,
		Refusals: []error{ErrUnavailable, ErrNoUser, ErrWindowClosed, ErrTooLong},
		Refused: func(ctx context.Context, err error) {
			if !errors.Is(err, ErrUnavailable) {
				return
			}
			if berr := ch.blocked(context.WithoutCancel(ctx), id, "person not available (blocked the page)"); berr != nil {
				ch.log.Error(ch.pfx()+": opt-out of a blocking person not recorded", "to", m.To, "err", berr)
			}
		},
	})
}

// refuse fails a message before it reaches Meta, with the reason in the
// message log.
func (ch *Channel) refuse(ctx context.Context, m message.Outbound, err error) error {
	return ch.cc.Outbox.Refuse(ctx, m, err)
}

// Reason codes of refusals, translated in the portal (web/i18n
// *.messenger.json, "reason.meta.*").
var (
	rWindow      = message.NewCode("meta.window", 0)
	rNoUser      = message.NewCode("meta.no_user", 0)
	rUnavailable = message.NewCode("meta.unavailable", 0)
	rTooLong     = message.NewCode("meta.too_long", 0)
)

// rejected marks err a refusal for good (campaign.ErrRejected) and gives
// it its reason code.
func rejected(err error) error {
	out := fmt.Errorf("%w: %w", campaign.ErrRejected, err)
	switch {
	case errors.Is(err, ErrWindowClosed):
		return message.WithReason(out, rWindow.R())
	case errors.Is(err, ErrNoUser):
		return message.WithReason(out, rNoUser.R())
	case errors.Is(err, ErrUnavailable):
		return message.WithReason(out, rUnavailable.R())
	case errors.Is(err, ErrTooLong):
		return message.WithReason(out, rTooLong.R())
	}
	return out
}

type midRecord struct {
	ID  string `json:"id"`
	Ref string `json:"ref,omitempty"`
	To  string `json:"to"`
}

// delivered applies a delivery event (Messenger): each named mid is
// delivered.
func (ch *Channel) delivered(ctx context.Context, _ string, d *Delivery) error {
	for _, mid := range d.MIDs {
		var r midRecord
		err := ch.o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, ch.midKey(mid), &r) })
		if errors.Is(err, store.ErrNotFound) {
			continue // not ours (sent from the Page's inbox)
		}
		if err != nil {
			return err
		}
		ev := message.StatusEvent{ID: r.ID, Ref: r.Ref, ChannelID: mid, Status: message.Delivered,
			At: time.UnixMilli(d.Watermark).UTC()}
		if err := ch.applyStatus(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// read: a read receipt names no messages, only a watermark; the message
// log keeps delivered (Meta sends no per-message read receipts).
func (ch *Channel) read(context.Context, string, *Read) error { return nil }

func (ch *Channel) applyStatus(ctx context.Context, ev message.StatusEvent) error {
	if ch.o.Journal != nil {
		if err := ch.o.Journal.Status(ctx, ev); err != nil {
			ch.log.Debug(ch.pfx()+": message log: status not recorded", "id", ev.ID, "err", err)
		}
	}
	if ch.o.Statuses == nil {
		return nil
	}
	if err := ch.o.Statuses.HandleStatus(ctx, ev); err != nil {
		ch.log.Debug(ch.pfx()+": status not taken", "id", ev.ID, "err", err)
	}
	return nil
}

// errorCode is the message log's code of a Graph API error: code, and
// "/subcode" when there is one.
func errorCode(err error) string {
	var ae *APIError
	if !errors.As(err, &ae) {
		return ""
	}
	code := strconv.Itoa(ae.Code)
	if ae.Subcode != 0 {
		code += "/" + strconv.Itoa(ae.Subcode)
	}
	return code
}

// transmit paces and sends one message, backing off on Meta's rate limit.
func (ch *Channel) transmit(ctx context.Context, req SendRequest, bulk bool) (SendResponse, error) {
	var last error
	wait := time.Second
	for range ch.o.MaxAttempts {
		if err := ch.cc.Pace.Wait(ctx, "", bulk); err != nil {
			return SendResponse{}, err
		}
		sctx, cancel := context.WithTimeout(ctx, ch.o.RequestTimeout)
		res, err := ch.client.Send(sctx, ch.account(), req)
		timedOut := sctx.Err() != nil
		cancel()
		if errors.Is(err, ErrRateLimited) {
			ch.log.Warn(ch.pfx()+": Meta's rate limit reached; backing off", "wait", wait)
			ch.cc.Pace.Hold(wait)
			last = err
			wait *= 2
			continue
		}
		if err != nil && timedOut && ctx.Err() == nil {
			return SendResponse{}, fmt.Errorf("%s send: %w: timed out", ch.o.Platform, ErrUnknownOutcome)
		}
		var ae *APIError
		if err != nil && !errors.As(err, &ae) && ctx.Err() == nil && !errors.Is(err, ErrUnauthorized) {
			// The request may have reached Meta before the connection broke.
			return SendResponse{}, fmt.Errorf("%s send: %w: %w", ch.o.Platform, ErrUnknownOutcome, err)
		}
		return res, err
	}
	return SendResponse{}, last
}
