package rules

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages *prometheus.CounterVec // by outcome: rules, blocked, opt_out, opt_in
	actions  *prometheus.CounterVec // by action type and status
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pbxgate_automation_messages_total",
			Help: "Inbound messages handled by the automation, by result (rules, blocked, opt_out, opt_in).",
		}, []string{"result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pbxgate_automation_actions_total",
			Help: "Automation action attempts by action and status (done, queued, retrying, failed, skipped).",
		}, []string{"action", "status"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.messages, m.actions} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("automation metrics: %w", err)
			}
		}
	}
	return m, nil
}
