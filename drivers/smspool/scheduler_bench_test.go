package smspool

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim/simproc"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// The SIM scheduler's benchmarks (issue 14): a campaign pulls its window
// from the pool, which drives simulated modems on ptys through
// drivers/modem. docs/benchmarks.md ("SIM scheduler") has the commands.

// doneSink closes done when want campaign messages reached "sent", and
// records when each interactive message did.
type doneSink struct {
	mu     sync.Mutex
	want   int
	n      int
	done   chan struct{}
	sentAt map[string]time.Time
}

func newDoneSink(want int) *doneSink {
	return &doneSink{want: want, done: make(chan struct{}), sentAt: map[string]time.Time{}}
}

func (d *doneSink) Status(_ context.Context, ev message.StatusEvent) error {
	if ev.Status != message.Sent {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(ev.ID) > 9 && ev.ID[:9] == "campaign-" {
		d.n++
		if d.n == d.want {
			close(d.done)
		}
		return nil
	}
	d.sentAt[ev.ID] = time.Now()
	return nil
}

// BenchmarkSchedulerUtilisation: a 400-recipient campaign on 4 simulated
// modems with a fixed 1 s send latency (modemsim answers AT+CMGS after
// exactly SendLatency). %of-ideal is messages × latency ÷ modems against
// the time from Create to the last "sent", with the nominal latency (not
// what the modems took). Run it with -benchtime 1x: one op is one
// campaign; it takes about 100 s.
func BenchmarkSchedulerUtilisation(b *testing.B) {
	const (
		n       = 400
		latency = time.Second
	)
	sims := []string{"gsm1", "gsm2", "gsm3", "gsm4"}
	for i := range b.N {
		d := newDoneSink(n)
		s := newSchedRigSync(b, sims, latency, false, d)
		waitReady(b, s, len(sims))
		start := time.Now()
		s.campaignOf(fmt.Sprint("util ", i), "A", n)
		<-d.done
		elapsed := time.Since(start)
		ideal := time.Duration(n) * latency / time.Duration(len(sims))
		b.ReportMetric(100*float64(ideal)/float64(elapsed), "%of-ideal")
		b.ReportMetric(elapsed.Seconds(), "s/campaign")
	}
}

// waitReady waits until every SIM of the rig can send (modems
// initialised), so set-up time is not counted.
func waitReady(b testing.TB, s *schedRig, n int) {
	deadline := time.Now().Add(30 * time.Second)
	for s.ch.Capacity() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d SIMs ready", s.ch.Capacity(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkSchedulerReplyLatency: while a campaign keeps 2 simulated SIMs
// (1 s per SMS) busy, interactive replies are queued at random moments;
// reported is the time from Enqueue to the pool's "sent" (the modem's
// +CMGS answer) as median and worst, in units of one send latency. The
// ideal is at most 2: the campaign SMS a SIM is transmitting, then the
// reply. One op is one reply; run with -benchtime 20x.
func BenchmarkSchedulerReplyLatency(b *testing.B) {
	const latency = time.Second
	sims := []string{"gsm1", "gsm2"}
	d := newDoneSink(-1)
	s := newSchedRigSync(b, sims, latency, false, d)
	waitReady(b, s, len(sims))
	s.campaignOf("busy", "A", 1000)
	time.Sleep(2 * latency) // the campaign is running on both SIMs
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("reply-%d", i)
		start := time.Now()
		if err := s.h.pool.Enqueue(context.Background(), message.Outbound{ID: id, Channel: "main", To: "+4917612345678", Text: id}); err != nil {
			b.Fatal(err)
		}
		for {
			d.mu.Lock()
			at, ok := d.sentAt[id]
			d.mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(start))
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		// A random moment of the next send cycle.
		time.Sleep(time.Duration(i*137%1000) * time.Millisecond)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(latency), "median-latencies")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(latency), "worst-latencies")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "worst-ms")
}

