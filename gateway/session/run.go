package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/store"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Run delivers queued messages to extensions (retrying with backoff),
// moves unanswered and undeliverable sessions on, and closes idle sessions,
// until ctx ends. It waits for running deliveries before it returns.
func (m *Manager) Run(ctx context.Context) error {
	defer m.flushHanded()
	defer m.wg.Wait()
	m.runCtx.Store(&ctx)
	if err := m.resumePending(); err != nil {
		return err
	}
	for {
		next, _ := m.sweep(ctx)
		wait := time.Minute
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(m.clock.Now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-m.clock.After(wait):
		}
	}
}

// sweep does what is due now and returns when something is due next and
// how many delivery groups it started.
func (m *Manager) sweep(ctx context.Context) (time.Time, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	var next time.Time
	launched := 0
	due := func(t time.Time) bool {
		if !t.After(now) {
			return true
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
		return false
	}
	for _, s := range m.open {
		if due(s.LastActivity.Add(m.chans[s.Channel].IdleTimeout)) {
			c := newChange()
			m.closeSession(c, s.clone(), "pbxgate", "idle timeout", now)
			if err := m.commit(c); err != nil {
				m.log.Error("close idle session", "session", s.ID, "err", err)
			}
			continue
		}
		if q := m.queues[s.Target.ID]; s.Target.Kind == ToQueue && q != nil && q.AnswerTimeout > 0 &&
			q.Assignment != None && !s.PickedUp && !s.Exhausted && len(s.Offered) > 0 {
			if due(s.OfferedAt.Add(q.AnswerTimeout)) {
				s := s.clone()
				c := newChange()
				c.session(s)
				s.Tried = append(s.Tried, s.Offered...)
				m.moveOn(c, s, "not answered within "+q.AnswerTimeout.String(), now)
				if err := m.commit(c); err != nil {
					m.log.Error("move unanswered session on", "session", s.ID, "err", err)
				}
			}
		}
	}
	// Deliveries go out per session and extension in order: a group is due
	// when its first entry is.
	groups := map[string][]*delivery{}
	for _, d := range m.dlv {
		g := d.Chat.SessionID + "\x00" + d.Ext
		if !m.inflight[g] {
			groups[g] = append(groups[g], d)
		}
	}
	for g, ds := range groups {
		slices.SortFunc(ds, func(a, b *delivery) int {
			if a.First != b.First {
				if a.First {
					return -1
				}
				return 1
			}
			return a.Chat.Seq - b.Chat.Seq
		})
		if !due(ds[0].NextAt) {
			continue
		}
		m.inflight[g] = true
		launched++
		batch := make([]delivery, len(ds))
		for i, d := range ds {
			batch[i] = *d
		}
		m.wg.Add(1)
		go m.deliverGroup(ctx, g, batch)
	}
	return next, launched
}

func (m *Manager) deliverGroup(ctx context.Context, g string, ds []delivery) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.inflight, g)
		m.mu.Unlock()
		m.wake()
	}()
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-m.sem }()
	for _, d := range ds {
		actx, cancel := context.WithTimeout(ctx, m.cfg.DeliveryTimeout)
		err := m.cfg.Deliverer.DeliverChat(actx, d.Ext, d.Chat)
		cancel()
		if ctx.Err() != nil {
			return
		}
		m.result(&d, err)
		if err != nil {
			return
		}
	}
}

func (m *Manager) result(d *delivery, derr error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	if _, ok := m.dlv[d.Key]; !ok {
		return // moved on meanwhile
	}
	c := newChange()
	if derr == nil {
		m.m.deliveries.WithLabelValues("delivered").Inc()
		c.dels = append(c.dels, d.Key)
		if err := m.commit(c); err != nil {
			m.log.Error("store delivery", "session", d.Chat.SessionID, "ext", d.Ext, "err", err)
			return
		}
		if err := m.st.Update(func(txn *store.Txn) error {
			var e Entry
			k := entryKey(d.Chat.SessionID, d.Chat.Seq)
			if err := store.GetJSON(txn, k, &e); err != nil {
				return err
			}
			if !slices.Contains(e.DeliveredTo, d.Ext) {
				e.DeliveredTo = append(e.DeliveredTo, d.Ext)
			}
			e.Status = "delivered"
			return m.setEntry(txn, d.Chat.SessionID, &e)
		}); err != nil {
			m.log.Error("store delivered state", "session", d.Chat.SessionID, "err", err)
		}
		return
	}
	m.m.deliveries.WithLabelValues("failed").Inc()
	nd := *d
	nd.Attempts++
	nd.LastError = derr.Error()
	backoff := m.cfg.RetryMin << min(nd.Attempts-1, 20)
	nd.NextAt = now.Add(min(backoff, m.cfg.RetryMax))
	c.puts = append(c.puts, &nd)
	if nd.Attempts == m.cfg.MaxAttempts {
		m.log.Warn("extension does not take messages", "ext", d.Ext, "session", d.Chat.SessionID, "attempts", nd.Attempts, "err", derr)
	} else {
		m.log.Debug("delivery failed", "ext", d.Ext, "session", d.Chat.SessionID, "attempts", nd.Attempts, "err", derr)
	}
	if nd.Attempts >= m.cfg.MaxAttempts {
		if s := m.open[d.Chat.SessionID]; s != nil {
			s = s.clone()
			if m.unreachable(c, s, d.Ext, now) {
				c.session(s)
			}
		}
	}
	// A delivery the move-on replaced must not be stored again.
	if slices.Contains(c.dels, nd.Key) {
		c.puts = slices.DeleteFunc(c.puts, func(x *delivery) bool { return x.Key == nd.Key })
	}
	if err := m.commit(c); err != nil {
		m.log.Error("store delivery retry", "session", d.Chat.SessionID, "ext", d.Ext, "err", err)
	}
}

