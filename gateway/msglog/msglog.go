// Package msglog is the message log: one entry for every message that went
// in or out through any channel (inbound SMS and WhatsApp, campaign
// messages, chat-session replies, automatic answers, forwards, CLI sends),
// with its current status and failure reason, searchable newest first.
//
// Entries live in the store under "msglog/": the entry itself under its
// creation time (so a search walks them newest first without sorting, and
// pruning walks them oldest first), and the message ID pointing at that
// time (so recording is idempotent and a status finds its entry).
//
//	msglog/t/<unix nanos, 19 digits>/<id> → Entry (JSON)
//	msglog/id/<id>                        → <unix nanos, 19 digits>
//	msglog/x/<day><term>\x00<unix nanos>  → "" (the search index, index.go)
//
// An entry, its ID key and its index keys are written, changed and deleted
// in one transaction.
package msglog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/retention"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Direction of a message, seen from the gateway.
type Direction string

const (
	In  Direction = "in"
	Out Direction = "out"
)

// Received is the status of an inbound message (outbound ones have the
// message.Status of their channel).
const Received message.Status = "received"

// Origin says who sent an outbound message.
type Origin string

const (
	OriginCampaign Origin = "campaign" // a campaign (also keyword-triggered ones); OriginID is the campaign
	OriginSession  Origin = "session"  // a chat session (extension, portal or API reply); OriginID is the session
	OriginReply    Origin = "reply"    // an automatic answer (rules, STOP/START); OriginID is the inbound message
	OriginForward  Origin = "forward"  // an SMS forward of an inbound message
	OriginCLI      Origin = "cli"      // `pbxgate send`
	OriginOther    Origin = "other"    // an ID none of the conventions above made
)

// Origins lists every origin an outbound entry can have.
func Origins() []Origin {
	return []Origin{OriginCampaign, OriginSession, OriginReply, OriginForward, OriginCLI, OriginOther}
}

// Entry is one message in the log.
type Entry struct {
	ID        string       `json:"id"` // the message ID (Outbound.ID, Inbound.ID)
	Direction Direction    `json:"direction"`
	Kind      message.Kind `json:"kind"`    // sms or whatsapp
	Channel   string       `json:"channel"` // configured channel name
	Peer      string       `json:"peer"`    // the customer's number (or WhatsApp user id)
	Local     string       `json:"local,omitempty"`
	Name      string       `json:"name,omitempty"` // the customer's name, where the channel gave one
	// Text is the message text, or a summary of what it was (a template
	// with its language and values, a media type).
	Text string `json:"text,omitempty"`
	// Origin and OriginID: who sent an outbound message; empty for inbound.
	Origin   Origin `json:"origin,omitempty"`
	OriginID string `json:"origin_id,omitempty"`
	// Status is the channel's status (queued … read, failed, unknown) of an
	// outbound message, Received for an inbound one.
	Status message.Status `json:"status"`
	Reason string         `json:"reason,omitempty"` // why it failed, in English
	// ReasonCode is Reason for translation; zero: show Reason.
	ReasonCode message.Reason `json:"reason_code,omitzero"`
	Code       string         `json:"code,omitempty"` // the channel's error code (CMS 38, WA 131047)
	Created    time.Time      `json:"created"`
	Updated    time.Time      `json:"updated"`
	// Box is the cluster box that last wrote the entry (its Replicator
	// sets it); empty on a box alone.
	Box string `json:"box,omitempty"`
}

// ErrNotFound: no entry with that ID.
var ErrNotFound = errors.New("no such message in the message log")

const (
	prefixTime = "msglog/t/"
	prefixID   = "msglog/id/"
)

// Config configures a Log. Store is required.
type Config struct {
	Store  *store.Store
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
	// Replicator, when set (a box in a cluster), is told of every entry
	// this box records or changes (peer.go); nil on a box alone.
	Replicator Replicator
}

// Log is the message log.
type Log struct {
	st   *store.Store
	now  func() time.Time
	log  *slog.Logger
	repl Replicator
	// indexed: every entry has its index keys (false while Run builds the
	// index of a log from before it; Search then reads the whole log).
	indexed atomic.Bool
	// entries: the entries statusTxn wrote or read last, decoded (checked
	// against the stored bytes on every read, store.DecodeCache): an
	// outbound message's sending, sent and delivered each read what the
	// one before wrote. Entries are copied whole (ReasonCode is replaced,
	// never changed in place).
	entries *store.DecodeCache[Entry]
}

