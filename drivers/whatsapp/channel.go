// Package whatsapp is pbxgate's WhatsApp Business Cloud API channel: a
// client that sends text, media, location and template messages within
// Meta's limits, a webhook handler that receives inbound messages and
// statuses, and the bookkeeping that ties them to pbxgate's message IDs.
//
// Everything that must survive a restart lives in the store under "wa/":
// sent-message records, the 24-hour service window per contact, the
// messaging-limit tier count, the template copy and the webhook queue.
package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// StatusSink receives status changes of sent messages (from webhooks). An
// error leaves the notification queued; it is offered again later.
type StatusSink interface {
	HandleStatus(ctx context.Context, ev message.StatusEvent) error
}

// Journal records every message the channel takes on (the daemon's message
// log). Outbound is called once the channel accepts a message, before it
// goes to Meta (an error refuses the message: it is not sent unrecorded);
// Status reports outcomes no webhook will (refused by Meta or by the
// channel's own checks, outcome unknown). Both must be idempotent by ID.
type Journal interface {
	Outbound(ctx context.Context, kind message.Kind, o message.Outbound, summary string) error
	Status(ctx context.Context, ev message.StatusEvent) error
}

// StatusFunc adapts a function to StatusSink.
type StatusFunc func(ctx context.Context, ev message.StatusEvent) error

// HandleStatus calls f.
func (f StatusFunc) HandleStatus(ctx context.Context, ev message.StatusEvent) error {
	return f(ctx, ev)
}

// Options configure a Channel. OptionsFromConfig fills them from the
// configuration file; zero tunables take the defaults noted.
type Options struct {
	Name              string // channel name in events; default "whatsapp"
	BaseURL           string // https://graph.facebook.com or the emulator
	APIVersion        string // v23.0
	PhoneNumberID     string
	BusinessAccountID string
	Token             string
	AppSecret         string
	VerifyToken       string
	// DisplayName is how the portal names this number ("Service",
	// "+49 30 1234567"); default the channel name.
	DisplayName string
	// Language ("de" or "en", default "en") is the language of the texts
	// pbxgate writes in place of content it cannot show (shared contact,
	// order, removed reaction, unsupported or unreadable message).
	Language string
	// StoreScope separates this number's windows, tier count, state and
	// webhook queue from other numbers' in the shared store; "" for the
	// first (or only) number. Set it to the phone number id for others.
	StoreScope string

	MessagesPerSecond int // per-number throughput; default 80
	// Tier is the messaging limit (unique users outside the service window
	// per rolling 24 h): 250, 2000, 10000, 100000; 0 is unlimited.
	Tier                 int
	TemplateSyncInterval time.Duration // 0: only on demand
	// PhoneInfoInterval is how often the number's quality rating,
	// messaging limit tier, name status and throughput are read from Meta
	// (also once at start); default 1 h, negative: never.
	PhoneInfoInterval time.Duration

	PairInterval     time.Duration // pair rate per recipient; default 6 s
	PairBurst        int           // messages to one user before pacing; default 2
	MaxAttempts      int           // tries per message for retryable errors; default 5
	RequestTimeout   time.Duration // per HTTP request; default 20 s
	MaxWebhookBody   int64         // bytes; default 3 MiB
	MediaMaxBytes    int64         // inbound media download limit; default 16 MiB
	SeenTTL          time.Duration // webhook de-duplication memory; default 8 days (Meta retries 7)
	TemplatePageSize int           // templates per listing page; default 100
	WebhookRetry     time.Duration // pause after a sink refused a notification; default 5 s

	Store      *store.Store // required
	HTTPClient *http.Client
	Clock      Clock
	Logger     *slog.Logger
	Statuses   StatusSink
	Inbox      Inbox // stores inbound messages; nil: they are dropped
	// Journal records the messages the channel sends; nil: none.
	Journal Journal
	// Registerer receives the channel's metrics; nil: not registered.
	Registerer prometheus.Registerer
}