// BenchmarkSchedulerCPUPerSMS: CPU per SMS end to end — campaign → pool →
// 2 simulated modems at zero latency (drivers/modem on ptys) → "sent" back
// in the campaign — with sync_writes on and off. One op is one SMS.
//
// sim=external runs the simulated modems (drivers/modemsim, as
// cmd/modemsim does) in a child process on real ptys: cpu-µs/msg is then
// the gateway's own CPU (getrusage of this process: campaign engine, pool,
// store, drivers/modem and its pty I/O), sim-cpu-µs/msg the simulator's
// and total-cpu-µs/msg both. sim=inprocess runs the simulator in this
// process, so cpu-µs/msg counts both (the figure docs/benchmarks.md quoted
// before the split).
//
// syncs/msg is the store's group syncs per message, fsyncs/msg the
// fdatasync system calls they made (Store.Fsyncs: one per log file a
// sync covers); strace counts them from outside too (docs/benchmarks.md).
func BenchmarkSchedulerCPUPerSMS(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, sim := range []string{"external", "inprocess"} {
			b.Run(fmt.Sprintf("sync_writes=%v/sim=%s", sync, sim), func(b *testing.B) { benchCPUPerSMS(b, sync, sim == "external") })
		}
	}
}

func benchCPUPerSMS(b *testing.B, syncWrites, external bool) {
	sims := []string{"gsm1", "gsm2"}
	d := newDoneSink(b.N)
	var ext *simproc.Child
	var paths map[string]string
	if external {
		ext = startExtSim(b, len(sims), 0, 255)
		paths = map[string]string{}
		for i, n := range sims {
			paths[n] = ext.Paths[i]
		}
	}
	// The daemon's Recheck (Config.defaults: 1 s), not the tests' 10 ms:
	// idle workers and the long-SMS reassembly timer would otherwise wake
	// 100 times a second and count against the messages.
	s := newSchedRigPaths(b, sims, 0, syncWrites, d, paths, func(c *Config) { c.Recheck = time.Second })
	waitReady(b, s, len(sims))
	b.ReportAllocs()
	b.ResetTimer()
	var simCPU0 time.Duration
	if ext != nil {
		simCPU0 = ext.CPU(b)
	}
	cpu0 := simproc.CPU()
	io0 := diskWritten()
	syncs0, fsyncs0 := s.h.st.Syncs(), s.h.st.Fsyncs()
	commits0 := s.h.st.Commits()
	start := time.Now()
	c := s.campaignOf("cpu", "A", b.N)
	<-d.done
	s.waitCompleted(b, c.ID)
	elapsed := time.Since(start)
	cpu := simproc.CPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	if ext != nil {
		simCPU := ext.CPU(b) - simCPU0
		b.ReportMetric(float64(simCPU.Microseconds())/float64(b.N), "sim-cpu-µs/msg")
		b.ReportMetric(float64((cpu+simCPU).Microseconds())/float64(b.N), "total-cpu-µs/msg")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	// Group syncs of the store (each one fdatasync of the value log and
	// of the memtable log(s); strace counts the system calls).
	b.ReportMetric(float64(s.h.st.Syncs()-syncs0)/float64(b.N), "syncs/msg")
	b.ReportMetric(float64(s.h.st.Fsyncs()-fsyncs0)/float64(b.N), "fsyncs/msg")
	b.ReportMetric(float64(s.h.st.Commits()-commits0)/float64(b.N), "txns/msg")
	if io0 >= 0 {
		// What the process made the kernel write to the disk (SD-card
		// wear): every sync rewrites the log pages it touched.
		b.ReportMetric(float64(diskWritten()-io0)/1024/float64(b.N), "disk-KB/msg")
	}
}

// waitCompleted waits (60 s at most) until campaign id is completed: when
// its last report is stored.
func (s *schedRig) waitCompleted(tb testing.TB, id string) {
	tb.Helper()
	deadline := time.After(60 * time.Second)
	for {
		ch := s.eng.Changes()
		if got := s.get(id); got.State == campaign.Completed {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatal("campaign did not complete")
		}
	}
}

// diskWritten is write_bytes of /proc/self/io (bytes this process caused
// to be written to storage), or -1 where there is none.
func diskWritten() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
