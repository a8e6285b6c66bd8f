package modem

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
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
	sim := startChildSim(b, modems)
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
	for i, path := range sim.paths {
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
	sim0, cpu0, sw0 := sim.cpu(b), selfCPU(), selfSwitches()
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
	cpu, sw, simCPU := selfCPU()-cpu0, selfSwitches()-sw0, sim.cpu(b)-sim0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	// Context switches of this process's threads (voluntary: a thread
	// went to sleep in futex, epoll_pwait or a blocking call): how often
	// the Go runtime parked and woke threads per message.
	b.ReportMetric(float64(sw)/float64(b.N), "ctxsw/msg")
	b.ReportMetric(float64(simCPU.Microseconds())/float64(b.N), "sim-cpu-µs/msg")
}

// The child process: the test binary started again with childSimEnv set
// to the number of modems. It prints one pty path per line, answers each
// "cpu" line on its stdin with its CPU time in nanoseconds, and exits when
// stdin closes.
const childSimEnv = "MODEM_BENCH_CHILD_SIM"

func TestMain(m *testing.M) {
	if n := os.Getenv(childSimEnv); n != "" {
		if err := runChildSim(n, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "child modemsim:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChildSim(spec string, in io.Reader, out io.Writer) error {
	n, err := strconv.Atoi(spec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nw := modemsim.NewNetwork(modemsim.WithSeed(1))
	defer nw.Close()
	for range n {
		sim, err := nw.AddModem(ctx, modemsim.Config{Model: "EC25"})
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(out, sim.Path()); err != nil {
			return err
		}
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() == "cpu" {
			if _, err := fmt.Fprintln(out, int64(selfCPU())); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

type childSim struct {
	in    io.WriteCloser
	out   *bufio.Scanner
	paths []string
}

func startChildSim(b *testing.B, n int) *childSim {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", childSimEnv, n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("child modemsim: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			b.Error("child modemsim did not end when its stdin closed")
		}
	})
	s := &childSim{in: in, out: bufio.NewScanner(out)}
	for range n {
		if !s.out.Scan() {
			b.Fatalf("child modemsim ended before printing its ptys: %v", s.out.Err())
		}
		s.paths = append(s.paths, s.out.Text())
	}
	return s
}

func (s *childSim) cpu(b *testing.B) time.Duration {
	b.Helper()
	if _, err := fmt.Fprintln(s.in, "cpu"); err != nil {
		b.Fatal(err)
	}
	if !s.out.Scan() {
		b.Fatalf("child modemsim: no CPU answer: %v", s.out.Err())
	}
	ns, err := strconv.ParseInt(s.out.Text(), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ns)
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

// selfCPU is this process's CPU time so far (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
