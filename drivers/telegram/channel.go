package telegram

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// The ports the channel feeds (chatchannel): the inbox stores inbound
// messages before they are confirmed to Telegram (gateway/inbox.Inbox),
// the status sink takes each sent message's outcome, the journal is the
// message log, and OptOuts records a blocked bot as an opt-out
// (gateway/consent.Consent).
type (
	Inbox      = chatchannel.Inbox
	StatusSink = chatchannel.StatusSink
	Journal    = chatchannel.Journal
	OptOuts    = chatchannel.OptOuts
)

// WebhookPath is where the portal takes Telegram's webhook calls.
const WebhookPath = "/webhooks/telegram"

// SecretHeader carries setWebhook's secret_token on every webhook call.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Options configure a Channel.
type Options struct {
	Name    string // channel name; default "telegram"
	BaseURL string // DefaultBaseURL, a local Bot API server or tgemu
	Token   string
	// PublicURL is the portal's address on the internet (http.public_url):
	// set, updates come by webhook; empty, by long polling.
	PublicURL string
	// WebhookSecret is setWebhook's secret_token; empty: one is generated
	// and kept in the store.
	WebhookSecret string
	PollTimeout   time.Duration // getUpdates' long-poll wait; default 30 s
	// PerSecond is the bot's overall rate (Telegram: about 30 messages per
	// second); PerChat the gap between two messages to one chat (1 s).
	PerSecond      int
	PerChat        time.Duration
	MaxAttempts    int           // tries on 429; default 5
	RequestTimeout time.Duration // per sendMessage; default 20 s
	RetryPause     time.Duration // after a failed poll; default 5 s

	Store      *store.Store // required
	HTTPClient *http.Client
	Logger     *slog.Logger
	Inbox      Inbox
	Statuses   StatusSink
	Journal    Journal
}

// OptionsFromConfig maps the telegram section and the portal's public URL.
func OptionsFromConfig(c config.Telegram, publicURL string) Options {
	return Options{Name: c.Name, BaseURL: c.APIURL, Token: c.Token.Reveal(), WebhookSecret: c.WebhookSecret.Reveal(),
		PublicURL: publicURL, PerSecond: c.MessagesPerSecond, PollTimeout: c.PollTimeout}
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "telegram"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 30 * time.Second
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 30
	}
	if o.PerChat <= 0 {
		o.PerChat = time.Second
	}
	chatchannel.Defaults{MaxAttempts: &o.MaxAttempts, RequestTimeout: &o.RequestTimeout, RetryPause: &o.RetryPause,
		HTTPClient: &o.HTTPClient, Logger: &o.Logger}.Fill()
}

