package whatsapp

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

const (
	keyQueue = "wa/whq/"   // + ordered key → raw notification body with statuses
	keyBad   = "wa/whbad/" // + same key → body that could not be parsed
	// + m/<wamid>: inbound messages processed by versions before
	// gateway/inbox, with TTL; read so Meta's retries of them stay
	// duplicates.
	keySeen = "wa/seen/"
)

// Inbox stores inbound messages (gateway/inbox): Accept returns nil once
// the message is on disk, and drops one it has already (same channel and
// wamid). The webhook answers Meta 200 only after that.
type Inbox interface {
	Accept(ctx context.Context, in message.Inbound) error
}

// SignatureHeader carries Meta's HMAC-SHA256 of the raw body.
const SignatureHeader = "X-Hub-Signature-256"

// Sign returns the X-Hub-Signature-256 value for body: "sha256=" + hex
// HMAC-SHA256 with the app secret.
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// validSignature checks header against body in constant time.
func validSignature(appSecret, header string, body []byte) bool {
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok || appSecret == "" {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// webhook checks and parses Meta's notifications. Inbound messages go to
// the Inbox before Meta gets its 200; a notification with statuses is
// stored and its statuses are applied from the store, in batches, so Meta
// gets its 200 quickly and nothing is lost in a crash.
type webhook struct {
	ch     *Channel
	notify chan struct{}

	// Deleted queue keys stay behind as tombstones for a while; scanning
	// past thousands of them on every drain would make a burst quadratic,
	// so the worker seeks past what it processed. Keys are strictly
	// increasing numbers; a key may commit after a larger one, so the
	// cursor never passes a key still being written.
	mu       sync.Mutex
	lastKey  int64              // newest key handed out
	inflight map[int64]struct{} // keys handed out, not yet committed
	cursor   int64              // everything up to here is processed; only run's goroutine
}

func newWebhook(ch *Channel) *webhook {
	return &webhook{ch: ch, notify: make(chan struct{}, 1), inflight: map[int64]struct{}{}}
}

func (w *webhook) queueKey(n int64) string { return fmt.Sprintf("%s%020d", w.ch.keys.queue, n) }

// begin hands out the next key: time-ordered, so processing follows arrival
// order, also across restarts.
func (w *webhook) begin() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := max(time.Now().UnixNano(), w.lastKey+1)
	w.lastKey = n
	w.inflight[n] = struct{}{}
	return n
}

func (w *webhook) end(n int64) {
	w.mu.Lock()
	delete(w.inflight, n)
	w.mu.Unlock()
}

// settled is the highest key below which every handed-out key is committed
// (or abandoned).
func (w *webhook) settled() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.lastKey
	for k := range w.inflight {
		s = min(s, k-1)
	}
	return s
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		w.handshake(rw, r)
	case http.MethodPost:
		w.receive(rw, r)
	default:
		rw.Header().Set("Allow", "GET, POST")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// handshake answers Meta's subscription check with the raw challenge.
func (w *webhook) handshake(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	token := q.Get("hub.verify_token")
	want := w.ch.o.VerifyToken
	if q.Get("hub.mode") != "subscribe" || want == "" ||
		subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		w.ch.log.Warn("whatsapp webhook verification refused: verify token does not match whatsapp.verify_token")
		http.Error(rw, "verification failed", http.StatusForbidden)
		return
	}
	rw.Header().Set("Content-Type", "text/plain")
	rw.WriteHeader(http.StatusOK)
	io.WriteString(rw, q.Get("hub.challenge"))
}

func (w *webhook) receive(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.ch.o.MaxWebhookBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			w.ch.metrics.webhooks.WithLabelValues("too_large").Inc()
			http.Error(rw, "notification too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(rw, "cannot read body", http.StatusBadRequest)
		return
	}
	if !validSignature(w.ch.o.AppSecret, r.Header.Get(SignatureHeader), body) {
		w.ch.metrics.webhooks.WithLabelValues("bad_signature").Inc()
		w.ch.log.Warn("whatsapp webhook: missing or wrong signature; check whatsapp.app_secret", "remote", r.RemoteAddr)
		http.Error(rw, "invalid signature", http.StatusUnauthorized)
		return
	}
	if status, msg := w.accept(r.Context(), body); status != http.StatusOK {
		http.Error(rw, msg, status)
		return
	}
	rw.WriteHeader(http.StatusOK)
}

