// Package rules is pbxgate's inbound automation: keyword rules that answer,
// route, forward, subscribe or opt out contacts for every SMS and WhatsApp
// message, as the messaging platform of the vendor manuals does.
//
// Rules are stored in Badger under "rule/def/" and evaluated in order: the
// first rule that matches wins unless it is marked Continue; "rest" rules
// fire only when no other rule did. Every inbound message is stored (under
// "rule/in/") before any action runs, each action's outcome is logged with
// it, and failed outside actions (forwards, replies) are retried with a
// persisted backoff that survives restarts.
package rules

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// ErrInvalidRule wraps every validation problem of a rule; the message names
// the field.
var ErrInvalidRule = errors.New("invalid rule")

// Keyword is how a rule matches the message text.
type Keyword string

// Keyword types of the vendor manual.
const (
	Always Keyword = "always" // every message
	Define Keyword = "define" // Match with Pattern
	Rest   Keyword = "rest"   // only when no other rule fired
)

// Match is how a define rule compares Pattern with the text.
type Match string

// Match kinds of a define rule.
const (
	Contains Match = "contains" // text contains Pattern, ignoring case
	Regexp   Match = "regexp"   // Go RE2 regular expression
)

// Rule is one automation rule as the admin edits it.
type Rule struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Order   int     `json:"order"` // lower runs first; ties by ID
	Enabled bool    `json:"enabled"`
	Keyword Keyword `json:"keyword"`
	Match   Match   `json:"match,omitempty"`
	Pattern string  `json:"pattern,omitempty"`
	// CaseSensitive makes contains compare exactly (default: Unicode case
	// folding). Regexps decide themselves, e.g. with (?i).
	CaseSensitive bool `json:"case_sensitive,omitempty"`

	// Limits; empty means any.
	Channels []string       `json:"channels,omitempty"` // configured channel names
	Kinds    []message.Kind `json:"kinds,omitempty"`    // sms, whatsapp
	Window   *Window        `json:"window,omitempty"`   // time of day
	Days     []Day          `json:"days,omitempty"`     // valid days
	Limit    *Limit         `json:"limit,omitempty"`    // firings per contact

	// Continue lets the rules after this one be evaluated too.
	Continue bool     `json:"continue,omitempty"`
	Actions  []Action `json:"actions"`
}

// Window limits a rule to a time of day in the configured time zone.
// Start and End are "15:04"; End is exclusive. A window that ends before it
// starts (22:00–06:00) must say Wrap: true, so a typo is not mistaken for a
// night window.
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
	Wrap  bool   `json:"wrap,omitempty"`
}

// Day is a weekday: mon, tue, wed, thu, fri, sat, sun.
type Day string

var dayNames = map[Day]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Limit is how often a rule may fire for one contact within Period.
type Limit struct {
	Count  int      `json:"count"`
	Period Duration `json:"period"`
}

// Duration is a time.Duration written as "24h" or "30m" in JSON.
type Duration time.Duration

// MarshalText writes d as "1h30m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads "24h", "90m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("period %q: use e.g. 24h or 30m", b)
	}
	*d = Duration(v)
	return nil
}

// ActionType names what an action does.
type ActionType string

// Actions of the vendor manual (autoAnswer, httpFwd, smsFwd, …).
const (
	AutoAnswer    ActionType = "auto_answer"   // Text (and/or Media) back to the contact
	RouteTo       ActionType = "route"         // RouteKind extension|queue, RouteID
	EmailForward  ActionType = "email_forward" // To, Subject, Text (body template)
	HTTPForward   ActionType = "http_forward"  // URL, Secret: JSON with the placeholders
	HTTPBot       ActionType = "http_bot"      // URL, Secret: response text goes back to the contact
	SMSForward    ActionType = "sms_forward"   // Number, Text
	GroupAdd      ActionType = "group_add"     // Group
	GroupRemove   ActionType = "group_remove"  // Group
	OptOutAction  ActionType = "opt_out"       // Text: confirmation
	OptInAction   ActionType = "opt_in"        // Text: confirmation
	StartCampaign ActionType = "campaign"      // Campaign
	DoNothing     ActionType = "nothing"
)

