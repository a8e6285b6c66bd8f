package viber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// The ports the channel feeds (chatchannel): the inbox stores inbound
// messages before the webhook answers 200 (gateway/inbox.Inbox), the
// status sink takes each sent message's outcome and receipts, the journal
// is the message log, and OptOuts records an unsubscribe as an opt-out
// (gateway/consent.Consent).
type (
	Inbox      = chatchannel.Inbox
	StatusSink = chatchannel.StatusSink
	Journal    = chatchannel.Journal
	OptOuts    = chatchannel.OptOuts
)

// WebhookPath is where the portal takes Viber's callbacks.
const WebhookPath = "/webhooks/viber"

// Options configure a Channel.
type Options struct {
	Name    string // channel name; default "viber"
	BaseURL string // DefaultBaseURL or viberemu
	Token   string // the bot's authentication token
	// PublicURL is the portal's address on the internet (http.public_url):
	// Viber delivers by webhook only, so without it the bot can send to
	// known subscribers but receives nothing.
	PublicURL string
	// SenderName is shown as the sender of every message (required by
	// send_message; at most 28 characters). Default: the bot's name.
	SenderName string
	// Welcome is sent to a user who opens the chat (conversation_started);
	// empty: none. Viber allows it before the user subscribes.
	Welcome        string
	PerSecond      int           // messages per second; default 20
	MaxAttempts    int           // tries on status 12; default 5
	RequestTimeout time.Duration // per request; default 20 s
	RetryPause     time.Duration // after a failed set_webhook; default 5 s

	Store      *store.Store // required
	HTTPClient *http.Client
	Logger     *slog.Logger
	Inbox      Inbox
	Statuses   StatusSink
	Journal    Journal
}

// OptionsFromConfig maps the viber section and the portal's public URL.
func OptionsFromConfig(c config.Viber, publicURL string) Options {
	return Options{Name: c.Name, BaseURL: c.APIURL, Token: c.Token.Reveal(), PublicURL: publicURL,
		SenderName: c.SenderName, Welcome: c.Welcome, PerSecond: c.MessagesPerSecond}
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "viber"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 20
	}
	chatchannel.Defaults{MaxAttempts: &o.MaxAttempts, RequestTimeout: &o.RequestTimeout, RetryPause: &o.RetryPause,
		HTTPClient: &o.HTTPClient, Logger: &o.Logger}.Fill()
}