// unreachable moves s on from ext after repeated failed deliveries. It
// reports whether s changed. Without anyone else to take it, the
// deliveries to ext keep being retried.
func (m *Manager) unreachable(c *change, s *Session, ext string, now time.Time) bool {
	if s.Target.Kind == ToQueue && !s.PickedUp && !s.Exhausted && slices.Contains(s.Offered, ext) {
		if q := m.queues[s.Target.ID]; q != nil && q.Assignment != None {
			s.Offered = slices.DeleteFunc(s.Offered, func(x string) bool { return x == ext })
			if s.Owner == ext {
				s.Owner = ""
			}
			s.Tried = append(s.Tried, ext)
			s.event(now, "unreachable", "pbxgate", ext)
			m.dropDeliveries(c, s.ID, ext)
			if len(s.Offered) == 0 {
				m.moveOn(c, s, ext+" unreachable", now)
			}
			return true
		}
	}
	if s.Owner != ext {
		return false
	}
	fb := m.fallback(s)
	if fb.IsZero() || fb == s.Target || (fb.Kind == ToExtension && fb.ID == ext) {
		return false
	}
	s.event(now, "unreachable", "pbxgate", ext)
	m.dropDeliveries(c, s.ID, ext)
	if err := m.transfer(c, s, "pbxgate", fb, now); err != nil {
		m.log.Error("transfer to fallback", "session", s.ID, "err", err)
		return false
	}
	return true
}

func (m *Manager) dropDeliveries(c *change, id, ext string) {
	for k, d := range m.dlv {
		if d.Chat.SessionID == id && d.Ext == ext {
			c.dels = append(c.dels, k)
		}
	}
}

func (m *Manager) fallback(s *Session) Target {
	if s.Target.Kind == ToQueue {
		if q := m.queues[s.Target.ID]; q != nil {
			return q.Fallback
		}
		return Target{}
	}
	return m.chans[s.Channel].Fallback
}

// moveOn offers an unanswered queue session to the next member, else to
// the queue's fallback, else to every member without further timeouts.
func (m *Manager) moveOn(c *change, s *Session, why string, now time.Time) {
	q := m.queues[s.Target.ID]
	s.Offered, s.Owner = nil, ""
	if m.offer(c, s, q, now) {
		s.Timeline[len(s.Timeline)-1].Detail += " (" + why + ")"
		m.redeliver(c, s, now)
		return
	}
	if !q.Fallback.IsZero() {
		if err := m.transfer(c, s, "pbxgate", q.Fallback, now); err == nil {
			return
		}
	}
	s.Exhausted = true
	s.Offered = slices.Clone(q.Members)
	s.event(now, "offered", "pbxgate", strings.Join(s.Offered, ",")+" ("+why+"; everyone tried)")
	m.redeliver(c, s, now)
}

// redeliver queues the backlog for the session's current audience.
func (m *Manager) redeliver(c *change, s *Session, now time.Time) {
	backlog, err := m.backlog(s)
	if err != nil {
		m.log.Error("redeliver", "session", s.ID, "err", err)
		return
	}
	for _, e := range backlog {
		var to []string
		for _, ext := range m.audience(s) {
			if !slices.Contains(e.DeliveredTo, ext) {
				to = append(to, ext)
			}
		}
		m.queueDeliveries(c, s, e, to, now)
	}
}

type metrics struct {
	open       prometheus.Gauge
	pending    prometheus.Gauge
	sessions   prometheus.Counter
	messages   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		open:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "pbxgate_sessions_open", Help: "Open chat sessions."}),
		pending:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "pbxgate_session_deliveries_pending", Help: "Messages waiting for an extension (stored and forwarded)."}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{Name: "pbxgate_sessions_created_total", Help: "Chat sessions created."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_session_messages_total",
			Help: "Session messages by direction (in, out, out_failed)."}, []string{"dir"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_session_delivery_attempts_total",
			Help: "Delivery attempts to extensions by result."}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.open, m.pending, m.sessions, m.messages, m.deliveries} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("session metrics already registered: %w", err)
			}
			return nil, err
		}
	}
	return m, nil
}