// accept takes a notification whose signature is checked: inbound
// messages to the Inbox, statuses (and what cannot be read) to the queue.
// Anything but 200 makes Meta send it again.
func (w *webhook) accept(ctx context.Context, body []byte) (int, string) {
	p, perr := ParseNotification(body)
	p = w.ch.own(p)
	for _, ev := range p.Account {
		if err := w.ch.applyAccount(ev); err != nil {
			w.ch.metrics.webhooks.WithLabelValues("store_error").Inc()
			w.ch.log.Error("whatsapp webhook: cannot store account update", "err", err)
			return http.StatusServiceUnavailable, "storage unavailable"
		}
	}
	for _, in := range p.Inbound {
		if err := w.ch.acceptInbound(ctx, in); err != nil {
			// Meta retries a non-200 answer; the inbox drops what it
			// has already.
			w.ch.metrics.webhooks.WithLabelValues("store_error").Inc()
			w.ch.log.Error("whatsapp webhook: cannot store inbound message", "err", err)
			return http.StatusServiceUnavailable, "storage unavailable"
		}
	}
	if perr == nil && len(p.Statuses) == 0 && len(p.Bad) == 0 {
		w.ch.metrics.webhooks.WithLabelValues("stored").Inc()
		return http.StatusOK, ""
	}
	// Statuses (and a body that cannot be read, or read only in part,
	// kept for inspection) go through the queue.
	n := w.begin()
	err := w.ch.o.Store.Update(func(txn *store.Txn) error { return txn.Set([]byte(w.queueKey(n)), body) })
	w.end(n)
	if err != nil {
		// Meta retries a non-200 answer, so nothing is lost.
		w.ch.metrics.webhooks.WithLabelValues("store_error").Inc()
		w.ch.log.Error("whatsapp webhook: cannot store notification", "err", err)
		return http.StatusServiceUnavailable, "storage unavailable"
	}
	w.ch.metrics.webhooks.WithLabelValues("stored").Inc()
	select {
	case w.notify <- struct{}{}:
	default:
	}
	return http.StatusOK, ""
}

// run processes the stored queue until ctx ends. A notification whose sink
// fails stays queued and is offered again after a pause.
func (w *webhook) run(ctx context.Context) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.notify:
		case <-retry.C:
		}
		if err := w.drain(ctx); err != nil && ctx.Err() == nil {
			w.ch.log.Warn("whatsapp webhook processing paused", "err", err)
			retry.Reset(w.ch.o.WebhookRetry)
		}
	}
}

