package modem

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim/simproc"
	"github.com/pbxgate/pbxgate/gateway/sms"
)

// BenchmarkSendCPU is the driver's own CPU per SMS: two simulated EC25s
// (drivers/modemsim, zero send latency) run in a child process on real
// ptys, so getrusage of this process counts only drivers/modem,
// warthog618/modem's AT engine, the pty system calls and the Go runtime
// under them. Each op is one single-part SMS with a delivery report
// requested: AT+CMGS, its "> " prompt, the PDU, +CMGS, and the routed
// +CDS report acknowledged with AT+CNMA (the path the pool's campaign
// messages take). Both modems send at once, as the pool drives them.
// allocs/op are this process's only.
func BenchmarkSendCPU(b *testing.B) {
	const modems = 2
	sim := simproc.Start(b, simproc.Spec{Modems: modems, Model: "EC25"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reports atomic.Int64
	allIn := make(chan struct{})
	var want atomic.Int64
	want.Store(-1)
	h := Handlers{StatusReport: func(context.Context, string, sms.StatusReport) error {
		if reports.Add(1) == want.Load() {
			close(allIn)
		}
		return nil
	}}
	var ms []*Modem
	var wg sync.WaitGroup
	for i, path := range sim.Paths {
		m, err := Open(ctx, Config{Name: fmt.Sprint("bench", i), Device: path, DeliveryReports: true}, h)
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = m.Run(ctx)
		}()
	}
	defer func() {
		cancel()
		for _, m := range ms {
			m.Close()
		}
		wg.Wait()
	}()
	reports.Store(0)
	want.Store(int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	sim0, cpu0, sw0 := sim.CPU(b), simproc.CPU(), selfSwitches()
	var next atomic.Int64
	var senders sync.WaitGroup
	for _, m := range ms {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := m.Send(ctx, "+4917012345678", "Your appointment is confirmed for Monday 10:00.", true); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	senders.Wait()
	select {
	case <-allIn:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d delivery reports", reports.Load(), b.N)
	}
	cpu, sw, simCPU := simproc.CPU()-cpu0, selfSwitches()-sw0, sim.CPU(b)-sim0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	// Context switches of this process's threads (voluntary: a thread
	// went to sleep in futex, epoll_pwait or a blocking call): how often
	// the Go runtime parked and woke threads per message.
	b.ReportMetric(float64(sw)/float64(b.N), "ctxsw/msg")
	b.ReportMetric(float64(simCPU.Microseconds())/float64(b.N), "sim-cpu-µs/msg")
}

func TestMain(m *testing.M) {
	simproc.Serve() // the child process of BenchmarkSendCPU
	os.Exit(m.Run())
}

// selfSwitches is this process's context switches so far (voluntary and
// involuntary, all threads).
func selfSwitches() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Nvcsw) + int64(ru.Nivcsw)
}