// OptionsFromConfig maps the whatsapp section of the configuration.
func OptionsFromConfig(c config.WhatsApp) Options {
	return Options{
		BaseURL:              c.BaseURL,
		APIVersion:           c.APIVersion,
		PhoneNumberID:        c.PhoneNumberID,
		BusinessAccountID:    c.BusinessID,
		Token:                c.Token.Reveal(),
		AppSecret:            c.AppSecret.Reveal(),
		VerifyToken:          c.VerifyToken.Reveal(),
		MessagesPerSecond:    c.Throughput,
		Tier:                 c.Tier,
		TemplateSyncInterval: c.TemplateSync,
		RequestTimeout:       c.RequestTimeout,
		MediaMaxBytes:        c.MediaMaxBytes,
		MaxWebhookBody:       c.WebhookMaxBytes,
		DisplayName:          c.DisplayName,
		Language:             c.Language,
	}
}

// NumberOptions are the options of whatsapp.numbers[i]: the account's,
// with the number's id, channel name, display name, store scope and, where
// set, its own throughput and tier.
func NumberOptions(c config.WhatsApp, i int) Options {
	n := c.Numbers[i]
	o := OptionsFromConfig(c)
	o.Name, o.PhoneNumberID, o.DisplayName, o.StoreScope = n.Channel, n.PhoneNumberID, n.DisplayName, n.PhoneNumberID
	if n.Throughput > 0 {
		o.MessagesPerSecond = n.Throughput
	}
	switch {
	case n.Tier > 0:
		o.Tier = n.Tier
	case n.Tier < 0:
		o.Tier = 0 // unlimited
	}
	return o
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "whatsapp"
	}
	if o.APIVersion == "" {
		o.APIVersion = "v23.0"
	}
	if o.MessagesPerSecond <= 0 {
		o.MessagesPerSecond = 80
	}
	if o.PairInterval <= 0 {
		o.PairInterval = 6 * time.Second
	}
	if o.PairBurst <= 0 {
		o.PairBurst = 2
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 20 * time.Second
	}
	if o.MaxWebhookBody <= 0 {
		o.MaxWebhookBody = config.DefaultWebhookMaxBytes
	}
	if o.DisplayName == "" {
		o.DisplayName = o.Name
	}
	if o.MediaMaxBytes <= 0 {
		o.MediaMaxBytes = 16 << 20
	}
	if o.WebhookRetry <= 0 {
		o.WebhookRetry = 5 * time.Second
	}
	if o.PhoneInfoInterval == 0 {
		o.PhoneInfoInterval = time.Hour
	}
	if o.SeenTTL <= 0 {
		o.SeenTTL = 8 * 24 * time.Hour
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Health is the channel's state for the portal and /readyz.
type Health struct {
	// State is "ok", "stopped" (needs the administrator) or "waiting" (a
	// limit holds messages back; they go out by themselves later).
	State string    `json:"state"`
	Code  int       `json:"code,omitempty"` // Meta's error code that stopped it
	Since time.Time `json:"since,omitzero"`
	// Reason tells the administrator what happened and what to do.
	Reason string `json:"reason,omitempty"`
	// TierUsed counts unique users reached outside the service window in
	// the last 24 h; TierLimit is the configured tier (0: unlimited).
	TierUsed  int `json:"tier_used"`
	TierLimit int `json:"tier_limit"`
	// Quality is the number's quality rating as Meta last said (GREEN,
	// YELLOW, RED, NA; "" not read yet); NumberStatus its status
	// (CONNECTED, FLAGGED, RESTRICTED …).
	Quality      string `json:"quality,omitempty"`
	NumberStatus string `json:"number_status,omitempty"`
}

// Record is what the store keeps about one sent message.
type Record struct {
	ID      string         `json:"id"`
	Ref     string         `json:"ref,omitempty"`
	To      string         `json:"to"`
	Type    string         `json:"type"`
	WAMID   string         `json:"wamid,omitempty"`
	Status  message.Status `json:"status"`
	Code    int            `json:"code,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Updated time.Time      `json:"updated"`
}

// storeKeys are the key prefixes of what belongs to one phone number:
// its stopped state, service windows, messaging-limit count and webhook
// queue. The first number keeps the unscoped keys ("wa/win/" …); a number
// with Options.StoreScope set uses "wa/n/<scope>/win/" and so on. Sent
// records, wamids, templates, media and user ids are unique by their own
// ids and shared.
type storeKeys struct {
	state, window, tier, limit, queue, bad string
}

func keysFor(scope string) storeKeys {
	if scope == "" {
		return storeKeys{state: keyState, window: keyWindow, tier: keyTier, limit: "wa/tierlimit", queue: keyQueue, bad: keyBad}
	}
	p := "wa/n/" + scope + "/"
	return storeKeys{state: p + "state", window: p + "win/", tier: p + "tier/", limit: p + "tierlimit", queue: p + "whq/", bad: p + "whbad/"}
}

const (
	keyOut   = "wa/out/"   // + our id → Record
	keyWAMID = "wa/wamid/" // + wamid → our id
	keyState = "wa/state"  // stopped Health, survives restarts
)

// Channel is the WhatsApp channel: Send/SendMessage for campaigns and
// sessions, Webhook for Meta's notifications, Run for the background work.
type Channel struct {
	o         Options
	keys      storeKeys
	client    *Client
	log       *slog.Logger
	clk       Clock
	contacts  *contacts
	templates *Templates
	wire      *wirePacer
	pairs     *pairLimiter
	hook      *webhook
	// group is set when several numbers of the account are served
	// together (NewNumbers): one webhook, replies from the right number.
	group atomic.Pointer[Numbers]
	// display is the number's display phone number as Meta's metadata
	// gives it (string; learnt from inbound messages).
	display   atomic.Value
	signalsMu sync.Mutex
	metrics   *metrics
	phone     phoneState
	// typing: when ShowTyping last showed the indicator, per wamid.
	typingMu sync.Mutex
	typing   map[string]time.Time

	mu      sync.Mutex
	stopped *Health // non-nil: stopped until Resume
	waiting *LimitError
}

// New creates the channel. It loads the persisted state but starts nothing;
// call Run.
func New(o Options) (*Channel, error) {
	o.defaults()
	if o.Store == nil {
		return nil, errors.New("whatsapp: no store")
	}
	if o.BaseURL == "" || o.PhoneNumberID == "" {
		return nil, errors.New("whatsapp: base_url and phone_number_id are required")
	}
	if o.MessagesPerSecond > 1000 {
		return nil, fmt.Errorf("whatsapp: %d messages per second is above Meta's maximum of 1000", o.MessagesPerSecond)
	}
	if o.HTTPClient == nil {
		// Parallel senders need as many idle connections; Go's default of
		// two per host would dial for almost every message at 1000/s.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		o.HTTPClient = &http.Client{Transport: t}
	}
	ch := &Channel{
		o:      o,
		client: newClient(o.BaseURL, o.APIVersion, o.PhoneNumberID, o.BusinessAccountID, o.Token, o.HTTPClient, o.RequestTimeout),
		log:    o.Logger.With("channel", o.Name),
		clk:    o.Clock,
		wire:   newWirePacer(o.Clock, o.MessagesPerSecond),
		pairs:  newPairLimiter(o.PairInterval, o.PairBurst),
	}
	var err error
	ch.keys = keysFor(o.StoreScope)
	if ch.contacts, err = newContacts(o.Store, o.Tier, ch.keys); err != nil {
		return nil, err
	}
	if ch.templates, err = newTemplates(o.Store, ch.client, ch.log, o.Clock.Now); err != nil {
		return nil, err
	}
	ch.templates.onStop = ch.stop
	if o.TemplatePageSize > 0 {
		ch.templates.pageSize = o.TemplatePageSize
	}
	var h Health
	err = o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, ch.keys.state, &h) })
	switch {
	case err == nil && h.State == "stopped":
		ch.stopped = &h
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("whatsapp: load state: %w", err)
	}
	if err := ch.loadPhone(); err != nil {
		return nil, err
	}
	ch.hook = newWebhook(ch)
	if ch.metrics, err = newMetrics(ch, o.Registerer); err != nil {
		return nil, err
	}
	return ch, nil
}

// Client returns the low-level API client (media upload and download).
func (ch *Channel) Client() *Client { return ch.client }

// Templates returns the local template copy.
func (ch *Channel) Templates() *Templates { return ch.templates }

// Webhook returns the handler for Meta's webhook (GET handshake, POST
// notifications). Mount it at WebhookPath on the portal's server.
func (ch *Channel) Webhook() http.Handler {
	if g := ch.group.Load(); g != nil {
		return g
	}
	return ch.hook
}

// WebhookPath is where the portal mounts Webhook; the callback URL to
// paste into Meta's app settings is public_url + WebhookPath.
const WebhookPath = "/webhooks/whatsapp"

// Run processes stored webhook notifications and synchronises templates
// until ctx ends.
func (ch *Channel) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { ch.templates.run(ctx, ch.o.TemplateSyncInterval) })
	wg.Go(func() { ch.hook.run(ctx) })
	wg.Go(func() { ch.runPhone(ctx, ch.o.PhoneInfoInterval) })
	wg.Wait()
	return nil
}

// Health returns the channel's state.
func (ch *Channel) Health() Health {
	now := ch.clk.Now()
	h := Health{State: "ok", TierUsed: ch.contacts.tierUsage(now), TierLimit: ch.contacts.limit()}
	if ps := ch.Phone(); ps.Known {
		h.Quality, h.NumberStatus = ps.Info.QualityRating, ps.Info.Status
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	switch {
	case ch.stopped != nil:
		s := *ch.stopped
		s.TierUsed, s.TierLimit, s.Quality, s.NumberStatus = h.TierUsed, h.TierLimit, h.Quality, h.NumberStatus
		return s
	case ch.waiting != nil && now.Before(ch.waiting.RetryAt):
		h.State, h.Reason, h.Since = "waiting", ch.waiting.Error(), now
	}
	return h
}

// Resume clears a stop (after the administrator fixed the token or the
// quality problem).
func (ch *Channel) Resume() error {
	ch.mu.Lock()
	ch.stopped = nil
	ch.mu.Unlock()
	err := ch.o.Store.Update(func(txn *store.Txn) error { return txn.Delete([]byte(ch.keys.state)) })
	ch.log.Info("whatsapp channel resumed")
	return err
}

func (ch *Channel) stop(e *APIError) {
	h := Health{State: "stopped", Code: e.Code, Since: ch.clk.Now(), Reason: e.Error()}
	ch.mu.Lock()
	ch.stopped = &h
	ch.mu.Unlock()
	if err := ch.o.Store.Update(func(txn *store.Txn) error { return store.SetJSON(txn, ch.keys.state, h) }); err != nil {
		ch.log.Error("whatsapp: cannot store stopped state", "err", err)
	}
	ch.log.Error("whatsapp channel stopped; the administrator must act, then resume it", "code", e.Code, "reason", e.Error())
}

func (ch *Channel) stoppedErr() error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.stopped == nil {
		return nil
	}
	return fmt.Errorf("%w since %s: %s", ErrChannelStopped, ch.stopped.Since.UTC().Format(time.RFC3339), ch.stopped.Reason)
}

// InWindow reports whether free-form messages may be sent to contact now.
func (ch *Channel) InWindow(contact string) (bool, error) {
	to, err := ch.contacts.resolve(normalizeTo(contact))
	if err != nil {
		return false, err
	}
	return ch.contacts.inWindow(to, ch.clk.Now())
}

// OpenWindows counts contacts who may receive free-form messages now (for
// the portal's status page).
func (ch *Channel) OpenWindows() (int, error) { return ch.contacts.openWindows(ch.clk.Now()) }

// Send sends an Outbound's text as a free-form message (sessions, replies
// inside the service window). The record (and later the wamid) is stored
// before it returns; Record(o.ID) reads it. Same rules as SendMessage.
func (ch *Channel) Send(ctx context.Context, o message.Outbound) error {
	_, err := ch.SendID(ctx, o)
	return err
}

// SendID is Send that also returns the wamid Meta gave the message (a
// chat session keeps it on the reply, so a customer's quote of the reply
// — context.id — finds it).
func (ch *Channel) SendID(ctx context.Context, o message.Outbound) (string, error) {
	// A session or campaign names its channel: with several numbers that
	// is the number it leaves from.
	// A quoted message (o.ReplyTo) becomes Meta's context.message_id.
	m := Text(o.Text)
	m.ReplyTo = o.ReplyTo
	if g := ch.group.Load(); g != nil && o.Channel != "" && o.Channel != ch.o.Name {
		if t := g.byName[o.Channel]; t != nil {
			return t.sendHere(ctx, o.ID, o.Ref, o.To, classOf(o), m)
		}
	}
	return ch.sendHere(ctx, o.ID, o.Ref, o.To, classOf(o), m)
}

// Numbers is the group of numbers this channel is served with, or nil.
func (ch *Channel) Numbers() *Numbers { return ch.group.Load() }

// PhoneNumberID is Meta's id of this channel's number.
func (ch *Channel) PhoneNumberID() string { return ch.o.PhoneNumberID }

// DisplayName is how the portal names this number.
func (ch *Channel) DisplayName() string { return ch.o.DisplayName }

// Name is the channel's configured name.
func (ch *Channel) Name() string { return ch.o.Name }

// Kind is message.WhatsApp.
func (ch *Channel) Kind() message.Kind { return message.WhatsApp }

// MaxPerMinute is the configured throughput per minute.
func (ch *Channel) MaxPerMinute() int { return ch.o.MessagesPerSecond * 60 }

// Senders lists the channel's one number (its phone-number id).
func (ch *Channel) Senders() []string { return []string{ch.o.PhoneNumberID} }

// ResendSafe is true: the id → wamid records are in the store, so a send
// repeated after a restart is recognised and not transmitted again.
func (ch *Channel) ResendSafe() bool { return true }

// IsMessageError reports whether err concerns only that one message (bad
// number, outside the window, template or content refused): the caller
// fails it and goes on. Other errors (channel stopped, limits, Meta not
// reachable, unknown outcome) concern the channel.
func IsMessageError(err error) bool {
	if errors.Is(err, ErrChannelStopped) || errors.Is(err, ErrTierLimit) || errors.Is(err, ErrUnknownOutcome) {
		return false
	}
	return errors.Is(err, ErrInvalidMessage) || errors.Is(err, ErrOutsideWindow) ||
		errors.Is(err, ErrTemplate) || errors.Is(err, ErrPermanent)
}

// SendTemplate sends template name in language lang with body variables
// in order (and optional header and buttons) under pbxgate's id, with the
// Outbound's id, ref and recipient; it returns the wamid.
func (ch *Channel) SendTemplate(ctx context.Context, o message.Outbound, name, lang string, components ...TemplateComponent) (string, error) {
	return ch.send(ctx, o.ID, o.Ref, o.To, classOf(o), TemplateMessage(name, lang, components...))
}

// SendMessage sends m to recipient to (E.164 with or without +, or a
// business-scoped user id seen in a webhook) under pbxgate's message id,
// and returns the wamid.
//
// It waits for the throughput and pair-rate limits (until ctx ends),
// retries retryable errors with backoff, and never sends an id twice: an
// id already accepted returns its wamid again, one whose outcome is unknown
// returns ErrUnknownOutcome. Errors: ErrInvalidMessage, ErrOutsideWindow,
// ErrTemplate, ErrTierLimit (*LimitError with RetryAt), ErrChannelStopped,
// ErrUnknownOutcome, or *APIError (ErrPermanent / ErrRetryable).
// Statuses follow through the StatusSink.
func (ch *Channel) SendMessage(ctx context.Context, id, to string, m Message) (string, error) {
	return ch.SendClassed(ctx, id, to, message.Interactive, m)
}

// SendClassed is SendMessage in scheduling class c: Bulk waits in the
// pacer behind every Interactive request.
func (ch *Channel) SendClassed(ctx context.Context, id, to string, c message.Class, m Message) (string, error) {
	return ch.send(ctx, id, "", to, classOf(message.Outbound{ID: id, Class: c}), m)
}

// send sends m from this number or, for a free-form message, from the
// number of the account the contact wrote to last (see Numbers.pick).
func (ch *Channel) send(ctx context.Context, id, ref, to string, cls class, m Message) (string, error) {
	if g := ch.group.Load(); g != nil && m.freeForm() {
		return g.pick(ch, to).sendHere(ctx, id, ref, to, cls, m)
	}
	return ch.sendHere(ctx, id, ref, to, cls, m)
}

func (ch *Channel) sendHere(ctx context.Context, id, ref, to string, cls class, m Message) (string, error) {
	if id == "" {
		return "", fmt.Errorf("%w: no message id", ErrInvalidMessage)
	}
	if err := ch.stoppedErr(); err != nil {
		return "", err
	}
	to, err := ch.contacts.resolve(normalizeTo(to))
	if err != nil {
		return "", err
	}
	req, err := m.request(to, id)
	if err != nil {
		return "", err
	}
	prev, err := ch.record(id)
	switch {
	case err == nil && prev.WAMID != "":
		return prev.WAMID, nil
	case err == nil && (prev.Status == message.Sending || prev.Status == message.Unknown):
		return "", fmt.Errorf("%w: message %s was handed to Meta before without an answer; check WhatsApp Manager before sending it again", ErrUnknownOutcome, id)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	if j := ch.o.Journal; j != nil {
		o := message.Outbound{ID: id, Channel: ch.o.Name, Sender: ch.o.PhoneNumberID, To: to, Text: m.Text, Ref: ref}
		if err := j.Outbound(ctx, message.WhatsApp, o, m.summary()); err != nil {
			return "", fmt.Errorf("whatsapp: message log: %w", err)
		}
	}
	wamid, err := ch.checkAndDeliver(ctx, id, ref, to, cls, m, req)
	if err != nil && ch.o.Journal != nil {
		ch.journalFailure(ctx, id, ref, err)
	}
	return wamid, err
}

// journalFailure tells the journal how a message it recorded ended when no
// webhook will: refused (the caller fails it) or with an unknown outcome.
// Other errors (limits, the channel stopped, Meta unreachable) leave the
// message to be sent again under its ID.
func (ch *Channel) journalFailure(ctx context.Context, id, ref string, err error) {
	ev := message.StatusEvent{ID: id, Ref: ref, Reason: err.Error(), ReasonCode: message.ReasonOf(err), At: ch.clk.Now()}
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		ev.Status = message.Unknown
	case IsMessageError(err):
		ev.Status = message.Failed
	default:
		return
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		ev.Code = strconv.Itoa(apiErr.Code)
	}
	if jerr := ch.o.Journal.Status(ctx, ev); jerr != nil {
		ch.log.Warn("whatsapp: message log: outcome not recorded", "id", id, "status", ev.Status, "err", jerr)
	}
}

// checkAndDeliver applies the service window, template and messaging-limit
// rules, then delivers.
func (ch *Channel) checkAndDeliver(ctx context.Context, id, ref, to string, cls class, m Message, req *SendRequest) (string, error) {
	now := ch.clk.Now()
	inWin, err := ch.contacts.inWindow(to, now)
	if err != nil {
		return "", err
	}
	var tierAt time.Time
	if m.freeForm() {
		if !inWin {
			return "", fmt.Errorf("%w (to %s)", ErrOutsideWindow, to)
		}
	} else {
		if err := ch.templates.Check(ctx, req.Template); err != nil {
			return "", err
		}
		if !inWin {
			if err := ch.contacts.reserveTier(to, now); err != nil {
				var le *LimitError
				if errors.As(err, &le) {
					ch.mu.Lock()
					ch.waiting = le
					ch.mu.Unlock()
				}
				return "", err
			}
			tierAt = now
		}
	}
	wamid, err := ch.deliver(ctx, id, ref, to, cls, req)
	if err != nil && !tierAt.IsZero() && !errors.Is(err, ErrUnknownOutcome) {
		ch.contacts.releaseTier(to, tierAt)
	}
	return wamid, err
}

// deliver paces, posts and retries one request. Each attempt stores the
// record "sending" first, then waits in the wire pacer, and is written to
// Meta the moment its slot comes.
func (ch *Channel) deliver(ctx context.Context, id, ref, to string, cls class, req *SendRequest) (string, error) {
	rec := Record{ID: id, Ref: ref, To: to, Type: req.Type, Status: message.Sending}
	// gaveUp records that a retry was abandoned: the earlier attempts were
	// refused, so the message was not sent (and may be sent again).
	gaveUp := func(attempt int, err error) (string, error) {
		if attempt > 1 {
			rec.Status, rec.Reason = message.Failed, "cancelled while waiting to retry: "+err.Error()
			ch.putRecordLogged(rec)
		}
		return "", err
	}
	for attempt := 1; ; attempt++ {
		if err := ch.pairs.wait(ctx, ch.clk, to); err != nil {
			return gaveUp(attempt, err)
		}
		t, err := ch.wire.claim(id, cls)
		if err != nil {
			return "", fmt.Errorf("%w: %s", err, id)
		}
		// Stored before the request: a crash during it leaves "sending",
		// which a restart must treat as unknown, never as unsent. Stored
		// before the slot, so that the slot goes straight to the wire.
		rec.Updated = ch.clk.Now()
		if err := ch.putRecord(rec); err != nil {
			ch.wire.drop(t)
			return "", err
		}
		if err := ch.wire.await(ctx, t); err != nil {
			if errors.Is(err, ErrWithdrawn) {
				return "", err // Withdraw removed the record
			}
			if attempt == 1 {
				ch.forgetRecord(id)
				return "", err
			}
			return gaveUp(attempt, err)
		}
		wctx := httptrace.WithClientTrace(context.WithoutCancel(ctx), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { ch.wire.wrote(t, ch.clk.Now()) },
			// The server has read the request by its first response byte:
			// the pacer counts from then, so no later request can share a
			// one-second window with it at Meta's end, however loaded this
			// box is (docs/benchmarks.md, WhatsApp pacer).
			GotFirstResponseByte: func() { ch.wire.responded(t, ch.clk.Now()) },
		})
		// A request on the wire finishes even when ctx ends (a clean
		// shutdown): cut off, its outcome would be unknown. The client's
		// RequestTimeout still bounds it.
		resp, err := ch.client.PostMessage(wctx, req)
		if err == nil {
			wamid := resp.Messages[0].ID
			ch.metrics.sent.Inc()
			if err := ch.accepted(id, wamid); err != nil {
				ch.log.Error("whatsapp: message sent but not recorded", "id", id, "wamid", wamid, "err", err)
			}
			return wamid, nil
		}
		var apiErr *APIError
		switch {
		case errors.Is(err, ErrUnknownOutcome):
			rec.Status, rec.Reason = message.Unknown, err.Error()
			ch.putRecordLogged(rec)
			ch.log.Warn("whatsapp send outcome unknown; not resent", "id", id, "err", err)
			return "", message.WithReason(err, unknownReason(err))
		case errors.As(err, &apiErr):
			ch.metrics.sendError(apiErr.Code)
			cls := apiErr.Class()
			if cls == Stop {
				ch.stop(apiErr)
			}
			if cls != Retry || attempt >= ch.o.MaxAttempts {
				rec.Status, rec.Code, rec.Reason = message.Failed, apiErr.Code, apiErr.Error()
				ch.putRecordLogged(rec)
				if cls == Retry {
					return "", message.WithReason(fmt.Errorf("after %d attempts: %w", attempt, apiErr), rAfterAttempts.Wrap(apiErr.ReasonCode(), attempt))
				}
				return "", apiErr
			}
			ch.log.Debug("whatsapp send refused, retrying", "id", id, "code", apiErr.Code, "attempt", attempt)
			if err := ch.clk.Sleep(ctx, max(backoff(apiErr.Code, attempt), apiErr.RetryAfter)); err != nil {
				return gaveUp(attempt+1, err)
			}
		case errors.Is(err, errNotSent):
			if attempt >= ch.o.MaxAttempts || ctx.Err() != nil {
				rec.Status, rec.Reason = message.Failed, err.Error()
				ch.putRecordLogged(rec)
				return "", message.WithReason(fmt.Errorf("%w: Meta not reachable after %d attempts: %w", ErrRetryable, attempt, err), rUnreachable.R(attempt, err))
			}
			if err := ch.clk.Sleep(ctx, backoff(0, attempt)); err != nil {
				return gaveUp(attempt+1, err)
			}
		default:
			return "", err
		}
	}
}

// backoff is the wait before attempt+1: 1, 4, 16, 64 s for the pair rate
// (Meta's advice for 131056), otherwise exponential from 1 s with ±25 %
// jitter so many senders do not retry in step, capped at one minute.
func backoff(code, attempt int) time.Duration {
	if code == 131056 {
		return time.Second << (2 * min(attempt-1, 3))
	}
	d := time.Second << min(attempt-1, 6)
	d = min(d, time.Minute)
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

func (ch *Channel) record(id string) (Record, error) {
	var r Record
	err := ch.o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, keyOut+id, &r) })
	return r, err
}

// Record returns what the store knows about message id (store.ErrNotFound
// if it was never handed to this channel).
func (ch *Channel) Record(id string) (Record, error) { return ch.record(id) }

// forgetRecord deletes the record of a message that never went to Meta
// (nothing is kept of a send that did not happen).
func (ch *Channel) forgetRecord(id string) {
	err := ch.o.Store.Update(func(txn *store.Txn) error { return forgetTxn(txn, id) })
	if err != nil {
		ch.log.Error("whatsapp: cannot remove the record of an unsent message", "id", id, "err", err)
	}
}

func forgetTxn(txn *store.Txn, id string) error {
	var cur Record
	switch err := store.GetJSON(txn, keyOut+id, &cur); {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case cur.WAMID != "":
		return nil // sent after all
	}
	return txn.Delete([]byte(keyOut + id))
}

// Withdraw takes the messages among ids that still wait for their slot
// out of the pacer and returns their IDs: they are never sent, their
// records are removed (a later send under the same ID goes out normally),
// their Send calls return ErrWithdrawn, and they are not reported failed.
// Messages already on the wire to Meta, or not waiting for a slot, are
// not returned. The campaign engine uses it for Stop.
func (ch *Channel) Withdraw(ctx context.Context, ids []string) ([]string, error) {
	out := ch.wire.withdraw(ids)
	if len(out) == 0 {
		return nil, ctx.Err()
	}
	err := ch.o.Store.Update(func(txn *store.Txn) error {
		for _, id := range out {
			if err := forgetTxn(txn, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("whatsapp: withdrawn, but their records remain (a resend reports an unknown outcome): %w", err)
	}
	ch.log.Debug("whatsapp messages withdrawn before sending", "n", len(out))
	return out, nil
}

// Capacity is how many sends the channel can start within the next
// second beyond those already waiting for a slot (campaigns hand over no
// more than this, so their backlog stays where Stop acts on it).
func (ch *Channel) Capacity() int {
	return max(0, int(float64(ch.o.MessagesPerSecond)*wireHeadroom)-ch.wire.queued())
}

func (ch *Channel) putRecord(r Record) error {
	return ch.o.Store.Update(func(txn *store.Txn) error {
		var cur Record
		if err := store.GetJSON(txn, keyOut+r.ID, &cur); err == nil && cur.WAMID != "" {
			return nil // a webhook already advanced it
		}
		return putRecordTxn(txn, r, "")
	})
}

func (ch *Channel) putRecordLogged(r Record) {
	if err := ch.putRecord(r); err != nil {
		ch.log.Error("whatsapp: cannot store message state", "id", r.ID, "err", err)
	}
}

// accepted stores the wamid of id. A status webhook may have been faster;
// its status is kept.
func (ch *Channel) accepted(id, wamid string) error {
	return ch.o.Store.Update(func(txn *store.Txn) error {
		var r Record
		if err := store.GetJSON(txn, keyOut+id, &r); err != nil {
			return err
		}
		r.WAMID = wamid
		r.Updated = ch.clk.Now()
		return putRecordTxn(txn, r, wamid)
	})
}

// RecordTTL is how long sent-message records (id ↔ wamid, status) are
// kept: past Meta's 7 days of webhook retries and 30 days of statuses,
// bounded so a Raspberry Pi's store does not grow forever.
const RecordTTL = 35 * 24 * time.Hour

// putRecordTxn writes r (and the wamid → id mapping when wamid is set)
// with RecordTTL.
func putRecordTxn(txn *store.Txn, r Record, wamid string) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := store.SetTTL(txn, keyOut+r.ID, b, RecordTTL); err != nil {
		return err
	}
	if wamid == "" {
		return nil
	}
	return store.SetTTL(txn, keyWAMID+wamid, []byte(r.ID), RecordTTL)
}

// WebhookSetup returns what the administrator pastes into Meta's app
// settings (WhatsApp > Configuration): the callback URL under publicURL
// (config http.public_url) and the verify token.
func (ch *Channel) WebhookSetup(publicURL string) (callbackURL, verifyToken string) {
	return strings.TrimRight(publicURL, "/") + WebhookPath, ch.o.VerifyToken
}
