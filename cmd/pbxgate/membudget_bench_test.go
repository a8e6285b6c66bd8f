package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkMemoryBudget is issue 15's reproducible memory run: the real
// daemon (default memory limit and store profile "small") sends
// MEMBUDGET_SMS (default 100,000) SMS as campaigns of 1,000 through four
// simulated modems in their own process (cmd/modemsim, 1 ms per AT+CMGS,
// delivery reports after 50 ms), while 20 portal logins (8 at once) browse
// the portal; then it receives MEMBUDGET_INBOUND (default 2,000) SMS and
// idles 60 s. It reports peak VmHWM and RssAnon (sampled every 100 ms),
// idle VmRSS and RssAnon, the bytes the daemon wrote (/proc/PID/io
// write_bytes) per SMS sent and per SMS received, and what the sending
// cost it independent of the machine's load: CPU time per SMS
// (/proc/PID/stat) and garbage collections per 1,000 SMS (/metrics); the
// log also has bytes allocated per SMS, the load average and the store's
// size on disk when idle. With MEMBUDGET_PROFILE=DIR
// it saves heap profiles at each new anonymous peak and when idle, with
// MEMBUDGET_KEEP=DIR the data directory stays in DIR (see docs/benchmarks.md);
// MEMBUDGET_LATENCY (a Go duration, default 1ms) is the simulated modems'
// time per AT+CMGS, which sets the send rate (4 modems at 40ms: ~100 SMS/s).
//
//	go test ./cmd/pbxgate -run '^$' -bench MemoryBudget -benchtime 1x -timeout 150m
func BenchmarkMemoryBudget(b *testing.B) {
	nSMS := envInt(b, "MEMBUDGET_SMS", 100_000)
	nIn := envInt(b, "MEMBUDGET_INBOUND", 2_000)
	latency := cmp.Or(os.Getenv("MEMBUDGET_LATENCY"), "1ms")
	if _, err := time.ParseDuration(latency); err != nil {
		b.Fatalf("MEMBUDGET_LATENCY: %v", err)
	}
	const perCampaign = 1000
	for b.Loop() {
		work := b.TempDir()
		links := filepath.Join(work, "links")
		simAPI := startModemsimTB(b, links, "-n", "4", "-latency", latency, "-report-delay", "50ms", "-capacity", "50")
		dataDir := filepath.Join(work, "data")
		if keep := os.Getenv("MEMBUDGET_KEEP"); keep != "" {
			dataDir = keep // kept for inspection; must not exist yet
		}
		cfgPath := filepath.Join(work, "pbxgate.yaml")
		var devs strings.Builder
		for i := range 4 {
			fmt.Fprintf(&devs, "    - {name: m%d, device: %s, delivery_reports: true}\n", i, filepath.Join(links, fmt.Sprintf("modem%d", i)))
		}
		cfg := fmt.Sprintf(`data_dir: %s
log: {format: json, level: info}
http: {listen: "127.0.0.1:0"}
shutdown_timeout: 10s
modems:
  discover: false
  command_timeout: 5s
  devices:
%ssms_channels:
  - {name: sms, modems: [m0, m1, m2, m3]}
campaigns: {max_recipients: %d, max_campaigns: 1000}
`, dataDir, devs.String(), perCampaign)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			b.Fatal(err)
		}
		pprofAddr := freeLoopbackAddr(b)
		b.Setenv(envPprof, pprofAddr)
		p, err := launch(cfgPath)
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			if p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				<-p.done
			}
		}()
		select {
		case <-p.readyCh():
		case err := <-p.done:
			b.Fatalf("daemon exited: %v\n%s", err, p.log())
		case <-time.After(time.Minute):
			b.Fatalf("not ready:\n%s", p.log())
		}
		pid := p.cmd.Process.Pid
		web := newPortalClient(b, p.portal)
		password := web.setup(firstRunPasswordTB(b, p))
		out, err := exec.Command(pbxgateBin, "user", "token", "admin", "--data", dataDir).Output()
		if err != nil {
			b.Fatalf("user token: %v", err)
		}
		api := &apiClient{t: b, base: p.portal, token: strings.TrimSpace(string(out))}

		// Peak sampler: /proc/PID/status every 100 ms, /proc/PID/smaps
		// (what the resident file pages are) every 2 s; with
		// MEMBUDGET_PROFILE a heap profile at each new anonymous peak.
		profile := os.Getenv("MEMBUDGET_PROFILE")
		peaks := &memPeaks{start: time.Now(), phase: "setup", dataDir: dataDir}
		stopSampling := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			var lastSmaps, lastProfile time.Time
			var profiledAnon int64
			for {
				if st, err := readProcStatus(pid); err == nil {
					peaks.status(st)
					if profile != "" && st["RssAnon"] > profiledAnon+8<<10 && time.Since(lastProfile) > 2*time.Second {
						profiledAnon, lastProfile = st["RssAnon"], time.Now()
						saveProfileTo(pprofAddr, filepath.Join(profile, fmt.Sprintf("heap-peak-%03dMB.pb.gz", st["RssAnon"]>>10)))
					}
				}
				if time.Since(lastSmaps) > 2*time.Second {
					lastSmaps = time.Now()
					if m, err := readSmapsByKind(pid); err == nil {
						peaks.smaps(m)
					}
				}
				select {
				case <-stopSampling:
					return
				case <-t.C:
				}
			}
		}()

		b.Logf("start: load average %s", loadAvg())
		wrote0 := procWriteBytes(b, pid)
		cpu0, gc0 := procCPU(b, pid), goMetrics(b, p.portal)
		start := time.Now()
		peaks.setPhase("sending")
		campaigns := (nSMS + perCampaign - 1) / perCampaign
		for c := range campaigns {
			n := min(perCampaign, nSMS-c*perCampaign)
			numbers := make([]string, n)
			for i := range numbers {
				numbers[i] = fmt.Sprintf("+49160%03d%04d", c, i)
			}
			body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("membudget %d", c), "channel": "sms",
				"numbers": numbers, "text": "Ihre Bestellung ist abholbereit. Ihr Team", "send": "now"})
			api.do("POST", "/api/v1/campaigns", body, nil)
		}

		// 20 logins, 8 at once, each browsing a few pages, while sending.
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range 20 {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c := newPortalClient(b, p.portal)
				c.login("admin", password)
				for _, page := range []string{"/", "/campaigns", "/messages", "/modems", "/system", fmt.Sprintf("/messages?q=%04d", i)} {
					c.get(page)
				}
			}()
		}
		wg.Wait()

		profiled := false
		// A generous bound: on a loaded 2-core machine the simulator and
		// the daemon share the CPU with everything else (24 SMS/s seen).
		deadline := time.Now().Add(120 * time.Minute)
		for {
			done := api.count("/api/v1/campaigns?state=completed&limit=1")
			if !profiled && profile != "" && done >= campaigns/2 {
				saveProfile(b, pprofAddr, filepath.Join(profile, "heap-sending.pb.gz"))
				profiled = true
			}
			if done == campaigns {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d campaigns completed", done, campaigns)
			}
			time.Sleep(time.Second)
		}
		sendTime := time.Since(start)
		time.Sleep(2 * time.Second) // last delivery reports
		wroteSent := procWriteBytes(b, pid) - wrote0
		// What the sending cost the daemon, independent of the machine's
		// load: CPU time, garbage collections and bytes allocated.
		cpuSent, gcSent := procCPU(b, pid)-cpu0, goMetrics(b, p.portal)
		b.Logf("sending: %d SMS in %s, daemon CPU %s (%.2f ms/SMS), %.0f collections (%.1f per 1,000 SMS), %.1f KB allocated per SMS; load average %s",
			nSMS, sendTime.Round(time.Second), cpuSent.Round(time.Second), cpuSent.Seconds()*1000/float64(nSMS),
			gcSent.gcs-gc0.gcs, (gcSent.gcs-gc0.gcs)*1000/float64(nSMS), (gcSent.alloc-gc0.alloc)/1000/float64(nSMS), loadAvg())

		// Inbound: nIn SMS spread over the four SIMs.
		var modems []struct {
			IMEI string `json:"imei"`
		}
		getJSONTB(b, simAPI+"/modems", &modems)
		received0 := api.inbound()
		wrote1 := procWriteBytes(b, pid)
		peaks.setPhase("receiving")
		for i := range nIn {
			body, _ := json.Marshal(map[string]string{"from": fmt.Sprintf("+49171%07d", i), "text": "Danke, ich komme morgen vorbei."})
			postJSONTB(b, simAPI+"/modems/"+modems[i%len(modems)].IMEI+"/inject", body)
		}
		deadline = time.Now().Add(10 * time.Minute)
		for api.inbound()-received0 < nIn {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d inbound SMS logged", api.inbound()-received0, nIn)
			}
			time.Sleep(500 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		wroteIn := procWriteBytes(b, pid) - wrote1
		close(stopSampling)
		<-sampled
		st, err := readProcStatus(pid)
		if err != nil {
			b.Fatal(err)
		}
		hwm := st["VmHWM"]
		b.Logf("peaks: %s", peaks)

		time.Sleep(60 * time.Second)
		idle, err := readProcStatus(pid)
		if err != nil {
			b.Fatal(err)
		}
		idleKinds, _ := readSmapsByKind(pid)
		onDisk := dirBytes(dataDir)
		b.Logf("idle 60 s: VmRSS %d kB, RssAnon %d kB, RssFile %d kB; resident files: %s; store %.1f MB on disk; load average %s",
			idle["VmRSS"], idle["RssAnon"], idle["RssFile"], kindString(idleKinds), float64(onDisk)/1e6, loadAvg())
		minflt, majflt := procFaults(b, pid)
		readBytes := procIOField(b, pid, "read_bytes")
		if profile != "" {
			saveProfile(b, pprofAddr, filepath.Join(profile, "heap-idle.pb.gz"))
		}
		p.cmd.Process.Signal(os.Interrupt)
		if err := <-p.done; err != nil {
			b.Fatalf("daemon exit: %v\n%s", err, p.log())
		}
		b.ReportMetric(float64(hwm)/1024, "MB-peak-RSS")
		b.ReportMetric(float64(peaks.anon)/1024, "MB-peak-anon")
		b.ReportMetric(float64(peaks.file)/1024, "MB-peak-file")
		b.ReportMetric(float64(idle["VmRSS"])/1024, "MB-idle-RSS")
		b.ReportMetric(float64(idle["RssAnon"])/1024, "MB-idle-anon")
		b.ReportMetric(float64(onDisk)/1e6, "MB-on-disk")
		b.ReportMetric(float64(majflt), "major-faults")
		b.ReportMetric(float64(minflt), "minor-faults")
		b.ReportMetric(float64(readBytes)/1e6, "MB-read")
		b.ReportMetric(float64(nSMS)/sendTime.Seconds(), "SMS/s")
		b.ReportMetric(cpuSent.Seconds()*1000/float64(nSMS), "CPU-ms/SMS")
		b.ReportMetric((gcSent.gcs-gc0.gcs)*1000/float64(nSMS), "GCs/kSMS")
		b.ReportMetric(float64(wroteSent)/float64(nSMS), "B-written/SMS-sent")
		b.ReportMetric(float64(wroteIn)/float64(nIn), "B-written/SMS-received")
	}
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// procCPU is the CPU time (user and system) process pid used so far
// (proc(5): utime and stime of /proc/PID/stat, in USER_HZ = 100 ticks/s).
func procCPU(tb testing.TB, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// goStats are the Go runtime's counters the daemon exports on /metrics.
type goStats struct{ gcs, alloc float64 }

func goMetrics(tb testing.TB, portal string) goStats {
	resp, err := http.Get(strings.TrimSuffix(portal, "/") + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var st goStats
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_gc_duration_seconds_count":
			st.gcs, _ = strconv.ParseFloat(v, 64)
		case "go_memstats_alloc_bytes_total":
			st.alloc, _ = strconv.ParseFloat(v, 64)
		}
	}
	return st
}

