// Package live streams server-rendered page fragments to the browser as
// server-sent events (the HTML5 EventSource protocol): the dashboard, a
// campaign's progress and the chat sessions update in place, without
// reloads and without polling. The number of open streams is bounded
// (each holds a goroutine, a connection and a render buffer), so a Pi with
// 1 GB is not run out of memory by open browser tabs; a stream over the
// bound is answered 503 and the page falls back to reloading.
package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Limits bound the streams.
type Limits struct {
	// Streams is how many may be open at once (all views together).
	Streams int
	// MinGap is the least time between two renders of one stream: changes
	// in between are coalesced into one update.
	MinGap time.Duration
	// Every re-renders a view without a change notification (modem status,
	// sessions) at this interval.
	Every time.Duration
	// MaxAge ends a stream after this long; the browser reconnects. It
	// bounds what a forgotten tab holds.
	MaxAge time.Duration
}

// DefaultLimits suit a Raspberry Pi: 32 streams of a few KB each.
var DefaultLimits = Limits{Streams: 32, MinGap: time.Second, Every: 5 * time.Second, MaxAge: 10 * time.Minute}

// ErrBusy: every stream slot is taken.
var ErrBusy = errors.New("too many live views open")

// Streams hands out the bounded stream slots.
type Streams struct {
	lim   Limits
	slots chan struct{}
	// stop ends every stream (daemon shutdown); nil: never.
	stop <-chan struct{}
}

// New returns the streams with lim (zero fields take DefaultLimits');
// closing stop ends every open stream.
func New(lim Limits, stop <-chan struct{}) *Streams {
	if lim.Streams <= 0 {
		lim.Streams = DefaultLimits.Streams
	}
	if lim.MinGap <= 0 {
		lim.MinGap = DefaultLimits.MinGap
	}
	if lim.Every <= 0 {
		lim.Every = DefaultLimits.Every
	}
	if lim.MaxAge <= 0 {
		lim.MaxAge = DefaultLimits.MaxAge
	}
	return &Streams{lim: lim, slots: make(chan struct{}, lim.Streams), stop: stop}
}

// Open is how many streams are open now.
func (s *Streams) Open() int { return len(s.slots) }

// View is one live view: Render gives its fragment's HTML now; Changes,
// when set, gives a channel closed at the next change (campaign.Engine's
// Changes); without it the view is re-rendered every Limits.Every.
type View struct {
	Render  func(ctx context.Context) (string, error)
	Changes func() <-chan struct{}
}

// Serve streams v to w until the client goes, the stream is MaxAge old or
// the daemon stops: an "update" event with the fragment at once and after
// every change (at most one a MinGap). ErrBusy (nothing written): every
// slot is taken. Other errors are the render's or the connection's.
func (s *Streams) Serve(ctx context.Context, w http.ResponseWriter, v View) error {
	select {
	case s.slots <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-s.slots }()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// The browser waits this long before reconnecting.
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", s.lim.Every.Milliseconds()); err != nil {
		return err
	}
	age := time.NewTimer(s.lim.MaxAge)
	defer age.Stop()
	tick := time.NewTicker(s.lim.Every)
	defer tick.Stop()
	for {
		var changed <-chan struct{}
		if v.Changes != nil {
			changed = v.Changes() // taken before rendering: no change is missed
		}
		html, err := v.Render(ctx)
		if err != nil {
			return err
		}
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := w.Write(Event("update", html)); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return nil
		case <-age.C:
			return nil
		case <-changed:
		case <-tick.C:
		}
		// Coalesce a burst of changes (a campaign sends many a second).
		gap := time.NewTimer(s.lim.MinGap)
		select {
		case <-ctx.Done():
			gap.Stop()
			return nil
		case <-s.stop:
			gap.Stop()
			return nil
		case <-gap.C:
		}
	}
}

// Event encodes one server-sent event (WHATWG HTML, "Server-sent events",
// §9.2.5): every line of data is its own "data:" field; carriage returns
// are dropped, as a lone CR would end the field.
func Event(name, data string) []byte {
	var b strings.Builder
	b.Grow(len(data) + len(name) + 16)
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteByte('\n')
	for _, line := range strings.Split(strings.ReplaceAll(data, "\r", ""), "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return []byte(b.String())
}

// ReadEvent reads the next event from a stream as the WHATWG HTML
// "Server-sent events" interpretation (§9.2.6) has it: "field: value"
// lines (one leading space dropped), data lines joined with LF, a blank
// line dispatches; blocks without an event name (retry) are skipped.
func ReadEvent(r *bufio.Reader) (name, data string, err error) {
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if name == "" {
				lines = nil
				continue
			}
			return name, strings.Join(lines, "\n"), nil
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			lines = append(lines, value)
		}
	}
}
