package session

import (
	"fmt"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// ParseTarget reads a destination as written in the configuration: an
// extension ("201") or a queue ("queue:support"); "" is no destination.
func ParseTarget(s string) Target {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}
	}
	if name, ok := strings.CutPrefix(s, "queue:"); ok {
		return Target{Kind: ToQueue, ID: name}
	}
	return Target{Kind: ToExtension, ID: s}
}

// QueuesFromConfig turns sip.sessions.queues into Queues; business hours
// are in loc (region.time_zone).
func QueuesFromConfig(cs config.Sessions, loc *time.Location) ([]Queue, error) {
	var out []Queue
	for _, q := range cs.Queues {
		nq := Queue{Name: q.Name, Members: q.Members, Assignment: q.Assignment, Distribution: q.Distribution,
			AnswerTimeout: q.AnswerTimeout, Fallback: ParseTarget(q.Fallback), OutOfHours: ParseTarget(q.OutOfHours), AutoReply: q.AutoReply}
		if h := q.Hours; h != nil {
			nh := &Hours{Location: loc, Open: h.Open, Close: h.Close}
			for _, d := range h.Days {
				wd, ok := config.Weekday(d)
				if !ok {
					return nil, fmt.Errorf("sip.sessions.queues %s: %q is not a day", q.Name, d)
				}
				nh.Days = append(nh.Days, wd)
			}
			nq.Hours = nh
		}
		out = append(out, nq)
	}
	return out, nil
}

// ChannelsFromConfig turns sip.sessions.routes into Channels; channel
// tells each route's kind and sender (false: no such channel).
func ChannelsFromConfig(cs config.Sessions, channel func(name string) (message.Kind, Sender, bool)) ([]Channel, error) {
	var out []Channel
	for _, r := range cs.Routes {
		kind, sender, ok := channel(r.Channel)
		if !ok {
			return nil, fmt.Errorf("sip.sessions.routes: %w: %q is neither an SMS channel nor a WhatsApp number", ErrUnknownChannel, r.Channel)
		}
		out = append(out, Channel{Name: r.Channel, Kind: kind, Sender: sender, Route: ParseTarget(r.To),
			Fallback: ParseTarget(r.Fallback), IdleTimeout: cs.IdleTimeout})
	}
	return out, nil
}
