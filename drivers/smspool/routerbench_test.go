package smspool

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim/simproc"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	evroute "github.com/pbxgate/pbxgate/gateway/events"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// lateLog is the message log once the rig's store is open for good (the
// harness reopens it for sync_writes): the pool's Journal and the
// router's, as cmd/pbxgate wires them.
type lateLog struct{ l atomic.Pointer[msglog.Log] }

func (j *lateLog) Queued(txn *store.Txn, kind message.Kind, o message.Outbound, summary string, at time.Time) error {
	if l := j.l.Load(); l != nil {
		return l.Queued(txn, kind, o, summary, at)
	}
	return nil
}

func (j *lateLog) Status(ctx context.Context, ev message.StatusEvent) error {
	return j.Statuses(ctx, []message.StatusEvent{ev})
}

func (j *lateLog) Statuses(ctx context.Context, evs []message.StatusEvent) error {
	if l := j.l.Load(); l != nil {
		return l.Statuses(ctx, evs)
	}
	return nil
}

func (j *lateLog) StatusTxn(txn *store.Txn, ev message.StatusEvent) error {
	if l := j.l.Load(); l != nil {
		return l.StatusTxn(txn, ev)
	}
	return nil
}

// BenchmarkSchedulerCPUPerSMSRouter is BenchmarkSchedulerCPUPerSMS
// (sync_writes on, simulator in a child process) wired as the daemon
// wires it: the pool's events go to an events.Router with the message log
// as its journal and the campaign engine registered, and the pool records
// every SMS in the message log when it queues it.
func BenchmarkSchedulerCPUPerSMSRouter(b *testing.B) {
	sims := []string{"gsm1", "gsm2"}
	d := newDoneSink(b.N)
	ext := startExtSim(b, len(sims), 0, 255)
	paths := map[string]string{}
	for i, n := range sims {
		paths[n] = ext.Paths[i]
	}
	j := &lateLog{}
	router := evroute.New(evroute.Config{Journal: j})
	router.Observe(func(ev message.StatusEvent) { _ = d.Status(context.Background(), ev) })
	s := newSchedRigPaths(b, sims, 0, true, nil, paths, func(c *Config) {
		c.Recheck = time.Second
		c.Sink = router
		c.Journal = j
	})
	l, err := msglog.New(msglog.Config{Store: s.h.st})
	if err != nil {
		b.Fatal(err)
	}
	j.l.Store(l)
	router.Register("campaigns", s.eng, campaign.ErrUnknownStatus)
	waitReady(b, s, len(sims))
	b.ReportAllocs()
	b.ResetTimer()
	simCPU0 := ext.CPU(b)
	cpu0 := simproc.CPU()
	commits0, fsyncs0 := s.h.st.Commits(), s.h.st.Fsyncs()
	start := time.Now()
	c := s.campaignOf("cpu", "A", b.N)
	<-d.done
	s.waitCompleted(b, c.ID)
	elapsed := time.Since(start)
	cpu := simproc.CPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64((ext.CPU(b)-simCPU0).Microseconds())/float64(b.N), "sim-cpu-µs/msg")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(s.h.st.Fsyncs()-fsyncs0)/float64(b.N), "fsyncs/msg")
	b.ReportMetric(float64(s.h.st.Commits()-commits0)/float64(b.N), "txns/msg")
}
