package whatsapp

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of one channel; registered only when Options.Registerer is set.
type metrics struct {
	sent       prometheus.Counter
	sendErrors *prometheus.CounterVec // by Meta's error code
	webhooks   *prometheus.CounterVec // by result: stored, bad_signature, too_large, store_error
	statuses   *prometheus.CounterVec // by status
	inbound    prometheus.Counter
}

func newMetrics(ch *Channel, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"channel": ch.o.Name}
	m := &metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "pbxgate_whatsapp_sent_total",
			Help: "Messages accepted by the WhatsApp Cloud API.", ConstLabels: labels}),
		sendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_whatsapp_send_errors_total",
			Help: "Send attempts refused by the Cloud API, by Meta's error code (retries included).", ConstLabels: labels}, []string{"code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_whatsapp_webhooks_total",
			Help: "Webhook POSTs by result (stored, bad_signature, too_large, store_error), and notifications partly unreadable (partly_bad) or for a number not configured (other_number).", ConstLabels: labels}, []string{"result"}),
		statuses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_whatsapp_statuses_total",
			Help: "Status changes of sent messages reported by webhook.", ConstLabels: labels}, []string{"status"}),
		inbound: prometheus.NewCounter(prometheus.CounterOpts{Name: "pbxgate_whatsapp_inbound_total",
			Help: "Inbound messages handed on (after de-duplication).", ConstLabels: labels}),
	}
	if reg == nil {
		return m, nil
	}
	tier := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pbxgate_whatsapp_tier_used",
		Help: "Unique users reached outside the service window in the last 24 h (messaging-limit tier usage).", ConstLabels: labels},
		func() float64 { return float64(ch.contacts.tierUsage(ch.clk.Now())) })
	stopped := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pbxgate_whatsapp_stopped",
		Help: "1 while the channel is stopped and needs the administrator (token, spam limit).", ConstLabels: labels},
		func() float64 {
			if ch.Health().State == "stopped" {
				return 1
			}
			return 0
		})
	for _, c := range []prometheus.Collector{m.sent, m.sendErrors, m.webhooks, m.statuses, m.inbound, tier, stopped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("whatsapp metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) sendError(code int) { m.sendErrors.WithLabelValues(strconv.Itoa(code)).Inc() }