// loadAvg is the machine's load average over 1, 5 and 15 minutes.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func freeLoopbackAddr(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// readProcStatus returns the "kB" fields of /proc/PID/status.
func readProcStatus(pid int) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			out[k] = n
		}
	}
	return out, nil
}

// procWriteBytes is write_bytes of /proc/PID/io: what the process caused
// to be written to storage (page cache write-back included).
func procWriteBytes(tb testing.TB, pid int) int64 { return procIOField(tb, pid, "write_bytes") }

// procIOField is one field of /proc/PID/io (read_bytes: what the process
// caused to be read from storage, e.g. page faults on evicted file pages).
func procIOField(tb testing.TB, pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+": "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	tb.Fatalf("no %s in /proc/PID/io", field)
	return 0
}

// procFaults is minflt and majflt of /proc/PID/stat (proc(5)).
func procFaults(tb testing.TB, pid int) (minflt, majflt int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name in parentheses: state(3) … minflt(10)
	// cminflt(11) majflt(12).
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	minflt, _ = strconv.ParseInt(f[7], 10, 64)
	majflt, _ = strconv.ParseInt(f[9], 10, 64)
	return minflt, majflt
}

// readSmapsByKind sums the resident kB of /proc/PID/smaps by what is
// mapped: Badger's tables (sst), value log (vlog), memtable write-ahead
// logs (mem), other files (the binary, libraries) and anonymous memory.
func readSmapsByKind(pid int) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	kind := ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			kind = "anon"
			if len(f) >= 6 {
				switch path := f[5]; {
				case strings.HasSuffix(path, ".sst"):
					kind = "sst"
				case strings.HasSuffix(path, ".vlog"):
					kind = "vlog"
				case strings.HasSuffix(path, ".mem"):
					kind = "mem"
				case strings.HasPrefix(path, "/"):
					kind = "file"
				}
			}
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			out[kind] += n
		}
	}
	return out, nil
}

