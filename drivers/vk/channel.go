package vk

import (
	"context"
	"crypto/subtle"
	"encoding/json"
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
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// The ports the channel feeds (chatchannel): the inbox stores inbound
// messages before they are confirmed to VK (gateway/inbox.Inbox), the
// status sink takes each sent message's outcome, the journal is the
// message log, and OptOuts records message_deny as an opt-out
// (gateway/consent.Consent).
type (
	Inbox      = chatchannel.Inbox
	StatusSink = chatchannel.StatusSink
	Journal    = chatchannel.Journal
	OptOuts    = chatchannel.OptOuts
)

// CallbackPath is where the portal takes Callback API events.
const CallbackPath = "/webhooks/vk"

// Receive modes.
const (
	LongPoll = "longpoll"
	Callback = "callback"
)

// Options configure a Channel.
type Options struct {
	Name    string // channel name; default "vk"
	BaseURL string // DefaultBaseURL or vkemu
	Token   string // community access token with the messages right
	Version string // API version; default DefaultVersion
	GroupID int64  // the community
	// Receive is LongPoll (default; no public URL needed) or Callback.
	Receive string
	// Confirmation is what the Callback API's confirmation request gets
	// back; Secret must match every event's secret (empty: not checked).
	Confirmation string
	Secret       string
	PollWait     time.Duration // a_check's wait; default 25 s
	// PerSecond is the rate of API calls (VK: 20 per second with a
	// community token).
	PerSecond      int
	MaxAttempts    int           // tries on error 6 and lost answers; default 5
	RequestTimeout time.Duration // per messages.send; default 20 s
	RetryPause     time.Duration // after a failed poll; default 5 s

	Store      *store.Store // required
	HTTPClient *http.Client
	Logger     *slog.Logger
	Inbox      Inbox
	Statuses   StatusSink
	Journal    Journal
}

// OptionsFromConfig maps the vk section.
func OptionsFromConfig(c config.VK) Options {
	return Options{Name: c.Name, BaseURL: c.APIURL, Token: c.Token.Reveal(), Version: c.APIVersion, GroupID: c.GroupID,
		Receive: c.Receive, Confirmation: c.Confirmation, Secret: c.Secret.Reveal(), PollWait: c.PollWait,
		PerSecond: c.MessagesPerSecond}
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "vk"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Receive == "" {
		o.Receive = LongPoll
	}
	if o.PollWait <= 0 {
		o.PollWait = 25 * time.Second
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 20
	}
	chatchannel.Defaults{MaxAttempts: &o.MaxAttempts, RequestTimeout: &o.RequestTimeout, RetryPause: &o.RetryPause,
		HTTPClient: &o.HTTPClient, Logger: &o.Logger}.Fill()
}

// Status is the channel's state for the portal's setup page.
type Status struct {
	Mode       string    `json:"mode"` // "longpoll" or "callback"
	Group      string    `json:"group,omitempty"`
	ScreenName string    `json:"screen_name,omitempty"`
	LastOK     time.Time `json:"last_ok,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	Received   int64     `json:"received"`
	Sent       int64     `json:"sent"`
}

// Channel is one VK community.
type Channel struct {
	o      Options
	client *Client
	log    *slog.Logger
	cc     *chatchannel.Parts[Subscriber] // pacer, outbox, subscribers, health, opt-outs

	smu    sync.Mutex
	status Status // Mode, Group, ScreenName; the counters are health's
}

// New builds the channel; Run starts receiving.
func New(o Options) (*Channel, error) {
	o.defaults()
	if o.Store == nil {
		return nil, errors.New("vk: Options.Store is required")
	}
	if o.Token == "" {
		return nil, errors.New("vk: no access token (vk.token; a community token with the messages right)")
	}
	if o.GroupID <= 0 {
		return nil, errors.New("vk: no community id (vk.group_id)")
	}
	if o.Receive != LongPoll && o.Receive != Callback {
		return nil, fmt.Errorf("vk: receive %q: use longpoll or callback", o.Receive)
	}
	ch := &Channel{o: o, log: o.Logger, client: &Client{BaseURL: o.BaseURL, Token: o.Token, Version: o.Version, HTTP: o.HTTPClient}}
	// Resend: random_id (derived from the message ID) makes VK itself
	// ignore a repeat, so a send cut short is simply made again.
	ch.cc = chatchannel.NewParts[Subscriber](chatchannel.Outbox{Store: o.Store, Prefix: ch.keyPrefix(), Kind: message.VK,
		Name: "vk", Service: "VK", Resend: true, Journal: o.Journal, Statuses: o.Statuses, Log: o.Logger,
		Sender: func() string { return ch.Status().ScreenName }, Code: errorCode},
		o.PerSecond, 0, func(s string) string { return redact(s, o.Token) })
	ch.status.Mode = o.Receive
	return ch, nil
}

// UseOptOuts sets where message_deny is recorded; call before Run.
func (ch *Channel) UseOptOuts(o OptOuts) { ch.cc.OptOuts.Use(o) }

// Name is the configured channel name.
func (ch *Channel) Name() string { return ch.o.Name }

// Kind is message.VK.
func (ch *Channel) Kind() message.Kind { return message.VK }

// MaxPerMinute is the community's rate.
func (ch *Channel) MaxPerMinute() int { return ch.o.PerSecond * 60 }

// ResendSafe: a message's record survives a restart, and random_id makes
// VK ignore a repeat.
func (ch *Channel) ResendSafe() bool { return true }

// NormalizeAddress reads a campaign recipient: a VK user id, with or
// without "vk".
func (ch *Channel) NormalizeAddress(s string) (string, error) {
	id, err := ParseUserID(s)
	if err != nil {
		return "", err
	}
	return Address(id), nil
}

// Client is the API client (the portal's connection test).
func (ch *Channel) Client() *Client { return ch.client }

// GroupID is the community's id.
func (ch *Channel) GroupID() int64 { return ch.o.GroupID }

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

func (ch *Channel) keyPrefix() string { return "vk/" + ch.o.Name + "/" }

// Run receives events until ctx ends: by Bots Long Poll, or (Callback)
// it only asks who the community is and the portal serves Webhook.
func (ch *Channel) Run(ctx context.Context) error {
	if g, err := ch.client.GetGroup(ctx, ch.o.GroupID); err == nil {
		ch.smu.Lock()
		ch.status.Group, ch.status.ScreenName = g.Name, g.ScreenName
		ch.smu.Unlock()
		ch.noteOK()
	} else if ctx.Err() == nil {
		ch.log.Error("vk: groups.getById failed; check vk.token and vk.group_id", "err", redact(err.Error(), ch.o.Token))
		ch.noteErr(err)
	}
	if ch.o.Receive == Callback {
		<-ctx.Done()
		return nil
	}
	return ch.runLongPoll(ctx)
}

func (ch *Channel) tsKey() string { return ch.keyPrefix() + "ts" }

func (ch *Channel) loadTS() string {
	var ts string
	_ = ch.o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, ch.tsKey(), &ts) })
	return ts
}

func (ch *Channel) saveTS(ts string) error {
	return ch.o.Store.Update(func(txn *store.Txn) error { return store.SetJSON(txn, ch.tsKey(), ts) })
}

// runLongPoll follows the Bots Long Poll API: a session from
// groups.getLongPollServer, then a_check with the last ts. failed 1: the
// history is outdated, go on with the ts given; 2: the key expired, get a
// new one and keep ts; 3: information lost, get key and ts anew. The ts
// after the stored events is kept in the store, so a restart continues
// where it stopped.
func (ch *Channel) runLongPoll(ctx context.Context) error {
	var srv LongPollServer
	ts := ch.loadTS()
	fresh := func(keepTS bool) bool {
		return chatchannel.Retry(ctx, ch.o.RetryPause, func(ctx context.Context) error {
			s, err := ch.client.GetLongPollServer(ctx, ch.o.GroupID)
			if err == nil {
				srv = s
				if !keepTS || ts == "" {
					ts = s.TS
				}
			}
			return err
		}, func(err error) {
			ch.noteErr(err)
			ch.log.Warn("vk: groups.getLongPollServer failed; retrying", "err", redact(err.Error(), ch.o.Token), "in", ch.o.RetryPause)
		})
	}
	if !fresh(true) {
		return nil
	}
	wait := int(ch.o.PollWait / time.Second)
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, ch.o.PollWait+15*time.Second)
		ck, err := ch.client.Poll(pctx, srv, ts, wait)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			ch.noteErr(err)
			ch.log.Warn("vk: long poll failed; retrying", "err", err, "in", ch.o.RetryPause)
			if !chatchannel.Sleep(ctx, ch.o.RetryPause) {
				return nil
			}
			continue
		}
		switch ck.Failed {
		case 0:
		case 1:
			ch.log.Warn("vk: long poll history outdated; events may have been missed", "ts", ck.TS.String())
			ts = ck.TS.String()
			continue
		case 2:
			if !fresh(true) {
				return nil
			}
			continue
		default:
			ch.log.Warn("vk: long poll information lost; starting a new session", "failed", ck.Failed)
			if !fresh(false) {
				return nil
			}
			continue
		}
		ch.noteOK()
		stored := true
		for _, u := range ck.Updates {
			if err := ch.handleUpdate(ctx, u); err != nil {
				// ts is not advanced: the next a_check hands the events
				// over again (VK keeps them).
				ch.log.Warn("vk: event not stored; asking for it again", "type", u.Type, "err", err)
				stored = false
				break
			}
		}
		if !stored {
			chatchannel.Sleep(ctx, ch.o.RetryPause)
			continue
		}
		if next := ck.TS.String(); next != "" && next != ts {
			ts = next
			if err := ch.saveTS(ts); err != nil {
				ch.log.Warn("vk: long poll position not saved", "err", err)
			}
		}
	}
	return nil
}

// Webhook serves the Callback API: the confirmation request gets the
// confirmation string, every other event must carry the secret key, is
// stored, then answered "ok" (VK retries otherwise).
func (ch *Channel) Webhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !chatchannel.PostOnly(w, r) {
			return
		}
		var u Update
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, chatchannel.MaxWebhookBody)).Decode(&u); err != nil {
			http.Error(w, "not a VK Callback API event: "+err.Error(), http.StatusBadRequest)
			return
		}
		if u.GroupID != ch.o.GroupID {
			http.Error(w, "event for another community", http.StatusForbidden)
			return
		}
		if u.Type == "confirmation" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(ch.o.Confirmation))
			return
		}
		if ch.o.Secret != "" && subtle.ConstantTimeCompare([]byte(u.Secret), []byte(ch.o.Secret)) != 1 {
			ch.log.Warn("vk: callback event without the right secret key refused", "remote", r.RemoteAddr)
			http.Error(w, "wrong or missing secret", http.StatusForbidden)
			return
		}
		if err := ch.handleUpdate(r.Context(), u); err != nil {
			ch.log.Warn("vk: callback event not stored; VK will retry", "type", u.Type, "err", err)
			chatchannel.NotStored(w)
			return
		}
		ch.noteOK()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok"))
	})
}

// handleUpdate stores one event; nil means it may be confirmed.
func (ch *Channel) handleUpdate(ctx context.Context, u Update) error {
	switch u.Type {
	case "message_new":
		var mn MessageNew
		if err := json.Unmarshal(u.Object, &mn); err != nil {
			ch.log.Warn("vk: message_new not readable; skipped", "err", err)
			return nil
		}
		m := mn.Message
		// Private messages only: peer_id is the user's id (chats are
		// 2000000000+; the community's own messages have from_id < 0).
		if m.FromID <= 0 || m.PeerID != m.FromID {
			return nil
		}
		if err := ch.remember(m.FromID, m.Ref, true); err != nil {
			return err
		}
		return ch.accept(ctx, ch.inbound(m))
	case "message_allow":
		var ma MessageAllow
		if err := json.Unmarshal(u.Object, &ma); err != nil || ma.UserID <= 0 {
			return nil
		}
		if err := ch.remember(ma.UserID, ma.Key, true); err != nil {
			return err
		}
		// Allowing messages is the opt-in keyword START.
		in := message.Inbound{ID: "vk-allow-" + strconv.FormatInt(ma.UserID, 10) + "-" + u.EventID, Kind: message.VK,
			Channel: ch.o.Name, Receiver: ch.Status().ScreenName, From: Address(ma.UserID), Text: "START",
			Payload: ma.Key, At: time.Now().UTC()}
		return ch.accept(ctx, in)
	case "message_deny":
		var md MessageDeny
		if err := json.Unmarshal(u.Object, &md); err != nil || md.UserID <= 0 {
			return nil
		}
		return ch.denied(ctx, md.UserID, "user denied messages from the community")
	}
	return nil
}

func (ch *Channel) accept(ctx context.Context, in message.Inbound) error {
	return ch.cc.Health.Accept(ctx, ch.o.Inbox, in)
}

func (ch *Channel) inbound(m Message) message.Inbound {
	in := message.Inbound{
		ID:       "vk-" + strconv.FormatInt(m.PeerID, 10) + "-" + strconv.FormatInt(m.ID, 10),
		Kind:     message.VK,
		Channel:  ch.o.Name,
		Receiver: ch.Status().ScreenName,
		From:     Address(m.FromID),
		At:       time.Unix(m.Date, 0).UTC(),
		Text:     m.Text,
		Payload:  m.Ref, // the vk.me link's ref
	}
	if m.ID == 0 {
		in.ID = "vk-" + strconv.FormatInt(m.PeerID, 10) + "-c" + strconv.FormatInt(m.ConversationMessageID, 10)
	}
	switch {
	case m.Geo != nil:
		in.MediaType = "location"
		in.Text = fmt.Sprintf("%.6f, %.6f", m.Geo.Coordinates.Latitude, m.Geo.Coordinates.Longitude)
	case len(m.Attachments) > 0:
		switch m.Attachments[0].Type {
		case "photo":
			in.MediaType = "image"
		case "doc":
			in.MediaType = "document"
		default:
			in.Unsupported = "this kind of VK attachment (" + m.Attachments[0].Type + ") is not shown here"
			if in.Text == "" {
				in.Text = "(unsupported VK message)"
			}
		}
	case strings.TrimSpace(m.Text) == "":
		in.Unsupported = "an empty VK message"
		in.Text = "(empty VK message)"
	}
	return in
}

// Subscriber is a user who wrote to the community or allowed messages.
type Subscriber struct {
	UserID  int64     `json:"user_id"`
	Key     string    `json:"key,omitempty"` // the link parameter of message_allow
	First   time.Time `json:"first"`
	Changed time.Time `json:"changed"`
	Allowed bool      `json:"allowed"`
	Denied  bool      `json:"denied,omitempty"`
}

func userKey(id int64) string { return strconv.FormatInt(id, 10) }

func (ch *Channel) remember(id int64, key string, allowed bool) error {
	now := time.Now().UTC()
	return ch.cc.Subs.Edit(userKey(id), func(s *Subscriber, _ bool) bool {
		if s.UserID != 0 && s.Allowed == allowed && !s.Denied && (key == "" || key == s.Key) {
			return false
		}
		if s.UserID == 0 {
			*s = Subscriber{UserID: id, First: now}
		}
		if key != "" {
			s.Key = key
		}
		s.Allowed, s.Denied, s.Changed = allowed, false, now
		return true
	})
}

// Subscribers lists the users known to the community.
func (ch *Channel) Subscribers(ctx context.Context) ([]Subscriber, error) {
	return ch.cc.Subs.List(ctx)
}

// denied records the opt-out and marks the subscriber.
func (ch *Channel) denied(ctx context.Context, id int64, why string) error {
	if err := ch.cc.OptOuts.OptOut(ctx, Address(id), "vk: "+why, ch.o.Name); err != nil {
		return err
	}
	return ch.cc.Subs.Edit(userKey(id), func(s *Subscriber, found bool) bool {
		if !found {
			*s = Subscriber{UserID: id, First: time.Now().UTC()}
		}
		s.Allowed, s.Denied, s.Changed = false, true, time.Now().UTC()
		return true
	})
}

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

// Send sends m.Text to the VK user m.To. It is idempotent by m.ID: the
// store remembers sent messages, and random_id (derived from m.ID) makes
// VK itself ignore a repeat, so a send cut short by a restart or a lost
// answer is simply made again. A message VK refuses for good (no
// permission, too long) returns an error wrapping campaign.ErrRejected;
// 901 also records an opt-out-free "not allowed" mark.
func (ch *Channel) Send(ctx context.Context, m message.Outbound) error {
	if m.Channel == "" {
		m.Channel = ch.o.Name
	}
	user, err := ParseUserID(m.To)
	if err != nil {
		return fmt.Errorf("%w: %w", campaign.ErrRejected, err)
	}
	if err := chatchannel.CheckText(m.Text, TextLen(m.Text), MaxTextLen, ErrTooLong); err != nil {
		return err
	}
	m.To = Address(user)
	return ch.cc.Outbox.Send(ctx, m, chatchannel.Attempt{
		Transmit: func(ctx context.Context) (chatchannel.Sent, error) {
			mid, err := ch.transmit(ctx, user, RandomID(m.ID), m.Text)
			if err != nil {
				return chatchannel.Sent{}, err
			}
			return chatchannel.Sent{ChannelID: chatchannel.NumberID(mid), Record: sentRecord{State: chatchannel.StateSent, MessageID: mid}}, nil
		},
		Unknown:  ErrUnknownOutcome,
		Refusals: []error{ErrNoPermission, ErrTooLong},
		Refused: func(_ context.Context, err error) {
			if !errors.Is(err, ErrNoPermission) {
				return
			}
			if rerr := ch.remember(user, "", false); rerr != nil {
				ch.log.Warn("vk: subscriber not marked", "user", user, "err", rerr)
			}
		},
	})
}

// errorCode is the message log's code of a VK API error.
func errorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return strconv.Itoa(ae.Code)
	}
	return ""
}

// transmit paces and sends one message. Error 6 (too many requests) and
// a lost answer are retried with the same random_id, which VK does not
// deliver twice.
func (ch *Channel) transmit(ctx context.Context, user int64, rid int32, text string) (int64, error) {
	var last error
	for range ch.o.MaxAttempts {
		if err := ch.cc.Pace.Wait(ctx, "", false); err != nil {
			return 0, err
		}
		sctx, cancel := context.WithTimeout(ctx, ch.o.RequestTimeout)
		mid, err := ch.client.SendMessage(sctx, user, rid, text)
		cancel()
		switch {
		case errors.Is(err, ErrTooMany):
			ch.log.Warn("vk: too many requests per second (error 6); waiting")
			ch.cc.Pace.Hold(time.Second)
			last = err
			continue
		case err != nil && ctx.Err() == nil && (errors.Is(err, ErrUnknownOutcome) || errors.Is(err, context.DeadlineExceeded)):
			last = fmt.Errorf("vk messages.send: %w", ErrUnknownOutcome)
			chatchannel.Sleep(ctx, ch.o.RetryPause)
			continue
		}
		return mid, err
	}
	return 0, last
}
