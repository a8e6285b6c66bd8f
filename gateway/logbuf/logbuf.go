// Package logbuf keeps the daemon's most recent log records in memory so
// the portal can show them (System > Logs) on an appliance whose journal is
// volatile or out of reach. It is an slog.Handler that records what the
// wrapped handler logs and passes every record on.
package logbuf

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Record is one log line as the portal shows it.
type Record struct {
	Seq   uint64     `json:"seq"`
	Time  time.Time  `json:"time"`
	Level slog.Level `json:"level"`
	Msg   string     `json:"msg"`
	// Attrs are the record's attributes as key=value pairs, groups
	// dotted ("component=campaign id=c-1").
	Attrs string `json:"attrs,omitempty"`
}

// Ring holds the last N records; safe for concurrent use.
type Ring struct {
	mu   sync.Mutex
	recs []Record // circular once full
	next int
	seq  uint64
}

// New returns a ring keeping the last n records (at least 1).
func New(n int) *Ring {
	return &Ring{recs: make([]Record, 0, max(n, 1))}
}

func (r *Ring) add(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rec.Seq = r.seq
	if len(r.recs) < cap(r.recs) {
		r.recs = append(r.recs, rec)
		return
	}
	r.recs[r.next] = rec
	r.next = (r.next + 1) % len(r.recs)
}

// Query selects records.
type Query struct {
	// MinLevel drops records below it.
	MinLevel slog.Level
	// Contains keeps records whose message or attributes contain it
	// (case-insensitive); empty keeps all.
	Contains string
	// Limit is the most records returned (newest); 0 means all kept.
	Limit int
}

// Records returns the matching records, newest first.
func (r *Ring) Records(q Query) []Record {
	r.mu.Lock()
	all := make([]Record, 0, len(r.recs))
	all = append(all, r.recs[r.next:]...)
	all = append(all, r.recs[:r.next]...)
	r.mu.Unlock()
	needle := strings.ToLower(q.Contains)
	var out []Record
	for _, rec := range slices.Backward(all) {
		if rec.Level < q.MinLevel {
			continue
		}
		if needle != "" && !strings.Contains(strings.ToLower(rec.Msg), needle) && !strings.Contains(strings.ToLower(rec.Attrs), needle) {
			continue
		}
		out = append(out, rec)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out
}

// Handler returns a handler that records what next handles and then
// passes the record to next.
func (r *Ring) Handler(next slog.Handler) slog.Handler {
	return &handler{ring: r, next: next}
}

type handler struct {
	ring   *Ring
	next   slog.Handler
	pre    string // attributes from WithAttrs, formatted
	prefix string // open groups, "a.b."
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(h.pre)
	rec.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.prefix, a)
		return true
	})
	t := rec.Time
	if t.IsZero() {
		t = time.Now()
	}
	h.ring.add(Record{Time: t, Level: rec.Level, Msg: rec.Message, Attrs: b.String()})
	return h.next.Handle(ctx, rec)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.pre)
	for _, a := range as {
		appendAttr(&b, h.prefix, a)
	}
	return &handler{ring: h.ring, next: h.next.WithAttrs(as), pre: b.String(), prefix: h.prefix}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{ring: h.ring, next: h.next.WithGroup(name), pre: h.pre, prefix: h.prefix + name + "."}
}

// appendAttr writes " key=value" (groups flattened with dots), resolving
// LogValuers so secrets stay masked as in the daemon's own log.
func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	v := a.Value.String()
	if a.Value.Kind() == slog.KindTime {
		v = a.Value.Time().Format(time.RFC3339)
	}
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = fmt.Sprintf("%q", v)
	}
	b.WriteString(prefix + a.Key + "=" + v)
}
