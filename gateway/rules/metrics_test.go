package rules

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	v := newEnv(t, func(c *Config) { c.Registerer = reg })
	v.save(Rule{Name: "a", Order: 1, Keyword: Always, Actions: answer("hi")})
	if _, err := v.cs.Block(context.Background(), blockEntry("+4917", "receive")); err != nil {
		t.Fatal(err)
	}
	v.handle(anna, "hallo")
	v.handle(anna, "STOP")
	v.handle("+4917123", "hallo")
	for _, c := range []struct {
		c    prometheus.Counter
		want float64
	}{
		{v.e.met.messages.WithLabelValues("rules"), 1},
		{v.e.met.messages.WithLabelValues("opt_out"), 1},
		{v.e.met.messages.WithLabelValues("blocked"), 1},
		{v.e.met.actions.WithLabelValues("auto_answer", "done"), 1},
		{v.e.met.actions.WithLabelValues("opt_out", "done"), 1},
	} {
		var m dto.Metric
		if err := c.c.Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != c.want {
			t.Errorf("%v: %v, want %v", m.GetLabel(), got, c.want)
		}
	}
	fams, err := reg.Gather()
	if err != nil || len(fams) != 2 {
		t.Errorf("registered families: %d %v", len(fams), err)
	}
}