// Status is the channel's state for the portal's setup page.
type Status struct {
	Mode       string    `json:"mode"` // "webhook" or "send-only"
	Bot        string    `json:"bot,omitempty"`
	URI        string    `json:"uri,omitempty"`
	WebhookURL string    `json:"webhook_url,omitempty"`
	LastOK     time.Time `json:"last_ok,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	Received   int64     `json:"received"`
	Sent       int64     `json:"sent"`
}

// Channel is one Viber bot.
type Channel struct {
	o      Options
	client *Client
	log    *slog.Logger
	cc     *chatchannel.Parts[Subscriber] // pacer, outbox, subscribers, health, opt-outs

	smu    sync.Mutex
	status Status // Mode, Bot, URI, WebhookURL; the counters are health's
}

// New builds the channel; Run registers the webhook.
func New(o Options) (*Channel, error) {
	o.defaults()
	if o.Store == nil {
		return nil, errors.New("viber: Options.Store is required")
	}
	if o.Token == "" {
		return nil, errors.New("viber: no authentication token (viber.token; the bot's token from the Viber admin panel)")
	}
	if utf8.RuneCountInString(o.SenderName) > MaxSenderName {
		return nil, fmt.Errorf("viber: sender name %q is longer than %d characters", o.SenderName, MaxSenderName)
	}
	ch := &Channel{o: o, log: o.Logger, client: &Client{BaseURL: o.BaseURL, Token: o.Token, HTTP: o.HTTPClient}}
	ch.cc = chatchannel.NewParts[Subscriber](chatchannel.Outbox{Store: o.Store, Prefix: ch.keyPrefix(), Kind: message.Viber,
		Name: "viber", Service: "Viber", Journal: o.Journal, Statuses: o.Statuses, Log: o.Logger,
		Sender: func() string { return ch.Status().Bot }, Code: errorCode},
		o.PerSecond, 0, func(s string) string { return redact(s, o.Token) })
	ch.status.Mode = "send-only"
	if o.PublicURL != "" {
		ch.status.Mode = "webhook"
		ch.status.WebhookURL = strings.TrimRight(o.PublicURL, "/") + WebhookPath
	}
	return ch, nil
}

// UseOptOuts sets where unsubscribes are recorded; call before Run.
func (ch *Channel) UseOptOuts(o OptOuts) { ch.cc.OptOuts.Use(o) }

// Name is the configured channel name.
func (ch *Channel) Name() string { return ch.o.Name }

// Kind is message.Viber.
func (ch *Channel) Kind() message.Kind { return message.Viber }

// MaxPerMinute is the bot's overall rate.
func (ch *Channel) MaxPerMinute() int { return ch.o.PerSecond * 60 }

// ResendSafe: a message's record survives a restart, so it is never sent
// twice.
func (ch *Channel) ResendSafe() bool { return true }

// NormalizeAddress reads a campaign recipient: a Viber user id, with or
// without "vb".
func (ch *Channel) NormalizeAddress(s string) (string, error) {
	id, err := ParseUserID(s)
	if err != nil {
		return "", err
	}
	return Address(id), nil
}

// Client is the REST client (the portal's connection test).
func (ch *Channel) Client() *Client { return ch.client }

// Status returns the channel's state.
func (ch *Channel) Status() Status {
	ch.smu.Lock()
	st := ch.status
	ch.smu.Unlock()
	c := ch.cc.Health.Counts()
	st.LastOK, st.LastError, st.Received, st.Sent = c.LastOK, c.LastError, c.Received, c.Sent
	return st
}

func (ch *Channel) noteOK() { ch.cc.Health.OK(time.Now()) }

func (ch *Channel) noteErr(err error) { ch.cc.Health.Err(err) }

func (ch *Channel) keyPrefix() string { return "viber/" + ch.o.Name + "/" }

func (ch *Channel) senderName() string {
	if ch.o.SenderName != "" {
		return ch.o.SenderName
	}
	if b := ch.Status().Bot; b != "" {
		if r := []rune(b); len(r) > MaxSenderName {
			return string(r[:MaxSenderName])
		}
		return b
	}
	return "pbxgate"
}

// Run asks Viber who the bot is, then registers the webhook (with a
// public URL) and waits for ctx to end.
func (ch *Channel) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		info, err := ch.client.GetAccountInfo(ctx)
		if err == nil {
			ch.smu.Lock()
			ch.status.Bot, ch.status.URI = info.Name, info.URI
			ch.smu.Unlock()
			ch.noteOK()
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		ch.noteErr(err)
		ch.log.Error("viber: get_account_info failed; check viber.token", "err", redact(err.Error(), ch.o.Token))
		if errors.Is(err, ErrUnauthorized) || !chatchannel.Sleep(ctx, ch.o.RetryPause) {
			break
		}
	}
	if ch.o.PublicURL == "" {
		ch.log.Warn("viber: no http.public_url: Viber delivers only by webhook, so the bot sends but receives nothing")
		<-ctx.Done()
		return nil
	}
	url := ch.Status().WebhookURL
	set := func(ctx context.Context) error { return ch.client.SetWebhook(ctx, url) }
	if chatchannel.Retry(ctx, ch.o.RetryPause, set, func(err error) {
		ch.noteErr(err)
		ch.log.Error("viber: set_webhook failed; retrying", "url", url, "err", redact(err.Error(), ch.o.Token))
	}) {
		ch.noteOK()
		ch.log.Info("viber: webhook registered", "url", url)
		<-ctx.Done()
	}
	return nil
}

// Webhook serves Viber's callbacks: the body's signature must match, and
// a message is stored before the 200 answer confirms it (Viber retries
// a callback that did not get 200). The answer to conversation_started
// carries the welcome message.
func (ch *Channel) Webhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !chatchannel.PostOnly(w, r) {
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, chatchannel.MaxWebhookBody))
		if err != nil {
			http.Error(w, "body too large or unreadable", http.StatusBadRequest)
			return
		}
		// The signature is sent as a header and (by older API versions)
		// as the sig query parameter.
		sig := r.Header.Get(SignatureHeader)
		if sig == "" {
			sig = r.URL.Query().Get("sig")
		}
		if !ValidSignature(ch.o.Token, body, sig) {
			ch.log.Warn("viber: callback with a wrong or missing signature refused", "remote", r.RemoteAddr)
			http.Error(w, "wrong or missing "+SignatureHeader, http.StatusUnauthorized)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "not a Viber callback: "+err.Error(), http.StatusBadRequest)
			return
		}
		reply, err := ch.handleEvent(r.Context(), ev)
		if err != nil {
			ch.log.Warn("viber: callback not stored; Viber will retry", "event", ev.Event, "token", ev.MessageToken, "err", err)
			chatchannel.NotStored(w)
			return
		}
		ch.noteOK()
		if reply != nil {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(reply)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// welcomeMessage is the answer to conversation_started ("Sending a
// welcome message").
type welcomeMessage struct {
	Sender       Sender `json:"sender"`
	TrackingData string `json:"tracking_data,omitempty"`
	Type         string `json:"type"`
	Text         string `json:"text"`
}

// handleEvent stores a callback; nil error means it may be confirmed.
func (ch *Channel) handleEvent(ctx context.Context, ev Event) (any, error) {
	switch ev.Event {
	case "webhook":
		return nil, nil
	case "conversation_started":
		if ev.User == nil || ev.User.ID == "" {
			return nil, nil
		}
		if err := ch.remember(*ev.User, ev.Context, false); err != nil {
			return nil, err
		}
		if ch.o.Welcome == "" || ev.Subscribed {
			return nil, nil
		}
		return welcomeMessage{Sender: Sender{Name: ch.senderName()}, Type: "text", Text: ch.o.Welcome}, nil
	case "subscribed":
		if ev.User == nil || ev.User.ID == "" {
			return nil, nil
		}
		if err := ch.remember(*ev.User, "", true); err != nil {
			return nil, err
		}
		// Subscribing is the opt-in keyword START.
		in := ch.base(ev, *ev.User)
		in.ID = "vb-sub-" + ev.User.ID + "-" + strconv.FormatInt(ev.MessageToken, 10)
		in.Text = "START"
		return nil, ch.accept(ctx, in)
	case "unsubscribed":
		if ev.UserID == "" {
			return nil, nil
		}
		return nil, ch.unsubscribed(ctx, ev.UserID, "user unsubscribed")
	case "message":
		if ev.Sender == nil || ev.Sender.ID == "" || ev.Message == nil {
			return nil, nil
		}
		// "users' first message to the bot will make them subscribed".
		if err := ch.remember(*ev.Sender, "", true); err != nil {
			return nil, err
		}
		return nil, ch.accept(ctx, ch.inbound(ev))
	case "delivered", "seen", "failed":
		return nil, ch.receipt(ctx, ev)
	}
	return nil, nil
}

func (ch *Channel) base(ev Event, u User) message.Inbound {
	at := time.UnixMilli(ev.Timestamp).UTC()
	if ev.Timestamp == 0 {
		at = time.Now().UTC()
	}
	return message.Inbound{Kind: message.Viber, Channel: ch.o.Name, Receiver: ch.Status().Bot,
		From: Address(u.ID), Name: u.Name, At: at}
}

func (ch *Channel) accept(ctx context.Context, in message.Inbound) error {
	return ch.cc.Health.Accept(ctx, ch.o.Inbox, in)
}

// inbound converts a user's message.
func (ch *Channel) inbound(ev Event) message.Inbound {
	in := ch.base(ev, *ev.Sender)
	in.ID = "vb-" + strconv.FormatInt(ev.MessageToken, 10)
	m := ev.Message
	switch m.Type {
	case "text":
		in.Text = m.Text
	case "picture":
		in.MediaType, in.MediaID, in.Text = "image", m.Media, m.Text
	case "video":
		in.MediaType, in.MediaID, in.Text = "video", m.Media, m.Text
	case "file":
		in.MediaType, in.MediaID, in.Text = "document", m.Media, m.FileName
	case "location":
		in.MediaType = "location"
		if m.Location != nil {
			in.Text = fmt.Sprintf("%.6f, %.6f", m.Location.Lat, m.Location.Lon)
		}
	case "contact":
		in.MediaType = "contact"
		if m.Contact != nil {
			in.Text = strings.TrimSpace(m.Contact.Name + " " + m.Contact.PhoneNumber)
		}
	case "url":
		in.Text = m.Media
	default:
		in.Unsupported = "this kind of Viber message (" + m.Type + ") is not shown here"
		in.Text = "(unsupported Viber message)"
	}
	return in
}

// Subscriber is a user who opened the chat or wrote to the bot:
// campaigns reach the subscribed ones by their id.
type Subscriber struct {
	UserID       string    `json:"user_id"`
	Name         string    `json:"name,omitempty"`
	Country      string    `json:"country,omitempty"`
	Language     string    `json:"language,omitempty"`
	Context      string    `json:"context,omitempty"` // the link it came by
	First        time.Time `json:"first"`
	Changed      time.Time `json:"changed"`
	Subscribed   bool      `json:"subscribed"`
	Unsubscribed bool      `json:"unsubscribed,omitempty"`
}

func (ch *Channel) remember(u User, context string, subscribed bool) error {
	now := time.Now().UTC()
	return ch.cc.Subs.Edit(u.ID, func(s *Subscriber, _ bool) bool {
		if s.UserID != "" && (u.Name == "" || s.Name == u.Name) && (!subscribed || (s.Subscribed && !s.Unsubscribed)) &&
			(context == "" || context == s.Context) {
			return false
		}
		if s.UserID == "" {
			*s = Subscriber{UserID: u.ID, First: now}
		}
		if u.Name != "" {
			s.Name = u.Name
		}
		if u.Country != "" {
			s.Country, s.Language = u.Country, u.Language
		}
		if context != "" {
			s.Context = context
		}
		if subscribed {
			s.Subscribed, s.Unsubscribed = true, false
		}
		s.Changed = now
		return true
	})
}

// Subscribers lists the users known to the bot.
func (ch *Channel) Subscribers(ctx context.Context) ([]Subscriber, error) {
	return ch.cc.Subs.List(ctx)
}

// unsubscribed records the opt-out and marks the subscriber.
func (ch *Channel) unsubscribed(ctx context.Context, id, why string) error {
	if err := ch.cc.OptOuts.OptOut(ctx, Address(id), "viber: "+why, ch.o.Name); err != nil {
		return err
	}
	return ch.cc.Subs.Edit(id, func(s *Subscriber, found bool) bool {
		if !found {
			*s = Subscriber{UserID: id, First: time.Now().UTC()}
		}
		s.Subscribed, s.Unsubscribed, s.Changed = false, true, time.Now().UTC()
		return true
	})
}

// SendText sends free text (the automation's replies).
func (ch *Channel) SendText(ctx context.Context, id, to, text string) error {
	return ch.Send(ctx, message.Outbound{ID: id, Channel: ch.o.Name, To: to, Text: text})
}

// sentRecord is the outbox record of a sent message (a stored shape:
// {"state":"sent","token":…}).
type sentRecord struct {
	State string `json:"state"`
	Token int64  `json:"token,omitempty"`
}

// tokRecord maps a message_token back to the message (receipts).
type tokRecord struct {
	ID  string `json:"id"`
	Ref string `json:"ref,omitempty"`
}

func (ch *Channel) tokKey(tok int64) string {
	return ch.keyPrefix() + "tok/" + strconv.FormatInt(tok, 10)
}

// Send sends m.Text to the Viber user m.To. It is idempotent by m.ID,
// also across restarts: a message whose send was cut short is reported
// unknown, never resent. A message Viber refuses for good (not
// subscribed, too long) returns an error wrapping campaign.ErrRejected.
// Delivery and read receipts arrive later by webhook.
func (ch *Channel) Send(ctx context.Context, m message.Outbound) error {
	if m.Channel == "" {
		m.Channel = ch.o.Name
	}
	user, err := ParseUserID(m.To)
	if err != nil {
		return fmt.Errorf("%w: %w", campaign.ErrRejected, err)
	}
	if err := chatchannel.CheckText(m.Text, utf8.RuneCountInString(m.Text), MaxTextLen, ErrTooLong); err != nil {
		return err
	}
	m.To = Address(user)
	return ch.cc.Outbox.Send(ctx, m, chatchannel.Attempt{
		Transmit: func(ctx context.Context) (chatchannel.Sent, error) {
			tok, err := ch.transmit(ctx, user, m.Text)
			if err != nil {
				return chatchannel.Sent{}, err
			}
			// The token's index is written with the record: receipts find
			// the message by it.
			return chatchannel.Sent{ChannelID: chatchannel.NumberID(tok), Record: sentRecord{State: chatchannel.StateSent, Token: tok},
				Also: map[string]any{ch.tokKey(tok): tokRecord{ID: m.ID, Ref: m.Ref}}}, nil
		},
		Unknown:  ErrUnknownOutcome,
		Refusals: []error{ErrNotSubscribed},
	})
}

// errorCode is the message log's code of a REST Bot API error.
func errorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return strconv.Itoa(ae.Status)
	}
	return ""
}

// receipt turns delivered/seen/failed into the message's status.
func (ch *Channel) receipt(ctx context.Context, ev Event) error {
	var rec tokRecord
	err := ch.o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, ch.tokKey(ev.MessageToken), &rec) })
	if errors.Is(err, store.ErrNotFound) {
		return nil // not ours (or sent before pbxgate)
	}
	if err != nil {
		return err
	}
	st := map[string]message.Status{"delivered": message.Delivered, "seen": message.Read, "failed": message.Failed}[ev.Event]
	if ch.o.Statuses == nil {
		return nil
	}
	out := message.StatusEvent{ID: rec.ID, Ref: rec.Ref, Status: st, ChannelID: strconv.FormatInt(ev.MessageToken, 10),
		Sender: ch.Status().Bot, Reason: ev.Desc, At: time.UnixMilli(ev.Timestamp)}
	return ch.o.Statuses.HandleStatus(ctx, out)
}

// transmit paces and sends one message, waiting on status 12.
func (ch *Channel) transmit(ctx context.Context, user, text string) (int64, error) {
	var last error
	wait := time.Second
	for range ch.o.MaxAttempts {
		if err := ch.cc.Pace.Wait(ctx, "", false); err != nil {
			return 0, err
		}
		sctx, cancel := context.WithTimeout(ctx, ch.o.RequestTimeout)
		tok, err := ch.client.SendMessage(sctx, user, Sender{Name: ch.senderName()}, text, "")
		timedOut := sctx.Err() != nil
		cancel()
		if errors.Is(err, ErrRateLimited) {
			ch.log.Warn("viber: rate limited (status 12); waiting", "for", wait)
			ch.cc.Pace.Hold(wait)
			wait *= 2
			last = err
			continue
		}
		if err != nil && timedOut && ctx.Err() == nil {
			return 0, fmt.Errorf("viber send_message: %w: timed out", ErrUnknownOutcome)
		}
		return tok, err
	}
	return 0, last
}