// entryCacheSize: entries Log.entries holds (about 0.5–1 KB each).
const entryCacheSize = 1024

// New returns the log on cfg.Store.
func New(cfg Config) (*Log, error) {
	if cfg.Store == nil {
		return nil, errors.New("msglog: no store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{st: cfg.Store, now: cfg.Now, log: cfg.Logger, repl: cfg.Replicator, entries: store.NewDecodeCache[Entry](entryCacheSize, nil)}
	if err := l.checkIndex(); err != nil {
		return nil, err
	}
	return l, nil
}

func stamp(t time.Time) string { return fmt.Sprintf("%019d", max(t.UnixNano(), 0)) }

func entryKey(ts, id string) []byte { return []byte(prefixTime + ts + "/" + id) }

// RecordTxn adds e in txn unless an entry with its ID exists (a channel
// redelivering, a crash retry re-enqueuing the same message): recording is
// idempotent by ID and the first entry stays. It reports whether e was
// added. Zero Created/Updated take the log's clock.
func (l *Log) RecordTxn(txn *store.Txn, e Entry) (bool, error) {
	if e.ID == "" {
		return false, errors.New("msglog: the message has no ID")
	}
	if _, err := txn.Get([]byte(prefixID + e.ID)); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("msglog: %w", err)
	}
	if e.Created.IsZero() {
		e.Created = l.now()
	}
	if e.Updated.IsZero() {
		e.Updated = e.Created
	}
	e.Created, e.Updated = e.Created.UTC(), e.Updated.UTC()
	if err := l.replicate(txn, &e); err != nil {
		return false, err
	}
	if err := writeEntry(txn.Set, &e); err != nil {
		return false, fmt.Errorf("msglog: %w", err)
	}
	return true, nil
}

// Record adds e in a transaction of its own (see RecordTxn).
func (l *Log) Record(_ context.Context, e Entry) error {
	return l.st.Update(func(txn *store.Txn) error {
		_, err := l.RecordTxn(txn, e)
		return err
	})
}

// Inbound records a message received from a contact.
func (l *Log) Inbound(ctx context.Context, in message.Inbound) error {
	return l.Record(ctx, InboundEntry(in))
}

// InboundEntry is the entry of an inbound message.
func InboundEntry(in message.Inbound) Entry {
	text := in.Text
	switch {
	case in.MediaType != "" && text != "":
		text = in.MediaType + ": " + text
	case in.MediaType != "":
		text = in.MediaType
	}
	return Entry{ID: in.ID, Direction: In, Kind: in.Kind, Channel: in.Channel, Peer: peer(in.Kind, in.From), Local: in.Receiver,
		Name: in.Name, Text: text, Status: Received, Created: in.At}
}

// peer writes a WhatsApp number the way SMS numbers are written: Meta
// sends "4917…", campaigns "+49 17…"; business-scoped user ids stay.
func peer(kind message.Kind, s string) string {
	if kind != message.WhatsApp {
		return s
	}
	d := strings.Map(func(r rune) rune {
		switch r {
		case '+', ' ', '-', '(', ')', '.':
			return -1
		}
		return r
	}, s)
	if d == "" || strings.ContainsFunc(d, func(r rune) bool { return r < '0' || r > '9' }) {
		return s
	}
	return "+" + d
}

// OutboundEntry is the entry of an outbound message just accepted by its
// channel; summary stands in for the text when the message has none of its
// own (templates, media).
func OutboundEntry(kind message.Kind, o message.Outbound, summary string, at time.Time) Entry {
	origin, oid := OriginOf(o.ID, o.Ref)
	text := o.Text
	if summary != "" {
		text = summary
	}
	return Entry{ID: o.ID, Direction: Out, Kind: kind, Channel: o.Channel, Peer: peer(kind, o.To), Local: o.Sender, Text: text,
		Origin: origin, OriginID: oid, Status: message.Queued, Created: at}
}

// Queued records an outbound message in txn, the transaction in which its
// channel accepts it (the SMS pool's queue), so a message is queued and
// logged or neither.
func (l *Log) Queued(txn *store.Txn, kind message.Kind, o message.Outbound, summary string, at time.Time) error {
	_, err := l.RecordTxn(txn, OutboundEntry(kind, o, summary, at))
	return err
}

// Outbound records an outbound message in a transaction of its own.
func (l *Log) Outbound(ctx context.Context, kind message.Kind, o message.Outbound, summary string) error {
	return l.Record(ctx, OutboundEntry(kind, o, summary, l.now()))
}

// OriginOf derives who sent a message from the conventions of its ID and
// Ref: campaigns ("campaign-<campaign>-<seq>-<attempt>", ref
// "campaign/<campaign>"), chat sessions ("ses-<session>-<seq>", ref
// "session/<session>"), automatic answers ("reply-<inbound id>-<random>"),
// SMS forwards ("fwd-…") and `pbxgate send` ("cli-…").
func OriginOf(id, ref string) (Origin, string) {
	if rest, ok := strings.CutPrefix(ref, "campaign/"); ok && rest != "" {
		return OriginCampaign, rest
	}
	if rest, ok := strings.CutPrefix(ref, "session/"); ok && rest != "" {
		return OriginSession, rest
	}
	dropLast := func(s string, n int) string {
		for range n {
			i := strings.LastIndexByte(s, '-')
			if i <= 0 {
				return ""
			}
			s = s[:i]
		}
		return s
	}
	switch {
	case strings.HasPrefix(id, "campaign-"):
		return OriginCampaign, dropLast(strings.TrimPrefix(id, "campaign-"), 2)
	case strings.HasPrefix(id, "ses-"):
		return OriginSession, dropLast(strings.TrimPrefix(id, "ses-"), 1)
	case strings.HasPrefix(id, "reply-"):
		return OriginReply, dropLast(strings.TrimPrefix(id, "reply-"), 1)
	case strings.HasPrefix(id, "fwd-"):
		return OriginForward, ""
	case strings.HasPrefix(id, "cli-"):
		return OriginCLI, ""
	}
	return OriginOther, ""
}

// Advances reports whether an entry in status from may move to to: never
// backwards (message.Status.Rank), and an inbound entry not at all.
func Advances(from, to message.Status) bool {
	return from != Received && to.Rank() > from.Rank()
}

// Status applies a channel's status event to its entry. An event that
// would move the entry backwards (delivered, then a late sent) changes
// nothing; an event for a message not in the log (sent before the log
// existed, or pruned) is ignored. A channel that keeps the event until
// this write is durable marks ctx with store.DeferSync; the write then does
// not wait for the store's sync.
func (l *Log) Status(ctx context.Context, ev message.StatusEvent) error {
	return l.Statuses(ctx, []message.StatusEvent{ev})
}

// Statuses is Status for several events, stored in one transaction
// (events of one message in the order given).
func (l *Log) Statuses(ctx context.Context, evs []message.StatusEvent) error {
	var missing []string
	err := l.st.UpdateCtx(ctx, func(txn *store.Txn) error {
		missing = missing[:0]
		found := 0
		for _, ev := range evs {
			if ev.ID == "" {
				continue
			}
			err := l.statusTxn(txn, ev)
			if errors.Is(err, ErrNotFound) {
				missing = append(missing, ev.ID)
				continue
			}
			if err != nil {
				return fmt.Errorf("msglog: status of %s: %w", ev.ID, err)
			}
			found++
		}
		if found == 0 {
			return errNothingToStore // no commit, no sync
		}
		return nil
	})
	for _, id := range missing {
		l.log.Debug("msglog: status of a message not in the log", "id", id)
	}
	if errors.Is(err, errNothingToStore) {
		return nil
	}
	return err
}

var errNothingToStore = errors.New("nothing to store")

// StatusTxn is Status inside txn, the transaction in which the channel
// stores the event (events.TxnJournal): durable with it.
func (l *Log) StatusTxn(txn *store.Txn, ev message.StatusEvent) error {
	if ev.ID == "" {
		return nil
	}
	err := l.statusTxn(txn, ev)
	if errors.Is(err, ErrNotFound) {
		l.log.Debug("msglog: status of a message not in the log", "id", ev.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("msglog: status of %s: %w", ev.ID, err)
	}
	return nil
}

func (l *Log) statusTxn(txn *store.Txn, ev message.StatusEvent) error {
	key, e, err := l.getTxn(txn, ev.ID)
	if err != nil {
		return err
	}
	if !Advances(e.Status, ev.Status) {
		if e.Local == "" && ev.Sender != "" {
			e.Local = ev.Sender
			if l.repl != nil {
				e.Updated = l.now().UTC() // so the change wins on the other boxes (peer.go)
			}
			if err := l.replicate(txn, &e); err != nil {
				return err
			}
			return l.entries.Set(txn, key, &e)
		}
		return nil
	}
	if ev.Status != e.Status {
		n := e.Created.UnixNano()
		if err := txn.Delete(indexKey(n, filterTerm(tStatus, string(e.Status)))); err != nil {
			return err
		}
		if err := txn.Set(indexKey(n, filterTerm(tStatus, string(ev.Status))), nil); err != nil {
			return err
		}
	}
	e.Status, e.Reason, e.ReasonCode, e.Code = ev.Status, ev.Reason, ev.ReasonCode, ev.Code
	if ev.Sender != "" {
		e.Local = ev.Sender
	}
	e.Updated = l.now().UTC()
	if err := l.replicate(txn, &e); err != nil {
		return err
	}
	return l.entries.Set(txn, key, &e)
}

func (l *Log) getTxn(txn *store.Txn, id string) (string, Entry, error) {
	var e Entry
	item, err := txn.Get([]byte(prefixID + id))
	if errors.Is(err, store.ErrNotFound) {
		return "", e, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return "", e, err
	}
	ts, err := item.ValueCopy(nil)
	if err != nil {
		return "", e, err
	}
	key := string(entryKey(string(ts), id))
	if err := l.entries.Get(txn, key, &e); errors.Is(err, store.ErrNotFound) {
		return "", e, fmt.Errorf("%w: %s", ErrNotFound, id)
	} else if err != nil {
		return "", e, err
	}
	return key, e, nil
}

// Get returns the entry of message id (ErrNotFound if there is none).
func (l *Log) Get(_ context.Context, id string) (Entry, error) {
	var e Entry
	err := l.st.View(func(txn *store.Txn) error {
		var err error
		_, e, err = l.getTxn(txn, id)
		return err
	})
	return e, err
}

// Prune deletes the entries created before before (retention) and returns
// how many.
func (l *Log) Prune(ctx context.Context, before time.Time) (int, error) {
	end := prefixTime + stamp(before)
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// An entry goes with its ID key and its index keys in one
		// transaction; 100 entries keep it well below Badger's limit.
		var keys []string
		var index [][]byte
		err := l.st.View(func(txn *store.Txn) error {
			it := txn.NewIterator(store.Prefix(prefixTime, true, false))
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < 100; it.Next() {
				k := string(it.Item().Key())
				if k >= end {
					break
				}
				keys = append(keys, k)
				var e Entry
				if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
					continue // damaged: no index keys to find
				}
				_ = setIndex(func(k, _ []byte) error { index = append(index, k); return nil }, &e)
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("msglog: prune: %w", err)
		}
		if len(keys) == 0 {
			return n, nil
		}
		err = l.st.Update(func(txn *store.Txn) error {
			for _, k := range keys {
				if err := txn.Delete([]byte(k)); err != nil {
					return err
				}
				if _, id, ok := splitKey(k); ok {
					if err := txn.Delete([]byte(prefixID + id)); err != nil {
						return err
					}
				}
			}
			for _, k := range index {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("msglog: prune: %w", err)
		}
		n += len(keys)
	}
}

// splitKey parses an entry key into its time stamp and ID.
func splitKey(k string) (ts, id string, ok bool) {
	rest, ok := strings.CutPrefix(k, prefixTime)
	if !ok || len(rest) < 21 || rest[19] != '/' {
		return "", "", false
	}
	if _, err := strconv.ParseUint(rest[:19], 10, 64); err != nil {
		return "", "", false
	}
	return rest[:19], rest[20:], true
}

// Run builds the search index of a log from before it (once, resumed
// after a restart), then prunes entries older than keep now and then once
// a day (gateway/retention), until ctx ends; keep 0 keeps everything.
func (l *Log) Run(ctx context.Context, keep time.Duration) error {
	if !l.indexed.Load() {
		if err := l.buildIndex(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // resumed at the next start
			}
			l.log.Error("message log: building the search index failed; searches read the whole log", "err", err)
		}
	}
	retention.Daily(ctx, keep, l.now, l.Prune, l.log, "message log")
	return nil
}
