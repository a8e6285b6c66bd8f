package pbx

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// counterValue reads a counter (the metrics pbxgate serves).
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// BenchmarkSippRepliesThroughKamailio is the PBX's load on pbxgate: sipp
// plays extension 201 replying to customers, MESSAGE after MESSAGE at
// PBX_SIPP_RATE per second (default 1,000) for PBX_SIPP_SECONDS (default
// 10), through Kamailio (the PBX) to a registered pbxgate whose session
// manager stores each reply on disk with sync writes (200 customers, the
// sessions opened by the extension's first reply). The scenario
// (testdata/sipp_reply.xml) fails a call whose 202 does not come within
// 1,000 ms. Reported: sipp's successful and failed calls, its
// retransmissions, the response times it measured, the answers pbxgate
// gave by code, and how often the SMS channel was handed each accepted
// reply (it must be exactly once). Skips when sipp (Debian: sip-tester)
// or kamailio is not installed.
func BenchmarkSippRepliesThroughKamailio(b *testing.B) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		b.Skip("sipp is not installed (apt-get install sip-tester)")
	}
	rate, secs := envInt("PBX_SIPP_RATE", 1000), envInt("PBX_SIPP_SECONDS", 10)
	k := startKamailioShm(b, freePort(b, "127.0.0.1"), false, 512)
	g := runGateway(b, gatewayCfg(k, "udp"))
	waitState(b, g, "registered")
	_, out := realSessions(b, g)
	dir := b.TempDir()
	scenario, err := os.ReadFile("testdata/sipp_reply.xml")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "reply.xml"), scenario, 0o644); err != nil {
		b.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	for i := range 200 {
		fmt.Fprintf(&csv, "+4917010%05d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "customers.csv"), []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	var st sippStats
	var rtts []float64
	b.ResetTimer()
	for run := range b.N {
		stat := fmt.Sprintf("stat%d.csv", run)
		cmd := exec.Command(sipp, k.addr, "-sf", "reply.xml", "-inf", "customers.csv",
			"-r", strconv.Itoa(rate), "-rp", "1000", "-m", strconv.Itoa(rate*secs), "-l", strconv.Itoa(rate*3),
			"-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(b, "127.0.0.1")),
			"-nostdin", "-trace_stat", "-stf", stat, "-fd", "1", "-trace_rtt", "-rtt_freq", "100",
			"-timeout", strconv.Itoa(secs+60)+"s", "-timeout_error")
		cmd.Dir = dir
		outp, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: some calls failed
			b.Fatalf("sipp: %v\n%s", err, tail(outp))
		}
		s, err := readSippStats(filepath.Join(dir, stat))
		if err != nil {
			b.Fatalf("%v\n%s", err, tail(outp))
		}
		st.add(s)
		r, err := readRTTs(dir)
		if err != nil {
			b.Fatal(err)
		}
		rtts = r
	}
	b.StopTimer()
	accepted := counterValue(g.m.in.WithLabelValues("accepted"))
	// The channel is handed each stored reply in the background.
	deadline := time.Now().Add(60 * time.Second) // failure guard only
	total, dup := out.counts()
	for total < int(accepted) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		total, dup = out.counts()
	}
	slices.Sort(rtts)
	pct := func(p float64) float64 {
		if len(rtts) == 0 {
			return 0
		}
		return rtts[min(len(rtts)-1, int(p*float64(len(rtts))))]
	}
	b.ReportMetric(float64(rate), "offered/s")
	b.ReportMetric(st.successful, "calls-ok")
	b.ReportMetric(st.failed, "calls-failed")
	b.ReportMetric(st.retrans, "sipp-retransmissions")
	b.ReportMetric(pct(0.5), "rtt-p50-ms")
	b.ReportMetric(pct(0.99), "rtt-p99-ms")
	if len(rtts) > 0 {
		b.ReportMetric(rtts[len(rtts)-1], "rtt-max-ms")
	}
	b.ReportMetric(accepted, "answered-202")
	b.ReportMetric(counterValue(g.m.in.WithLabelValues("service_unavailable")), "answered-503")
	b.ReportMetric(counterValue(g.m.in.WithLabelValues("server_internal_error")), "answered-500")
	b.ReportMetric(counterValue(g.m.busy.WithLabelValues("too_many")), "503-too-many")
	b.ReportMetric(counterValue(g.m.busy.WithLabelValues("slow_store")), "503-slow-store")
	b.ReportMetric(counterValue(g.m.in.WithLabelValues("retransmission")), "retransmissions-answered")
	b.ReportMetric(float64(total), "handed-to-channel")
	if dup {
		b.ReportMetric(1, "DUPLICATES")
		b.Error("a reply was handed to the channel twice")
	}
	if total != int(accepted) {
		b.Errorf("%d replies accepted, %d handed to the channel", int(accepted), total)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

type sippStats struct{ successful, failed, retrans float64 }

func (s *sippStats) add(o sippStats) {
	s.successful += o.successful
	s.failed += o.failed
	s.retrans += o.retrans
}

// readSippStats reads the cumulative counters of the last line of sipp's
// -trace_stat file (semicolon-separated, a header line first).
func readSippStats(path string) (sippStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return sippStats{}, fmt.Errorf("sipp statistics: %w", err)
	}
	defer f.Close()
	var head, last []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ";")
		if head == nil {
			head = fields
			continue
		}
		last = fields
	}
	if head == nil || last == nil {
		return sippStats{}, errors.New("sipp statistics are empty")
	}
	get := func(name string) float64 {
		i := slices.Index(head, name)
		if i < 0 || i >= len(last) {
			return 0
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(last[i]), 64)
		return v
	}
	return sippStats{successful: get("SuccessfulCall(C)"), failed: get("FailedCall(C)"), retrans: get("Retransmissions(C)")}, nil
}

// readRTTs reads the response times (ms) of sipp's -trace_rtt files.
func readRTTs(dir string) ([]float64, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no sipp response-time file in %s", dir)
	}
	var out []float64
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Split(line, ";")
			if len(f) < 2 {
				continue
			}
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out = append(out, v)
			}
		}
		os.Remove(name)
	}
	return out, nil
}
