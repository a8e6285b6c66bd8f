package smspool

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

// The CPU benchmark can run the simulated modems in a separate process (the
// test binary started again with extSimEnv set), so that getrusage of the
// test process is the gateway's own CPU: campaign engine, pool, store and
// drivers/modem. The child serves drivers/modemsim modems on real ptys,
// prints one pty path per line, then answers each "cpu" line on its stdin
// with its own CPU time in nanoseconds, and exits when stdin closes.

const extSimEnv = "SMSPOOL_EXTERNAL_MODEMSIM"

func TestMain(m *testing.M) {
	if spec := os.Getenv(extSimEnv); spec != "" {
		if err := runExtSim(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "external modemsim:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runExtSim is the child: spec is "<modems>,<latency>,<storage>".
func runExtSim(spec string, in io.Reader, out io.Writer) error {
	f := strings.Split(spec, ",")
	if len(f) != 3 {
		return fmt.Errorf("spec %q: want modems,latency,storage", spec)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return fmt.Errorf("spec %q: %w", spec, err)
	}
	latency, err := time.ParseDuration(f[1])
	if err != nil {
		return fmt.Errorf("spec %q: %w", spec, err)
	}
	storage, err := strconv.Atoi(f[2])
	if err != nil {
		return fmt.Errorf("spec %q: %w", spec, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nw := modemsim.NewNetwork(modemsim.WithSeed(1))
	defer nw.Close()
	for range n {
		sim, err := nw.AddModem(ctx, modemsim.Config{Model: "EC25", SendLatency: latency, StorageCapacity: storage})
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
			if _, err := fmt.Fprintln(out, int64(cpuTime())); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// extSim is the parent's handle on the child.
type extSim struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	paths []string
}

// startExtSim starts n simulated modems in a child process.
func startExtSim(t testing.TB, n int, latency time.Duration, storage int) *extSim {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%s,%d", extSimEnv, n, latency, storage))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start external modemsim: %v", err)
	}
	e := &extSim{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("external modemsim: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			t.Error("external modemsim did not end when its stdin closed")
		}
	})
	for range n {
		if !e.out.Scan() {
			t.Fatalf("external modemsim ended before printing its ptys: %v", e.out.Err())
		}
		e.paths = append(e.paths, e.out.Text())
	}
	return e
}

// cpu is the child's CPU time so far (user + system).
func (e *extSim) cpu(t testing.TB) time.Duration {
	t.Helper()
	if _, err := fmt.Fprintln(e.in, "cpu"); err != nil {
		t.Fatal(err)
	}
	if !e.out.Scan() {
		t.Fatalf("external modemsim: no CPU answer: %v", e.out.Err())
	}
	ns, err := strconv.ParseInt(e.out.Text(), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ns)
}