func kindString(m map[string]int64) string {
	return fmt.Sprintf("sst %d kB, vlog %d kB, mem %d kB, other files %d kB", m["sst"], m["vlog"], m["mem"], m["file"])
}

// memPeaks are the largest values the sampler saw.
type memPeaks struct {
	mu              sync.Mutex
	rss, anon, file int64
	kinds           map[string]int64 // smaps breakdown at the largest file total
	kindsFile       int64
	// When the anonymous peak happened: the run's phase, the time since
	// the start and the data directory's size on disk then.
	start      time.Time
	phase      string
	dataDir    string
	anonAt     string
	anonAtSeen int64 // anon when anonAt was last described
}

func (p *memPeaks) setPhase(phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = phase
}

func (p *memPeaks) status(st map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := st["RssAnon"]; a > p.anon && a > p.anonAtSeen+1024 {
		// Described at most once per MB of growth (the size walk costs).
		p.anonAtSeen = a
		p.anonAt = fmt.Sprintf("%s, %s after the start, store %.1f MB on disk", p.phase,
			time.Since(p.start).Round(time.Second), float64(dirBytes(p.dataDir))/1e6)
	}
	p.rss, p.anon, p.file = max(p.rss, st["VmRSS"]), max(p.anon, st["RssAnon"]), max(p.file, st["RssFile"])
}

