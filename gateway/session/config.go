package session

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Config configures a Manager. Store and Deliverer are required.
type Config struct {
	Store     *store.Store
	Deliverer Deliverer
	Channels  []Channel
	Queues    []Queue
	// Names looks up display names of contacts (optional).
	Names Names
	// DefaultChannel is where an extension may start a conversation with a
	// contact that has no open session ("" : extensions may only answer).
	DefaultChannel string
	// PortalURL is the portal's base URL for links to media
	// (e.g. https://pbxgate.local); media entries link to
	// PortalURL/sessions/<id>/media/<media id>.
	PortalURL string
	// RetryMin and RetryMax bound the backoff between delivery attempts to
	// an extension (defaults 2 s and 1 min). After MaxAttempts (default 4)
	// a queue session moves to the next member or the fallback; without
	// one it keeps retrying at RetryMax, so nothing is ever dropped.
	RetryMin, RetryMax time.Duration
	MaxAttempts        int
	// DeliveryTimeout bounds one delivery attempt (default 15 s).
	DeliveryTimeout time.Duration
	// Parallel bounds concurrent deliveries (default 16).
	Parallel int
	// TextBlocks are canned replies agents send with "/t <name>" or
	// "#<number>" (see TextBlock).
	TextBlocks []TextBlock
	// MediaDir is where files of chat replies sent as MMS are stored
	// (ReplyWithFile; "" : replies carry text only).
	MediaDir   string
	Clock      Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Replicator, when set (a box in a cluster), is told of every session
	// and chat-log entry this box writes (peer.go); nil on a box alone.
	Replicator Replicator
}

// Channel is a channel sessions run on.
type Channel struct {
	Name   string
	Kind   message.Kind
	Sender Sender
	// Route is where new sessions from inbound messages go.
	Route Target
	// Fallback takes a session whose extension stays unreachable.
	Fallback Target
	// IdleTimeout closes a session without messages (default 24 h; WhatsApp
	// is capped at 24 h, the service window).
	IdleTimeout time.Duration
}

// Queue is a named group of extensions sharing sessions.
type Queue struct {
	Name         string
	Members      []string
	Assignment   string // manual (default), auto, none
	Distribution string // ringall (default), roundrobin, leastrecent
	// AnswerTimeout moves an offered, unanswered session to the next
	// member (or the fallback once all were tried). 0: never.
	AnswerTimeout time.Duration
	Fallback      Target
	Hours         *Hours
	// OutOfHours takes new sessions outside Hours; AutoReply, if set, is
	// sent to the contact once per session outside Hours.
	OutOfHours Target
	AutoReply  string
}

// Hours are business hours: on Days, from Open to Close ("09:00", "17:30")
// in Location.
type Hours struct {
	Location    *time.Location
	Days        []time.Weekday
	Open, Close string
}

// Contains reports whether t is within the hours.
func (h *Hours) Contains(t time.Time) bool {
	loc := h.Location
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if len(h.Days) > 0 && !slices.Contains(h.Days, t.Weekday()) {
		return false
	}
	open, err1 := minutes(h.Open)
	closing, err2 := minutes(h.Close)
	if err1 != nil || err2 != nil {
		return true
	}
	now := t.Hour()*60 + t.Minute()
	return now >= open && now < closing
}

func minutes(hhmm string) (int, error) {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day (use HH:MM): %w", hhmm, err)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func (c *Config) validate() error {
	var problems []string
	add := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	if c.Store == nil {
		add("a store is required")
	}
	if c.Deliverer == nil {
		add("a deliverer (the PBX) is required")
	}
	queues := map[string]bool{}
	for _, q := range c.Queues {
		if q.Name == "" {
			add("a queue needs a name")
		}
		queues[q.Name] = true
		if len(q.Members) == 0 {
			add("queue %s has no members", q.Name)
		}
		switch q.Assignment {
		case "", Manual, Auto, None:
		default:
			add("queue %s: assignment %q is not manual, auto or none", q.Name, q.Assignment)
		}
		switch q.Distribution {
		case "", RingAll, RoundRobin, LeastRecent:
		default:
			add("queue %s: distribution %q is not ringall, roundrobin or leastrecent", q.Name, q.Distribution)
		}
		if q.Hours != nil {
			if _, err := minutes(q.Hours.Open); err != nil {
				add("queue %s: hours open: %v", q.Name, err)
			}
			if _, err := minutes(q.Hours.Close); err != nil {
				add("queue %s: hours close: %v", q.Name, err)
			}
		}
	}
	checkTarget := func(where string, t Target, required bool) {
		switch {
		case t.IsZero():
			if required {
				add("%s: a destination (extension or queue) is required", where)
			}
		case t.Kind == ToQueue && !queues[t.ID]:
			add("%s: no queue named %q", where, t.ID)
		case t.Kind != ToQueue && t.Kind != ToExtension:
			add("%s: destination kind %q is not extension or queue", where, t.Kind)
		}
	}
	for _, q := range c.Queues {
		checkTarget("queue "+q.Name+" fallback", q.Fallback, false)
		checkTarget("queue "+q.Name+" out-of-hours", q.OutOfHours, false)
	}
	chans := map[string]bool{}
	for _, ch := range c.Channels {
		chans[ch.Name] = true
		if ch.Sender == nil {
			add("channel %s has no sender", ch.Name)
		}
		checkTarget("channel "+ch.Name+" route", ch.Route, true)
		checkTarget("channel "+ch.Name+" fallback", ch.Fallback, false)
	}
	if c.DefaultChannel != "" && !chans[c.DefaultChannel] {
		add("default channel %q is not a session channel", c.DefaultChannel)
	}
	if len(problems) > 0 {
		return fmt.Errorf("session configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

func (c *Config) defaults() {
	if c.RetryMin <= 0 {
		c.RetryMin = 2 * time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(time.Minute, c.RetryMin)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 4
	}
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = 15 * time.Second
	}
	if c.Parallel <= 0 {
		c.Parallel = 16
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for i := range c.Channels {
		ch := &c.Channels[i]
		if ch.IdleTimeout <= 0 {
			ch.IdleTimeout = 24 * time.Hour
		}
		if ch.Kind == message.WhatsApp && ch.IdleTimeout > 24*time.Hour {
			ch.IdleTimeout = 24 * time.Hour
		}
		if ch.Route.Kind == "" {
			ch.Route.Kind = ToExtension
		}
		if ch.Fallback.Kind == "" && ch.Fallback.ID != "" {
			ch.Fallback.Kind = ToExtension
		}
	}
	for i := range c.Queues {
		q := &c.Queues[i]
		if q.Assignment == "" {
			q.Assignment = Manual
		}
		if q.Distribution == "" {
			q.Distribution = RingAll
		}
	}
}
