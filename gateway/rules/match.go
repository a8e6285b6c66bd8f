package rules

import (
	"strings"
	"time"

	"golang.org/x/text/cases"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// fold prepares text for contains: Unicode case folding unless the rule is
// case-sensitive. A Caser is stateful, hence one per call.
func fold(s string, caseSensitive bool) string {
	if caseSensitive {
		return s
	}
	return cases.Fold().String(s)
}

// subject is an inbound message prepared once for matching every rule.
type subject struct {
	in     message.Inbound
	folded string
	canon  string // for regexp prefilters
	minute int    // minutes since local midnight
	day    time.Weekday
}

func newSubject(in message.Inbound, loc *time.Location) subject {
	t := in.At.In(loc)
	return subject{in: in, folded: fold(in.Text, false), canon: canon(in.Text), minute: t.Hour()*60 + t.Minute(), day: t.Weekday()}
}

// applies reports whether c's limits (channel, kind, window, days) allow s.
func (c *compiled) applies(s *subject) bool {
	if c.channels != nil && !c.channels[s.in.Channel] {
		return false
	}
	if c.kinds != nil && !c.kinds[s.in.Kind] {
		return false
	}
	if c.days != 0 {
		day := s.day
		// A wrapped window's after-midnight part belongs to the day it
		// started on: "Fri 22:00–06:00" covers Saturday 03:00.
		if c.Window != nil && c.Window.Wrap && s.minute < c.end {
			day = (day + 6) % 7
		}
		if c.days&(1<<day) == 0 {
			return false
		}
	}
	if c.Window != nil {
		if c.Window.Wrap {
			if s.minute < c.start && s.minute >= c.end {
				return false
			}
		} else if s.minute < c.start || s.minute >= c.end {
			return false
		}
	}
	return true
}

// matchesText reports whether the text matches c's keyword (rest rules are
// decided by the engine).
func (c *compiled) matchesText(s *subject) bool {
	switch c.Keyword {
	case Always, Rest:
		return true
	}
	if c.re != nil {
		if !c.req.allows(s.canon) {
			return false
		}
		return c.run.MatchString(s.in.Text)
	}
	if c.CaseSensitive {
		return strings.Contains(s.in.Text, c.folded)
	}
	return strings.Contains(s.folded, c.folded)
}
