// Package simproc runs simulated modems (drivers/modemsim, on real ptys)
// in a child process, so that getrusage of a benchmark's own process is
// the CPU of the code under test alone. The child is the test binary
// started again with an environment variable set: call Serve first in
// the package's TestMain. The child prints one pty path per line, answers
// each "cpu" line on its stdin with its own CPU time (user + system) in
// nanoseconds, and exits when its stdin closes.
package simproc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

const env = "PBXGATE_SIMPROC"

// Spec says what the child simulates: Modems modems of one model (the
// part of modemsim.Config that crosses the process boundary).
type Spec struct {
	Modems          int
	Model           string        // e.g. "EC25"
	SendLatency     time.Duration // modemsim.Config.SendLatency
	StorageCapacity int           // modemsim.Config.StorageCapacity
}

// Serve makes the process the child when it was started as one (it then
// serves until its stdin closes and exits); otherwise it returns at once.
func Serve() {
	v := os.Getenv(env)
	if v == "" {
		return
	}
	var s Spec
	err := json.Unmarshal([]byte(v), &s)
	if err == nil {
		err = serve(s, os.Stdin, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "simproc child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serve(s Spec, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nw := modemsim.NewNetwork(modemsim.WithSeed(1))
	defer nw.Close()
	for range s.Modems {
		sim, err := nw.AddModem(ctx, modemsim.Config{Model: s.Model, SendLatency: s.SendLatency, StorageCapacity: s.StorageCapacity})
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
			if _, err := fmt.Fprintln(out, int64(CPU())); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// Child is the parent's handle on a running child.
type Child struct {
	in  io.WriteCloser
	out *bufio.Scanner
	// Paths are the simulated modems' ptys.
	Paths []string
}

// Start starts the child and waits for its ptys; the test's cleanup ends
// it (and fails the test if it does not end within 10 s).
func Start(tb testing.TB, s Spec) *Child {
	tb.Helper()
	spec, err := json.Marshal(s)
	if err != nil {
		tb.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^$")
	cmd.Env = append(os.Environ(), env+"="+string(spec))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the simulated modems' process: %v", err)
	}
	tb.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("simulated modems' process: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			tb.Error("the simulated modems' process did not end when its stdin closed")
		}
	})
	c := &Child{in: in, out: bufio.NewScanner(out)}
	for range s.Modems {
		if !c.out.Scan() {
			tb.Fatalf("the simulated modems' process ended before printing its ptys: %v", c.out.Err())
		}
		c.Paths = append(c.Paths, c.out.Text())
	}
	return c
}

// CPU asks the child for its CPU time so far (user + system).
func (c *Child) CPU(tb testing.TB) time.Duration {
	tb.Helper()
	if _, err := fmt.Fprintln(c.in, "cpu"); err != nil {
		tb.Fatal(err)
	}
	if !c.out.Scan() {
		tb.Fatalf("simulated modems' process: no CPU answer: %v", c.out.Err())
	}
	ns, err := strconv.ParseInt(c.out.Text(), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ns)
}

// CPU is this process's CPU time so far (user + system, all threads).
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
