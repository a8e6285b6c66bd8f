package smspool

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	sent, failed, delivered, retried, unknown, received *prometheus.CounterVec

	queueDepth, blocked, simReady, simToday *prometheus.Desc
	p                                       *Pool
}

func newMetrics(reg prometheus.Registerer, p *Pool) (*metrics, error) {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pbxgate", Subsystem: "sms", Name: name, Help: help}, []string{"sim"})
	}
	m := &metrics{
		p:         p,
		sent:      counter("sent_total", "SMS handed to the network by a SIM."),
		failed:    counter("failed_total", "SMS that failed for good (send error or delivery report), by SIM."),
		delivered: counter("delivered_total", "SMS confirmed delivered by status report, by SIM."),
		retried:   counter("moved_total", "SMS moved to another SIM (or back to the queue) after a modem error, by SIM that failed."),
		unknown:   counter("unknown_total", "SMS that may or may not have gone out (modem stopped answering mid-send, or a crash), by SIM."),
		received:  counter("received_total", "Received SMS PDUs stored (parts of long SMS count each), by SIM."),
		queueDepth: prometheus.NewDesc("pbxgate_sms_queue_depth", "SMS queued for a SIM, by channel.",
			[]string{"channel"}, nil),
		blocked: prometheus.NewDesc("pbxgate_sms_channel_blocked", "1 when no SIM of the channel can send (caps, quiet hours, offline).",
			[]string{"channel"}, nil),
		simReady: prometheus.NewDesc("pbxgate_sms_sim_ready", "1 when the SIM's modem is attached and ready to send.",
			[]string{"sim"}, nil),
		simToday: prometheus.NewDesc("pbxgate_sms_sim_sent_today_parts", "SMS parts sent today by the SIM (counted against its daily cap).",
			[]string{"sim"}, nil),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sent, m.failed, m.delivered, m.retried, m.unknown, m.received, m} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("smspool: register metrics: %w", err)
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector for the gauges read at scrape time.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.queueDepth
	ch <- m.blocked
	ch <- m.simReady
	ch <- m.simToday
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.p.ChannelStates() {
		ch <- prometheus.MustNewConstMetric(m.queueDepth, prometheus.GaugeValue, float64(c.Queued), c.Name)
		v := 0.0
		if c.Blocked != "" {
			v = 1 // the reason is in the portal and CLI; as a label it would churn series
		}
		ch <- prometheus.MustNewConstMetric(m.blocked, prometheus.GaugeValue, v, c.Name)
	}
	for _, s := range m.p.SIMStates() {
		v := 0.0
		if s.Ready {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.simReady, prometheus.GaugeValue, v, s.Name)
		ch <- prometheus.MustNewConstMetric(m.simToday, prometheus.GaugeValue, float64(s.SentToday), s.Name)
	}
}
