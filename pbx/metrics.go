package pbx

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	registered prometheus.Gauge
	registers  *prometheus.CounterVec
	out        *prometheus.CounterVec
	parts      prometheus.Counter
	in         *prometheus.CounterVec
	busy       *prometheus.CounterVec
	lost       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		registered: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pbxgate_sip_registered",
			Help: "1 while pbxgate is registered at the PBX."}),
		registers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_sip_register_attempts_total",
			Help: "REGISTER attempts by result (ok, failed)."}, []string{"result"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_sip_chats_out_total",
			Help: "Chats to extensions by result (delivered, unreachable, refused)."}, []string{"result"}),
		parts: prometheus.NewCounter(prometheus.CounterOpts{Name: "pbxgate_sip_message_parts_out_total",
			Help: "MESSAGE requests accepted by extensions (a long chat takes several)."}),
		in: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_sip_messages_in_total",
			Help: "MESSAGE requests from extensions by result."}, []string{"result"}),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_sip_busy_total",
			Help: "MESSAGEs from extensions answered 503 (retry later), by why: too_many at once, slow_store (not stored within the answer budget), or disk_low (data disk below store.min_free_space)."}, []string{"why"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pbxgate_sip_registration_lost_total",
			Help: "Registrations the keepalive found lost, by why: unanswered (registrar down) or forgotten (registrar restarted)."}, []string{"why"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.registered, m.registers, m.out, m.parts, m.in, m.busy, m.lost} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register SIP metrics: %w", err)
		}
	}
	return m, nil
}