// drain processes every queued notification in order, in batches: the
// store changes of a batch are committed in one transaction, so a burst of
// status webhooks costs one write per batch instead of one per status.
func (w *webhook) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		var keys []string
		var bodies [][]byte
		settled := w.settled() // before the read: all keys up to it are visible
		err := w.ch.o.Store.View(func(txn *store.Txn) error {
			start := w.ch.keys.queue
			if w.cursor > 0 {
				start = w.queueKey(w.cursor + 1)
			}
			return store.EachFrom(txn, w.ch.keys.queue, start, func(k string, v []byte) error {
				keys = append(keys, k)
				bodies = append(bodies, append([]byte(nil), v...))
				if len(keys) == 256 {
					return io.EOF
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		b := &batch{recs: map[string]Record{}}
		for i, key := range keys {
			if err := w.process(ctx, b, key, bodies[i]); err != nil {
				// Keep what was handed to sinks so far; the failed
				// notification stays queued.
				return errors.Join(err, w.commit(b))
			}
		}
		if err := w.commit(b); err != nil {
			return err
		}
		last, _ := strconv.ParseInt(strings.TrimPrefix(keys[len(keys)-1], w.ch.keys.queue), 10, 64)
		w.cursor = min(last, settled)
	}
	return ctx.Err()
}

// batch collects the store changes of processed events until commit, and
// lets later events in the batch see them (status rank).
type batch struct {
	changes []func(*store.Txn) error
	recs    map[string]Record // records changed in this batch
}

func (w *webhook) commit(b *batch) error {
	if len(b.changes) == 0 {
		return nil
	}
	err := w.ch.o.Store.Update(func(txn *store.Txn) error {
		for _, c := range b.changes {
			if err := c(txn); err != nil {
				return err
			}
		}
		return nil
	})
	b.changes = nil
	return err
}

func (w *webhook) process(ctx context.Context, b *batch, key string, body []byte) error {
	del := func(txn *store.Txn) error { return txn.Delete([]byte(key)) }
	p, err := ParseNotification(body)
	if err != nil {
		w.ch.log.Error("whatsapp webhook: unreadable notification kept for inspection", "key", key, "err", err)
		b.changes = append(b.changes, func(txn *store.Txn) error {
			if err := txn.Set([]byte(w.ch.keys.bad+strings.TrimPrefix(key, w.ch.keys.queue)), body); err != nil {
				return err
			}
			return del(txn)
		})
		return nil
	}
	p = w.ch.own(p)
	if len(p.Bad) > 0 {
		// The readable rest is processed below; the body is kept.
		w.ch.log.Error("whatsapp webhook: parts of a notification unreadable, body kept for inspection", "key", key, "parts", strings.Join(p.Bad, "; "))
		w.ch.metrics.webhooks.WithLabelValues("partly_bad").Inc()
		b.changes = append(b.changes, func(txn *store.Txn) error {
			return txn.Set([]byte(w.ch.keys.bad+strings.TrimPrefix(key, w.ch.keys.queue)), body)
		})
	}
	// Inbound messages were accepted before the 200; those of a body an
	// older version queued are accepted now (the inbox drops duplicates).
	for _, in := range p.Inbound {
		if err := w.ch.acceptInbound(ctx, in); err != nil {
			return err
		}
	}
	for _, st := range p.Statuses {
		if err := w.ch.handleStatus(ctx, b, st); err != nil {
			return err
		}
	}
	b.changes = append(b.changes, del)
	return nil
}

// own keeps what Meta sent for this channel's phone number. Meta sends the
// webhooks of every number of the business account to the one callback;
// messages and statuses of a number not configured are logged and
// dropped, so they open no service window, reach no inbox and move no
// record. A change without metadata.phone_number_id is kept.
func (ch *Channel) own(p Parsed) Parsed {
	mine := ch.o.PhoneNumberID
	foreign := map[string]int{}
	in := p.Inbound[:0:0]
	for _, ev := range p.Inbound {
		if ev.PhoneNumberID != "" && ev.PhoneNumberID != mine {
			foreign[ev.PhoneNumberID]++
			continue
		}
		in = append(in, ev)
	}
	sts := p.Statuses[:0:0]
	for _, st := range p.Statuses {
		if st.PhoneNumberID != "" && st.PhoneNumberID != mine {
			foreign[st.PhoneNumberID]++
			continue
		}
		sts = append(sts, st)
	}
	g := ch.group.Load()
	for id, n := range foreign {
		p.Foreign += n
		if g != nil && g.byID[id] != nil {
			continue // a sibling number's: it takes them from the same body
		}
		ch.metrics.webhooks.WithLabelValues("other_number").Inc()
		ch.log.Warn("whatsapp webhook for a phone number that is not configured: ignored; configure it or unsubscribe it from this app",
			"phone_number_id", id, "configured", mine, "items", n)
	}
	p.Inbound, p.Statuses = in, sts
	return p
}

// keyChanged + old wa_id → new wa_id, from Meta's user_changed_number
// system messages; keyAlias + new wa_id → the wa_id pbxgate first knew
// the user by.
const (
	keyChanged = "wa/changed/"
	keyAlias   = "wa/alias/"
)

// changeNumber moves a user's conversation to their new number: messages
// to the old number go to the new one, messages from the new number keep
// the contact pbxgate knows (the first number), and the open service
// window moves along.
func (ch *Channel) changeNumber(txn *store.Txn, oldID, newID string) error {
	root, err := getString(txn, keyAlias+oldID)
	if err != nil {
		return err
	}
	if root == "" {
		root = oldID
	}
	if root != newID {
		if err := txn.Set([]byte(keyAlias+newID), []byte(root)); err != nil {
			return err
		}
	} else if err := txn.Delete([]byte(keyAlias + newID)); err != nil { // changed back
		return err
	}
	if err := txn.Delete([]byte(keyChanged + newID)); err != nil {
		return err
	}
	if err := txn.Set([]byte(keyChanged+oldID), []byte(newID)); err != nil {
		return err
	}
	if root != oldID {
		if err := txn.Set([]byte(keyChanged+root), []byte(newID)); err != nil {
			return err
		}
	}
	last, err := getString(txn, ch.keys.window+oldID)
	if err != nil || last == "" {
		return err
	}
	if t, err := parseUnixNano([]byte(last)); err == nil {
		return ch.contacts.recordInbound(txn, t, newID)
	}
	return nil
}

// seenBefore reports whether a version before gateway/inbox processed
// the message already.
func (ch *Channel) seenBefore(wamid string) (bool, error) {
	var seen bool
	err := ch.o.Store.View(func(txn *store.Txn) error {
		var err error
		seen, err = store.Exists(txn, keySeen+"m/"+wamid)
		return err
	})
	return seen, err
}

// acceptInbound hands a message to the Inbox. The service window and the
// user-id mapping are written first, so an automatic answer to it (STOP
// confirmation, keyword reply) may be free text; writing them again for a
// duplicate changes nothing.
func (ch *Channel) acceptInbound(ctx context.Context, in InboundEvent) error {
	if done, err := ch.seenBefore(in.Message.ID); err != nil || done {
		return err
	}
	err := ch.o.Store.Update(func(txn *store.Txn) error {
		if in.WaID != "" && in.UserID != "" {
			if err := txn.Set([]byte(keyUserID+in.UserID), []byte(in.WaID)); err != nil {
				return err
			}
		}
		// Every message a user writes opens the service window, also
		// those pbxgate cannot show (unsupported types); system notices
		// do not.
		if in.Type != "system" {
			return ch.contacts.recordInbound(txn, in.Message.At, in.WaID, in.UserID)
		}
		if in.NewWaID != "" && in.WaID != "" && in.NewWaID != in.WaID {
			return ch.changeNumber(txn, in.WaID, in.NewWaID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inbound %s: %w", in.Message.ID, err)
	}
	if in.NewWaID != "" {
		ch.log.Info("whatsapp user changed number", "from", in.WaID, "to", in.NewWaID, "wamid", in.Message.ID)
	}
	if in.Skip || ch.o.Inbox == nil {
		return nil
	}
	m := in.Message
	m.Channel = ch.o.Name
	if in.Fallback != "" {
		m.Text = fallbackText(ch.o.Language, in.Fallback, in.FallbackArg)
	}
	if m.From == in.WaID && in.WaID != "" {
		// A user who changed number stays the contact pbxgate knows: the
		// conversation, its history and opt-outs continue.
		var old string
		if err := ch.o.Store.View(func(txn *store.Txn) error {
			var err error
			old, err = getString(txn, keyAlias+in.WaID)
			return err
		}); err != nil {
			return fmt.Errorf("inbound %s: %w", m.ID, err)
		}
		if old != "" {
			m.From = old
		}
	}
	if m.Receiver != "" {
		ch.display.Store(m.Receiver)
	}
	if err := ch.o.Inbox.Accept(ctx, m); err != nil {
		return fmt.Errorf("inbound %s: %w", m.ID, err)
	}
	ch.metrics.inbound.Inc()
	return nil
}

// handleStatus applies a status to the message's record and reports it.
// The record's status rank is the de-duplication: a repeated or late
// status changes nothing. The sink is called before the record moves, so a
// crash in between offers the status again.
func (ch *Channel) handleStatus(ctx context.Context, b *batch, s WebhookStatus) error {
	st := message.Status(s.Status)
	switch st {
	case message.Sent, message.Delivered, message.Read, message.Failed:
	default:
		ch.log.Debug("whatsapp webhook: ignoring status", "status", s.Status)
		return nil
	}
	ev := message.StatusEvent{Status: st, ChannelID: s.ID, Sender: ch.o.PhoneNumberID, At: parseUnix(s.Timestamp)}
	if len(s.Errors) > 0 {
		e := s.Errors[0]
		ev.Code = strconv.Itoa(e.Code)
		ev.Reason = strings.TrimSpace(e.Title + ": " + e.ErrorData.Details)
		ev.ReasonCode = apiReason(e.Code, ev.Reason)
		ev.Retryable = ClassifyCode(e.Code, 0, false) == Retry
	}
	id := s.BizOpaqueCallbackData
	var r Record
	found := false
	err := ch.o.Store.View(func(txn *store.Txn) error {
		if id == "" {
			item, err := txn.Get([]byte(keyWAMID + s.ID))
			if errors.Is(err, store.ErrNotFound) {
				return nil // not ours (another app on the number) or long gone
			}
			if err != nil {
				return err
			}
			if err := item.Value(func(b []byte) error { id = string(b); return nil }); err != nil {
				return err
			}
		}
		err := store.GetJSON(txn, keyOut+id, &r)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || id == "" {
		return err
	}
	if pending, ok := b.recs[id]; ok {
		r, found = pending, true
	}
	if !found {
		// The status beat the send's answer (or the record is gone):
		// biz_opaque_callback_data still names our message.
		r = Record{ID: id, To: s.RecipientID, Status: message.Sending}
	}
	// A late or repeated webhook never moves a message backwards; an
	// unknown outcome takes whatever Meta reports.
	if st.Rank() <= r.Status.Rank() && r.Status != message.Unknown {
		return nil
	}
	ev.ID, ev.Ref = id, r.Ref
	if ch.o.Statuses != nil {
		if err := ch.o.Statuses.HandleStatus(ctx, ev); err != nil {
			return fmt.Errorf("status %s of %s: %w", s.Status, id, err)
		}
	}
	ch.metrics.statuses.WithLabelValues(string(st)).Inc()
	r.Status, r.WAMID = st, s.ID
	b.recs[id] = r
	b.changes = append(b.changes, func(txn *store.Txn) error {
		var cur Record
		err := store.GetJSON(txn, keyOut+id, &cur)
		switch {
		case errors.Is(err, store.ErrNotFound):
			cur = Record{ID: id, Ref: r.Ref, To: r.To, Status: message.Sending}
		case err != nil:
			return err
		}
		// The send path may have written the record meanwhile: merge.
		if st.Rank() > cur.Status.Rank() || cur.Status == message.Unknown {
			cur.Status, cur.Updated = st, ev.At
			if ev.Code != "" {
				cur.Code, _ = strconv.Atoi(ev.Code)
				cur.Reason = ev.Reason
			}
		}
		cur.WAMID = s.ID
		return putRecordTxn(txn, cur, s.ID)
	})
	return nil
}

func parseUnix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// InboundEvent is one parsed inbound message with the sender's identities.
type InboundEvent struct {
	Message message.Inbound
	WaID    string // phone-based WhatsApp id (may be empty for username users)
	UserID  string // business-scoped user id (may be empty)
	Type    string // Meta's message type
	ReplyTo string // wamid the user replied or reacted to
	// PhoneNumberID is metadata.phone_number_id: the business number the
	// message was sent to.
	PhoneNumberID string
	// NewWaID: a system user_changed_number notice; the user now writes
	// from this wa_id.
	NewWaID string
	// Skip: nothing to show (system notices); the message still opens the
	// service window unless it is a system notice.
	Skip bool
	// Fallback names the text pbxgate wrote in place of content it
	// cannot show (Message.Text has it in English); the channel writes
	// it in its Options.Language.
	Fallback    string
	FallbackArg string
}

// Parsed is the content of one notification.
type Parsed struct {
	Inbound  []InboundEvent
	Statuses []WebhookStatus
	// Account are the account-level changes: template status, category
	// and quality, number quality and messaging limit, account updates.
	Account []AccountEvent
	// Ignored counts changes of fields pbxgate does not handle (groups,
	// history …).
	Ignored int
	// Bad describes the parts (a message, a status, a change) that could
	// not be decoded; the rest of the notification is still delivered.
	Bad []string
	// Foreign counts messages and statuses for business numbers other
	// than the channel's (set by Channel.own).
	Foreign int
}

// ParseNotification decodes a webhook body. Fields other than "messages"
// are counted as ignored; an object other than whatsapp_business_account
// or a body that is not JSON is an error. Each message, status and
// contact is decoded on its own: one of an unexpected shape is listed in
// Bad and does not lose the others.
func ParseNotification(body []byte) (Parsed, error) {
	var p Parsed
	var n struct {
		Object string            `json:"object"`
		Entry  []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return p, fmt.Errorf("notification is not JSON: %w", err)
	}
	if n.Object != "whatsapp_business_account" {
		return p, fmt.Errorf("notification object %q is not whatsapp_business_account", n.Object)
	}
	for i, raw := range n.Entry {
		var e struct {
			ID      string            `json:"id"`
			Time    json.RawMessage   `json:"time"`
			Changes []json.RawMessage `json:"changes"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			p.Bad = append(p.Bad, fmt.Sprintf("entry %d: %v", i, err))
			continue
		}
		for j, rc := range e.Changes {
			var c struct {
				Field string          `json:"field"`
				Value json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(rc, &c); err != nil {
				p.Bad = append(p.Bad, fmt.Sprintf("entry %d change %d: %v", i, j, err))
				continue
			}
			if c.Field != "messages" {
				at, _ := strconv.ParseInt(strings.Trim(string(e.Time), `"`), 10, 64)
				ev, known, err := parseAccount(c.Field, e.ID, at, c.Value)
				switch {
				case err != nil:
					p.Bad = append(p.Bad, fmt.Sprintf("entry %d change %d: %v", i, j, err))
				case known:
					p.Account = append(p.Account, ev)
				default:
					p.Ignored++
				}
				continue
			}
			p.parseMessages(c.Value, fmt.Sprintf("entry %d change %d", i, j))
		}
	}
	return p, nil
}

// parseMessages decodes the value of a "messages" change part by part.
func (p *Parsed) parseMessages(value json.RawMessage, where string) {
	var v struct {
		Metadata json.RawMessage   `json:"metadata"`
		Contacts []json.RawMessage `json:"contacts"`
		Messages []json.RawMessage `json:"messages"`
		Statuses []json.RawMessage `json:"statuses"`
	}
	if err := json.Unmarshal(value, &v); err != nil {
		p.Bad = append(p.Bad, fmt.Sprintf("%s: %v", where, err))
		return
	}
	var md struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	}
	if len(v.Metadata) > 0 {
		if err := json.Unmarshal(v.Metadata, &md); err != nil {
			// Without it the number the messages were sent to is
			// unknown: nothing of this change can be assigned.
			p.Bad = append(p.Bad, fmt.Sprintf("%s metadata: %v", where, err))
			return
		}
	}
	names := map[string]WebhookContact{}
	for k, rc := range v.Contacts {
		var ct WebhookContact
		if err := json.Unmarshal(rc, &ct); err != nil {
			p.Bad = append(p.Bad, fmt.Sprintf("%s contact %d: %v", where, k, err))
			continue
		}
		names[ct.WaID] = ct
		if ct.UserID != "" {
			names[ct.UserID] = ct
		}
	}
	receiver := md.DisplayPhoneNumber
	if receiver == "" {
		receiver = md.PhoneNumberID
	}
	for k, rm := range v.Messages {
		var m InboundMessage
		if err := json.Unmarshal(rm, &m); err != nil {
			p.Bad = append(p.Bad, fmt.Sprintf("%s message %d: %v", where, k, err))
			if ev, ok := unreadableEvent(rm, names, receiver, err); ok {
				ev.PhoneNumberID = md.PhoneNumberID
				p.Inbound = append(p.Inbound, ev)
			}
			continue
		}
		ev := inboundEvent(m, names, receiver)
		ev.PhoneNumberID = md.PhoneNumberID
		p.Inbound = append(p.Inbound, ev)
	}
	for k, rs := range v.Statuses {
		var st WebhookStatus
		if err := json.Unmarshal(rs, &st); err != nil {
			p.Bad = append(p.Bad, fmt.Sprintf("%s status %d: %v", where, k, err))
			continue
		}
		st.PhoneNumberID = md.PhoneNumberID
		p.Statuses = append(p.Statuses, st)
	}
}

// unreadableEvent makes what can be read of a message that does not
// decode (its id and sender are strings) into an inbound message that
// says so, so the agent learns the contact wrote.
func unreadableEvent(raw json.RawMessage, contacts map[string]WebhookContact, receiver string, err error) (InboundEvent, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return InboundEvent{}, false
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(fields[k], &s)
		return s
	}
	m := InboundMessage{ID: str("id"), From: str("from"), FromUser: str("from_user_id"), Timestamp: str("timestamp"), Type: str("type")}
	if m.ID == "" || (m.From == "" && m.FromUser == "") {
		return InboundEvent{}, false
	}
	if m.Timestamp == "" {
		var n json.Number
		if json.Unmarshal(fields["timestamp"], &n) == nil {
			m.Timestamp = n.String()
		}
	}
	kind := m.Type
	m.Type = "unreadable"
	ev := inboundEvent(m, contacts, receiver)
	ev.Type = kind
	ev.Skip = false
	ev.Message.Unsupported = "pbxgate cannot read this " + strings.TrimSpace(kind+" message") + ": " + err.Error()
	// The decoder's words are for the administrator (log, wa/whbad/).
	ev.Message.Text = "[" + strings.TrimSpace(kind+" message") + " pbxgate cannot read; kept for the administrator]"
	ev.Fallback, ev.FallbackArg = fbUnreadable, kind
	return ev, true
}

func inboundEvent(m InboundMessage, contacts map[string]WebhookContact, receiver string) InboundEvent {
	ev := InboundEvent{WaID: m.From, UserID: m.FromUser, Type: m.Type}
	ct, ok := contacts[m.From]
	if !ok && m.FromUser != "" {
		ct, ok = contacts[m.FromUser]
	}
	if ok {
		if ev.UserID == "" {
			ev.UserID = ct.UserID
		}
		if ev.WaID == "" {
			ev.WaID = ct.WaID
		}
	}
	from := ev.UserID
	if from == "" {
		from = ev.WaID
	}
	if m.Context != nil {
		ev.ReplyTo = m.Context.ID
	}
	in := message.Inbound{ID: m.ID, Kind: message.WhatsApp, Receiver: receiver, From: from,
		Name: ct.Profile.Name, At: parseUnix(m.Timestamp)}
	if r := m.Referral; r != nil {
		in.Referral = &message.Referral{SourceType: r.SourceType, SourceID: r.SourceID, SourceURL: r.SourceURL, Headline: r.Headline, Body: r.Body}
	}
	unsupported := func(reason string) {
		in.Unsupported = reason
		in.Text = "not supported by WhatsApp: " + reason
		ev.Fallback, ev.FallbackArg = fbUnsupported, reason
	}
	media := func(md *InboundMedia) {
		if md == nil {
			unsupported(m.Type + " message without its " + m.Type)
			return
		}
		in.MediaType, in.MediaID, in.Text = m.Type, md.ID, md.Caption
		if in.Text == "" {
			in.Text = md.Filename
		}
	}
	switch m.Type {
	case "text":
		if m.Text != nil {
			in.Text = m.Text.Body
		}
	case "image":
		media(m.Image)
	case "document":
		media(m.Document)
	case "audio":
		media(m.Audio)
	case "video":
		media(m.Video)
	case "sticker":
		media(m.Sticker)
	case "location":
		if l := m.Location; l != nil {
			in.MediaType = "location"
			in.Text = strings.Join(strings.Fields(fmt.Sprintf("%s %s (%.6f,%.6f)", l.Name, l.Address, l.Latitude, l.Longitude)), " ")
		} else {
			unsupported("location message without its location")
		}
	case "button":
		if m.Button != nil {
			in.Text, in.Payload = m.Button.Text, m.Button.Payload
		} else {
			unsupported("button message without its button")
		}
	case "interactive":
		it := m.Interactive
		switch {
		case it != nil && it.ButtonReply != nil:
			in.Text, in.Payload = it.ButtonReply.Title, it.ButtonReply.ID
		case it != nil && it.ListReply != nil:
			in.Text, in.Payload = it.ListReply.Title, it.ListReply.ID
			if d := it.ListReply.Description; d != "" && in.Text != "" {
				in.Text += " (" + d + ")"
			}
		case it != nil:
			unsupported("interactive reply of type " + strconv.Quote(it.Type))
		default:
			unsupported("interactive message without its content")
		}
	case "reaction":
		if r := m.Reaction; r != nil {
			in.Reaction = true
			ev.ReplyTo = r.MessageID
			if r.Emoji == "" {
				// Meta sends a removed reaction with an empty emoji.
				in.Removed = true
				in.Text = "[reaction removed]"
				ev.Fallback = fbReactionRemoved
			} else {
				in.Text = r.Emoji
			}
		} else {
			unsupported("reaction without its reaction")
		}
	case "contacts":
		in.Text = "[shared contact]"
		ev.Fallback = fbContact
	case "order":
		in.Text = "[order]"
		ev.Fallback = fbOrder
	case "system":
		ev.Skip = true
		if s := m.System; s != nil {
			in.Text = s.Body
			if s.Type == "user_changed_number" {
				ev.NewWaID = s.WaID
			}
		}
	case "unreadable": // set by unreadableEvent
	default: // "unsupported" and types newer than pbxgate
		reason := "message type " + strconv.Quote(m.Type)
		if len(m.Errors) > 0 {
			e := m.Errors[0]
			reason = cmp.Or(e.ErrorData.Details, e.Message, e.Title, reason)
			if e.Code != 0 {
				reason += " (" + strconv.Itoa(e.Code) + ")"
			}
		}
		unsupported(reason)
	}
	in.ReplyTo = ev.ReplyTo
	ev.Message = in
	return ev
}