// dirBytes sums the sizes of the files in dir (0 when unreadable).
func dirBytes(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			n += fi.Size()
		}
	}
	return n
}

func (p *memPeaks) smaps(m map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := m["sst"] + m["vlog"] + m["mem"] + m["file"]; t > p.kindsFile {
		p.kinds, p.kindsFile = m, t
	}
}

func (p *memPeaks) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("VmRSS %d kB, RssAnon %d kB (%s), RssFile %d kB; resident files at their peak: %s", p.rss, p.anon, p.anonAt, p.file, kindString(p.kinds))
}

func saveProfile(tb testing.TB, addr, path string) {
	if err := saveProfileTo(addr, path); err != nil {
		tb.Fatal(err)
	}
}

func saveProfileTo(addr, path string) error {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// startModemsimTB runs cmd/modemsim with args and returns its control API.
func startModemsimTB(tb testing.TB, links string, args ...string) string {
	if err := os.MkdirAll(links, 0o755); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(modemsimBin, append(args, "-listen", "127.0.0.1:0", "-link-dir", links)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	apiCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "control API: "); ok {
				apiCh <- strings.TrimSuffix(rest, "/modems")
			}
		}
	}()
	select {
	case api := <-apiCh:
		return api
	case <-time.After(10 * time.Second):
		tb.Fatal("modemsim did not start within 10 s")
	}
	return ""
}