// Action is one thing a rule does. Which fields matter depends on Type.
type Action struct {
	Type ActionType `json:"type"`
	// Text is the template of an answer, confirmation, SMS forward or
	// e-mail body (default for e-mail/SMS: the message with its sender).
	Text  string `json:"text,omitempty"`
	Media *Media `json:"media,omitempty"`
	// Interactive offers Text with reply buttons or a list (WhatsApp;
	// other channels get the choices as numbered text), interactive.go.
	Interactive *Interactive `json:"interactive,omitempty"`

	RouteKind string `json:"route_kind,omitempty"` // extension or queue
	RouteID   string `json:"route_id,omitempty"`

	To      []string `json:"to,omitempty"` // e-mail addresses
	Subject string   `json:"subject,omitempty"`

	URL    string `json:"url,omitempty"`
	Secret string `json:"secret,omitempty"` // HMAC-SHA256 key; empty: unsigned

	Number   string `json:"number,omitempty"` // SMS forward destination
	Group    string `json:"group,omitempty"`
	Campaign string `json:"campaign,omitempty"`
}

// Media is an attachment by reference: a channel media ID or a URL the
// channel can fetch.
type Media struct {
	Type    string `json:"type"` // image, video, audio, document
	ID      string `json:"id,omitempty"`
	URL     string `json:"url,omitempty"`
	Caption string `json:"caption,omitempty"`
}

// compiled is a validated rule ready for matching.
type compiled struct {
	Rule
	re       *regexp.Regexp // as the admin wrote it
	run      *regexp.Regexp // the same test, cheaper (see matcher)
	req      prefilter      // nil: always run it
	folded   string         // Pattern, case-folded, for contains
	start    int            // window minutes since midnight
	end      int
	days     uint8 // bit per time.Weekday; 0: any
	channels map[string]bool
	kinds    map[message.Kind]bool
}