// Status is the channel's state for the portal's setup page.
type Status struct {
	Mode       string    `json:"mode"` // "polling" or "webhook"
	Bot        string    `json:"bot,omitempty"`
	WebhookURL string    `json:"webhook_url,omitempty"`
	LastOK     time.Time `json:"last_ok,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	Received   int64     `json:"received"`
	Sent       int64     `json:"sent"`
}

// Channel is one Telegram bot.
type Channel struct {
	o      Options
	client *Client
	log    *slog.Logger
	cc     *chatchannel.Parts[Subscriber] // pacer, outbox, subscribers, health, opt-outs

	smu    sync.Mutex
	status Status // Mode, Bot, WebhookURL; the counters are health's
	secret string
}

// New builds the channel; Run starts receiving.
func New(o Options) (*Channel, error) {
	o.defaults()
	if o.Store == nil {
		return nil, errors.New("telegram: Options.Store is required")
	}
	if o.Token == "" {
		return nil, errors.New("telegram: no bot token (telegram.token; create a bot with @BotFather)")
	}
	ch := &Channel{o: o, log: o.Logger, client: &Client{BaseURL: o.BaseURL, Token: o.Token, HTTP: o.HTTPClient}}
	ch.cc = chatchannel.NewParts[Subscriber](chatchannel.Outbox{Store: o.Store, Prefix: ch.keyPrefix(), Kind: message.Telegram,
		Name: "telegram", Service: "Telegram", Journal: o.Journal, Statuses: o.Statuses, Log: o.Logger,
		Sender: func() string { return ch.Status().Bot }, Code: errorCode},
		o.PerSecond, o.PerChat, func(s string) string { return redact(s, o.Token) })
	ch.status.Mode = "polling"
	if o.PublicURL != "" {
		ch.status.Mode = "webhook"
		ch.status.WebhookURL = strings.TrimRight(o.PublicURL, "/") + WebhookPath
	}
	secret, err := ch.loadSecret()
	if err != nil {
		return nil, err
	}
	ch.secret = secret
	return ch, nil
}

// UseOptOuts sets where blocked bots are recorded (built after the
// channels); call before Run.
func (ch *Channel) UseOptOuts(o OptOuts) { ch.cc.OptOuts.Use(o) }

// Name is the configured channel name.
func (ch *Channel) Name() string { return ch.o.Name }

// Kind is message.Telegram.
func (ch *Channel) Kind() message.Kind { return message.Telegram }

// MaxPerMinute is the bot's overall rate.
func (ch *Channel) MaxPerMinute() int { return ch.o.PerSecond * 60 }

// ResendSafe: a message's record survives a restart, so it is never sent
// twice.
func (ch *Channel) ResendSafe() bool { return true }

// NormalizeAddress reads a campaign recipient: a chat id, with or without
// "tg".
func (ch *Channel) NormalizeAddress(s string) (string, error) {
	id, err := ParseChatID(s)
	if err != nil {
		return "", err
	}
	return Address(id), nil
}

// Client is the Bot API client (the portal's connection test).
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

func (ch *Channel) loadSecret() (string, error) {
	if ch.o.WebhookSecret != "" {
		return ch.o.WebhookSecret, nil
	}
	key := ch.keyPrefix() + "secret"
	var s string
	err := ch.o.Store.Update(func(txn *store.Txn) error {
		if err := store.GetJSON(txn, key, &s); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var b [24]byte
		_, _ = rand.Read(b[:])
		s = hex.EncodeToString(b[:]) // secret_token allows A-Z, a-z, 0-9, _ and -
		return store.SetJSON(txn, key, s)
	})
	if err != nil {
		return "", fmt.Errorf("telegram: webhook secret: %w", err)
	}
	return s, nil
}

// Run receives updates until ctx ends: by webhook when a public URL is
// set (it registers the webhook and the portal serves Webhook), by long
// polling otherwise.
func (ch *Channel) Run(ctx context.Context) error {
	if me, err := ch.client.GetMe(ctx); err == nil {
		ch.smu.Lock()
		ch.status.Bot = me.Username
		ch.smu.Unlock()
	} else if ctx.Err() == nil {
		ch.log.Error("telegram: the bot does not answer; check telegram.token", "err", redact(err.Error(), ch.o.Token))
		ch.noteErr(err)
	}
	if ch.o.PublicURL != "" {
		return ch.runWebhook(ctx)
	}
	return ch.runPolling(ctx)
}

func (ch *Channel) runWebhook(ctx context.Context) error {
	url := ch.Status().WebhookURL
	set := func(ctx context.Context) error { return ch.client.SetWebhook(ctx, url, ch.secret) }
	if chatchannel.Retry(ctx, ch.o.RetryPause, set, func(err error) {
		ch.noteErr(err)
		ch.log.Error("telegram: setWebhook failed; retrying", "url", url, "err", redact(err.Error(), ch.o.Token))
	}) {
		ch.noteOK()
		ch.log.Info("telegram: webhook registered", "url", url)
		<-ctx.Done()
	}
	return nil
}

func (ch *Channel) runPolling(ctx context.Context) error {
	// getUpdates refuses to work while a webhook is set (409): polling mode
	// removes one a previous configuration left.
	if err := ch.client.DeleteWebhook(ctx); err != nil && ctx.Err() == nil {
		ch.log.Warn("telegram: deleteWebhook failed", "err", redact(err.Error(), ch.o.Token))
	}
	var offset int64
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, ch.o.PollTimeout+15*time.Second)
		ups, err := ch.client.GetUpdates(pctx, offset, ch.o.PollTimeout, 100)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			ch.noteErr(err)
			wait := ch.o.RetryPause
			var ae *APIError
			if errors.As(err, &ae) && ae.RetryAfter > 0 {
				wait = ae.RetryAfter
			}
			if errors.Is(err, ErrConflict) {
				ch.log.Error("telegram: getUpdates conflict: another program polls this bot or a webhook is set", "err", err)
				_ = ch.client.DeleteWebhook(ctx)
			} else {
				ch.log.Warn("telegram: getUpdates failed; retrying", "err", redact(err.Error(), ch.o.Token), "in", wait)
			}
			if !chatchannel.Sleep(ctx, wait) {
				return nil
			}
			continue
		}
		ch.noteOK()
		for _, u := range ups {
			if err := ch.handleUpdate(ctx, u); err != nil {
				// Not confirmed: the next getUpdates asks from this
				// update on, so Telegram hands it over again.
				ch.log.Warn("telegram: update not stored; asking for it again", "update", u.UpdateID, "err", err)
				chatchannel.Sleep(ctx, ch.o.RetryPause)
				break
			}
			offset = u.UpdateID + 1
		}
	}
	return nil
}

// Webhook serves Telegram's webhook calls: the secret header must match,
// and the update is stored before the 200 answer confirms it.
func (ch *Channel) Webhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !chatchannel.PostOnly(w, r) {
			return
		}
		if !equalSecret(r.Header.Get(SecretHeader), ch.secret) {
			ch.log.Warn("telegram: webhook call without the right secret token refused", "remote", r.RemoteAddr)
			http.Error(w, "wrong or missing "+SecretHeader, http.StatusUnauthorized)
			return
		}
		var u Update
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, chatchannel.MaxWebhookBody)).Decode(&u); err != nil {
			http.Error(w, "not a Telegram update: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := ch.handleUpdate(r.Context(), u); err != nil {
			ch.log.Warn("telegram: webhook update not stored; Telegram will retry", "update", u.UpdateID, "err", err)
			chatchannel.NotStored(w)
			return
		}
		ch.noteOK()
		w.WriteHeader(http.StatusOK)
	})
}

func equalSecret(got, want string) bool {
	if len(got) != len(want) || want == "" {
		return false
	}
	var d byte
	for i := range len(got) {
		d |= got[i] ^ want[i]
	}
	return d == 0
}

// handleUpdate turns an update into an inbound message (or an opt-out)
// and stores it; nil means it may be confirmed.
func (ch *Channel) handleUpdate(ctx context.Context, u Update) error {
	if mc := u.MyChatMember; mc != nil {
		if mc.Chat.Type == "private" && mc.NewChatMember.Status == "kicked" {
			return ch.blocked(ctx, mc.Chat.ID, "user blocked the bot")
		}
		return nil
	}
	m := u.Message
	if m == nil || m.Chat.Type != "private" {
		return nil // edits, groups and channels are not conversations here
	}
	in, ok := ch.inbound(m)
	if !ok {
		return nil
	}
	if err := ch.remember(m, in.Payload); err != nil {
		return err
	}
	return ch.cc.Health.Accept(ctx, ch.o.Inbox, in)
}

// inbound converts a private message. "/start" (also "/start <payload>"
// from a t.me/<bot>?start=<payload> link) is the opt-in keyword START,
// "/stop" the opt-out keyword STOP.
func (ch *Channel) inbound(m *Message) (message.Inbound, bool) {
	in := message.Inbound{
		ID:       "tg-" + strconv.FormatInt(m.Chat.ID, 10) + "-" + strconv.FormatInt(m.MessageID, 10),
		Kind:     message.Telegram,
		Channel:  ch.o.Name,
		Receiver: ch.Status().Bot,
		From:     Address(m.Chat.ID),
		Name:     strings.TrimSpace(m.Chat.FirstName + " " + m.Chat.LastName),
		At:       time.Unix(m.Date, 0).UTC(),
	}
	switch {
	case m.Text != "":
		in.Text = m.Text
		cmd, arg, _ := strings.Cut(m.Text, " ")
		cmd, _, _ = strings.Cut(cmd, "@") // "/start@pbxgate_bot" in a menu
		switch strings.ToLower(cmd) {
		case "/start":
			in.Text, in.Payload = "START", strings.TrimSpace(arg)
		case "/stop":
			in.Text = "STOP"
		}
	case len(m.Photo) > 0:
		in.MediaType, in.MediaID, in.Text = "image", m.Photo[len(m.Photo)-1].FileID, m.Caption
	case m.Document != nil:
		in.MediaType, in.MediaID, in.Text = "document", m.Document.FileID, m.Caption
		if in.Text == "" {
			in.Text = m.Document.FileName
		}
	case m.Location != nil:
		in.MediaType = "location"
		in.Text = fmt.Sprintf("%.6f, %.6f", m.Location.Latitude, m.Location.Longitude)
	case m.Contact != nil:
		in.MediaType = "contact"
		in.Text = strings.TrimSpace(strings.TrimSpace(m.Contact.FirstName+" "+m.Contact.LastName) + " " + m.Contact.PhoneNumber)
	default:
		in.Unsupported = "this kind of Telegram message is not shown here"
		in.Text = "(unsupported Telegram message)"
	}
	return in, true
}

// Subscriber is a chat that wrote to the bot: campaigns reach it by its id.
type Subscriber struct {
	ChatID   int64     `json:"chat_id"`
	Name     string    `json:"name,omitempty"`
	Username string    `json:"username,omitempty"`
	Payload  string    `json:"payload,omitempty"` // the deep link it came from
	First    time.Time `json:"first"`
	Changed  time.Time `json:"changed"` // last change of name, link or block
	Blocked  bool      `json:"blocked,omitempty"`
}

func chatKey(id int64) string { return strconv.FormatInt(id, 10) }

func (ch *Channel) remember(m *Message, payload string) error {
	now := time.Now().UTC()
	name := strings.TrimSpace(m.Chat.FirstName + " " + m.Chat.LastName)
	return ch.cc.Subs.Edit(chatKey(m.Chat.ID), func(s *Subscriber, _ bool) bool {
		if s.ChatID != 0 && s.Name == name && s.Username == m.Chat.Username && !s.Blocked && (payload == "" || payload == s.Payload) {
			return false
		}
		if s.ChatID == 0 {
			*s = Subscriber{ChatID: m.Chat.ID, First: now}
		}
		s.Name, s.Username, s.Changed, s.Blocked = name, m.Chat.Username, now, false
		if payload != "" {
			s.Payload = payload
		}
		return true
	})
}

// Subscribers lists the chats that wrote to the bot.
func (ch *Channel) Subscribers(ctx context.Context) ([]Subscriber, error) {
	return ch.cc.Subs.List(ctx)
}

// blocked records that chat blocked the bot: an opt-out, and the
// subscriber is marked.
func (ch *Channel) blocked(ctx context.Context, chat int64, why string) error {
	if err := ch.cc.OptOuts.OptOut(ctx, Address(chat), "telegram: "+why, ch.o.Name); err != nil {
		return err
	}
	return ch.cc.Subs.Edit(chatKey(chat), func(s *Subscriber, found bool) bool {
		s.Blocked = true
		return found
	})
}

// TextLen counts text as Telegram's 4096 limit does (UTF-16 code units).
func TextLen(text string) int { return len(utf16.Encode([]rune(text))) }

// SendText sends free text (the automation's replies).
func (ch *Channel) SendText(ctx context.Context, id, to, text string) error {
	return ch.Send(ctx, message.Outbound{ID: id, Channel: ch.o.Name, To: to, Text: text})
}

// sentRecord is the outbox record of a sent message (a stored shape:
// {"state":"sent","message_id":…}).
type sentRecord struct {
	State     string `json:"state"`
	MessageID int64  `json:"message_id,omitempty"`
}

func (ch *Channel) keyPrefix() string { return "telegram/" + ch.o.Name + "/" }

// Send sends m.Text to the chat m.To. It is idempotent by m.ID, also
// across restarts: a message whose send was cut short is reported unknown,
// never resent. A message Telegram refuses for good (blocked, chat not
// found, too long) returns an error wrapping campaign.ErrRejected; a
// blocked bot also becomes an opt-out. Sent messages are reported to the
// status sink (Telegram has no delivery reports: sent is final).
func (ch *Channel) Send(ctx context.Context, m message.Outbound) error {
	if m.Channel == "" {
		m.Channel = ch.o.Name
	}
	chat, err := ParseChatID(m.To)
	if err != nil {
		return fmt.Errorf("%w: %w", campaign.ErrRejected, err)
	}
	if err := chatchannel.CheckText(m.Text, TextLen(m.Text), MaxTextLen, ErrTooLong); err != nil {
		return err
	}
	m.To = Address(chat)
	return ch.cc.Outbox.Send(ctx, m, chatchannel.Attempt{
		Transmit: func(ctx context.Context) (chatchannel.Sent, error) {
			sent, err := ch.transmit(ctx, chat, m.Text, m.Class == message.Bulk)
			if err != nil {
				return chatchannel.Sent{}, err
			}
			return chatchannel.Sent{ChannelID: chatchannel.NumberID(sent.MessageID), Record: sentRecord{State: chatchannel.StateSent, MessageID: sent.MessageID}}, nil
		},
		Unknown:  ErrUnknownOutcome,
		Refusals: []error{ErrBlocked, ErrChatNotFound, ErrTooLong},
		Refused: func(ctx context.Context, err error) {
			if !errors.Is(err, ErrBlocked) {
				return
			}
			if berr := ch.blocked(context.WithoutCancel(ctx), chat, "bot was blocked by the user"); berr != nil {
				ch.log.Error("telegram: opt-out of a blocked bot not recorded", "chat", chat, "err", berr)
			}
		},
	})
}

// errorCode is the message log's code of a Bot API error.
func errorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return strconv.Itoa(ae.Code)
	}
	return ""
}

// transmit paces and sends one message, waiting out 429s.
func (ch *Channel) transmit(ctx context.Context, chat int64, text string, bulk bool) (Message, error) {
	var last error
	for range ch.o.MaxAttempts {
		if err := ch.cc.Pace.Wait(ctx, chatKey(chat), bulk); err != nil {
			return Message{}, err
		}
		sctx, cancel := context.WithTimeout(ctx, ch.o.RequestTimeout)
		m, err := ch.client.SendMessage(sctx, chat, text)
		timedOut := sctx.Err() != nil
		cancel()
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == http.StatusTooManyRequests {
			wait := ae.RetryAfter
			if wait <= 0 {
				wait = time.Second
			}
			ch.log.Warn("telegram: rate limited; waiting as Telegram asks", "retry_after", wait)
			ch.cc.Pace.Hold(wait)
			last = err
			continue
		}
		if err != nil && timedOut && ctx.Err() == nil {
			return Message{}, fmt.Errorf("telegram sendMessage: %w: timed out", ErrUnknownOutcome)
		}
		return m, err
	}
	return Message{}, last
}