func firstRunPasswordTB(tb testing.TB, p *proc) string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m := firstPasswordRE.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no first-run password on stdout:\n%s", p.stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// portalClient is a browser: cookies, form tokens.
type portalClient struct {
	tb   testing.TB
	base string
	c    *http.Client
}

func newPortalClient(tb testing.TB, base string) *portalClient {
	jar, _ := cookiejar.New(nil)
	return &portalClient{tb: tb, base: strings.TrimSuffix(base, "/"), c: &http.Client{Jar: jar}}
}

func (p *portalClient) get(path string) []byte {
	resp, err := p.c.Get(p.base + path)
	if err != nil {
		p.tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.tb.Fatalf("GET %s: %s", path, resp.Status)
	}
	return body
}

func (p *portalClient) post(path string, form url.Values) []byte {
	resp, err := p.c.PostForm(p.base+path, form)
	if err != nil {
		p.tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.tb.Fatalf("POST %s: %s\n%s", path, resp.Status, body)
	}
	return body
}

func (p *portalClient) formToken(path string) string {
	m := formTokenRE.FindSubmatch(p.get(path))
	if m == nil {
		p.tb.Fatalf("no form token on %s", path)
	}
	return string(m[1])
}

// setup completes first-run setup and returns the new admin password.
func (p *portalClient) setup(firstPassword string) string {
	const pw = "a new admin password"
	p.post("/setup", url.Values{"form_token": {p.formToken("/setup")}, "current_password": {firstPassword},
		"password": {pw}, "password2": {pw}, "language": {"de"}, "country": {"DE"}, "timezone": {"Europe/Berlin"}})
	return pw
}

func (p *portalClient) login(user, password string) {
	body := p.post("/login", url.Values{"form_token": {p.formToken("/login")}, "username": {user}, "password": {password}})
	if bytes.Contains(body, []byte(`name="password"`)) {
		p.tb.Fatalf("login as %s failed", user)
	}
}

// count is the "total" of a paged API list.
func (a *apiClient) count(path string) int {
	var page struct {
		Total int `json:"total"`
	}
	a.do("GET", path, nil, &page)
	return page.Total
}

// inbound counts the received messages in the message log.
func (a *apiClient) inbound() int {
	n, cursor := 0, ""
	for {
		var page struct {
			Items []json.RawMessage `json:"items"`
			Next  string            `json:"next_cursor"`
		}
		a.do("GET", "/api/v1/messages?dir=in&limit=500&cursor="+url.QueryEscape(cursor), nil, &page)
		n += len(page.Items)
		if page.Next == "" {
			return n
		}
		cursor = page.Next
	}
}

func getJSONTB(tb testing.TB, url string, out any) {
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
}

func postJSONTB(tb testing.TB, url string, body []byte) {
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(resp.Body)
		tb.Fatalf("POST %s: %s %s", url, resp.Status, data)
	}
}