// compile validates r and prepares it for matching. Errors name the field.
func compile(r Rule) (*compiled, error) {
	c := &compiled{Rule: r}
	bad := func(field, format string, args ...any) error {
		return &FieldError{Rule: r.Name, Field: field, Detail: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(r.Name) == "" {
		return nil, fmt.Errorf("%w: name: give the rule a name", ErrInvalidRule)
	}
	switch r.Keyword {
	case Always, Rest:
		if r.Pattern != "" {
			return nil, bad("pattern", "keyword type %s takes no pattern; use define", r.Keyword)
		}
	case Define:
		if r.Pattern == "" {
			return nil, bad("pattern", "a define rule needs a keyword or regular expression")
		}
		switch r.Match {
		case Contains:
			c.folded = fold(r.Pattern, r.CaseSensitive)
		case Regexp:
			re, err := regexp.Compile(r.Pattern)
			if err != nil {
				return nil, &FieldError{Rule: r.Name, Field: "pattern", Detail: fmt.Sprintf("not a valid regular expression (Go RE2 syntax): %v", err), Err: err}
			}
			c.re, c.run, c.req = re, matcher(r.Pattern), required(r.Pattern)
			if c.run == nil {
				c.run = re
			}
		default:
			return nil, bad("match", "%q: use contains or regexp", r.Match)
		}
	default:
		return nil, bad("keyword", "%q: use always, define or rest", r.Keyword)
	}
	if len(r.Channels) > 0 {
		c.channels = map[string]bool{}
		for _, ch := range r.Channels {
			c.channels[ch] = true
		}
	}
	if len(r.Kinds) > 0 {
		c.kinds = map[message.Kind]bool{}
		for _, k := range r.Kinds {
			if !k.Known() {
				return nil, bad("kinds", "%q: use sms, whatsapp, telegram, messenger, instagram, viber or vk", k)
			}
			c.kinds[k] = true
		}
	}
	if w := r.Window; w != nil {
		var err error
		if c.start, err = clockMinutes(w.Start); err != nil {
			return nil, bad("window.start", "%v", err)
		}
		if c.end, err = clockMinutes(w.End); err != nil {
			return nil, bad("window.end", "%v", err)
		}
		switch {
		case c.start == c.end:
			return nil, bad("window.end", "%s equals the start: the window would be empty; remove the window for all day", w.End)
		case c.end < c.start && !w.Wrap:
			return nil, bad("window.end", "%s is before the start %s on the same day; set wrap to run across midnight", w.End, w.Start)
		case c.end > c.start && w.Wrap:
			return nil, bad("window.wrap", "%s–%s does not cross midnight; remove wrap", w.Start, w.End)
		}
	}
	for _, d := range r.Days {
		wd, ok := dayNames[Day(strings.ToLower(string(d)))]
		if !ok {
			return nil, bad("days", "%q: use mon, tue, wed, thu, fri, sat, sun", d)
		}
		c.days |= 1 << wd
	}
	if l := r.Limit; l != nil {
		if l.Count < 1 || l.Count > 1000 {
			return nil, bad("limit.count", "%d: between 1 and 1000", l.Count)
		}
		if time.Duration(l.Period) < time.Minute {
			return nil, bad("limit.period", "%s: at least 1m", time.Duration(l.Period))
		}
	}
	if len(r.Actions) == 0 {
		return nil, bad("actions", "add at least one action (nothing, to ignore matching messages)")
	}
	for i, a := range r.Actions {
		if err := validAction(a); err != nil {
			return nil, bad(fmt.Sprintf("actions[%d] (%s)", i, a.Type), "%v", err)
		}
	}
	return c, nil
}

func validAction(a Action) error {
	switch a.Type {
	case AutoAnswer:
		if strings.TrimSpace(a.Text) == "" && a.Media == nil {
			return errors.New("text or media: give the answer")
		}
		if m := a.Media; m != nil && m.ID == "" && m.URL == "" {
			return errors.New("media: give an id or a url")
		}
		if a.Interactive != nil {
			if err := checkInteractive(a.Text, a.Interactive); err != nil {
				return err
			}
		}
	case RouteTo:
		if a.RouteKind != "extension" && a.RouteKind != "queue" {
			return fmt.Errorf("route_kind %q: use extension or queue", a.RouteKind)
		}
		if a.RouteID == "" {
			return errors.New("route_id: missing destination extension or queue")
		}
	case EmailForward:
		if len(a.To) == 0 {
			return errors.New("to: missing destination e-mail address")
		}
		for _, to := range a.To {
			if _, err := mail.ParseAddress(to); err != nil {
				return fmt.Errorf("to: %q is not an e-mail address", to)
			}
		}
	case HTTPForward, HTTPBot:
		if a.URL == "" {
			return errors.New("url: missing destination URL")
		}
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url %q: give an absolute http:// or https:// URL", a.URL)
		}
	case SMSForward:
		if strings.IndexFunc(a.Number, func(r rune) bool { return r >= '0' && r <= '9' }) < 0 {
			return errors.New("number: missing destination phone number")
		}
	case GroupAdd, GroupRemove:
		if a.Group == "" {
			return errors.New("group: missing subscriber group")
		}
	case StartCampaign:
		if a.Campaign == "" {
			return errors.New("campaign: missing campaign to start")
		}
	case OptOutAction, OptInAction, DoNothing:
	default:
		return fmt.Errorf("type %q is not an action: use auto_answer, route, email_forward, http_forward, http_bot, sms_forward, group_add, group_remove, opt_out, opt_in, campaign or nothing", a.Type)
	}
	return nil
}

// clockMinutes parses "15:04" (also "24:00" as the end of the day).
func clockMinutes(s string) (int, error) {
	if s == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q: use HH:MM, e.g. 08:30", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}
