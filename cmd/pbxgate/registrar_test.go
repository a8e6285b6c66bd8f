package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// silentRegistrar is a PBX address that takes REGISTERs and never answers
// (a firewall that drops, a hung PBX). It records the CSeq numbers it saw:
// a new number is a new registration attempt, the same one again is a
// retransmission.
type silentRegistrar struct {
	addr string
	mu   sync.Mutex
	seen map[int]bool
}

var cseqRE = regexp.MustCompile(`(?mi)^CSeq:\s*(\d+)\s+REGISTER`)

func (s *silentRegistrar) record(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range cseqRE.FindAllSubmatch(b, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		s.seen[n] = true
	}
}

// attempts is how many different REGISTER transactions arrived.
func (s *silentRegistrar) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func startSilentRegistrar(t *testing.T, network string) *silentRegistrar {
	t.Helper()
	s := &silentRegistrar{seen: map[int]bool{}}
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s.addr = c.LocalAddr().String()
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				s.record(buf[:n])
			}
		}()
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			conns []net.Conn
		)
		t.Cleanup(func() {
			l.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
		s.addr = l.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Whole lines are enough to find the CSeq headers.
					sc := bufio.NewScanner(c)
					for sc.Scan() {
						s.record(sc.Bytes())
					}
				}()
			}
		}()
	}
	return s
}

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		return fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var failedRegistersRE = regexp.MustCompile(`(?m)^pbxgate_sip_register_attempts_total\{result="failed"\} (\d+)`)

func metricsText(t *testing.T, p *proc) string {
	t.Helper()
	resp, err := http.Get(p.portal + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	return string(b)
}

func failedRegisters(t *testing.T, p *proc) int {
	m := failedRegistersRE.FindStringSubmatch(metricsText(t, p))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

type readyz struct {
	Ready      bool `json:"ready"`
	Components []struct {
		Name, State, Detail string
	} `json:"components"`
}

func (r readyz) component(name string) (state, detail string, ok bool) {
	for _, c := range r.Components {
		if c.Name == name {
			return c.State, c.Detail, true
		}
	}
	return "", "", false
}

// A registrar nobody answers (closed port, or a PBX that drops every
// request) must not hold the daemon back: it gets ready, serves /healthz,
// /readyz (ready, SIP degraded) and the portal, reports SIP as not
// registered in the metrics, keeps retrying, and still stops cleanly.
func TestUnreachableRegistrarDoesNotBlockDaemon(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, transport string
		silent          bool // a peer that reads and never answers; else a closed port
	}{
		{"udp-closed-port", "udp", false},
		{"udp-silent", "udp", true},
		{"tcp-closed-port", "tcp", false},
		{"tcp-silent", "tcp", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var registrar string
			var silent *silentRegistrar
			if tc.silent {
				silent = startSilentRegistrar(t, tc.transport)
				registrar = silent.addr
			} else {
				registrar = closedPort(t, tc.transport)
			}
			listenPort := freeUDPPort(t)
			if tc.transport == "tcp" {
				listenPort = freeTCPPort(t)
			}
			work := t.TempDir()
			cfgPath := filepath.Join(work, "pbxgate.yaml")
			cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:0"}
modems: {discover: false}
sip:
  enabled: true
  mode: register
  transport: %s
  listen: 127.0.0.1:%d
  registrar: %s
  domain: pbx.test
  username: gateway
  password: not-checked
`, filepath.Join(work, "data"), tc.transport, listenPort, registrar)
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			p := startDaemon(t, cfgPath)

			resp, err := http.Get(p.portal + "healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: %s", resp.Status)
			}
			// The portal works: first-run setup and the dashboard behind it.
			completeSetup(t, p)

			// SIP is degraded, not registered, and the daemon ready.
			var r readyz
			getJSON(t, p.portal+"readyz", &r)
			state, detail, ok := r.component("sip")
			if !r.Ready || !ok || state != "degraded" || detail == "" {
				t.Fatalf("/readyz = %+v; want ready with sip degraded and why", r)
			}
			if !strings.Contains(metricsText(t, p), "\npbxgate_sip_registered 0\n") {
				t.Errorf("metrics do not show pbxgate_sip_registered 0:\n%s", metricsText(t, p))
			}

			// It keeps trying. A refused TCP connect fails at once: failed
			// attempts add up. Unanswered requests take a whole request
			// timeout (10 s) each: one failed attempt, and a silent PBX
			// sees a new REGISTER transaction (not only retransmissions).
			wantFailed := 1
			if tc.transport == "tcp" && !tc.silent {
				wantFailed = 3
			}
			deadline := time.Now().Add(45 * time.Second)
			for failedRegisters(t, p) < wantFailed || silent != nil && silent.attempts() < 2 {
				if time.Now().After(deadline) {
					attempts := -1
					if silent != nil {
						attempts = silent.attempts()
					}
					t.Fatalf("registration not retried: %d failed attempts in the metrics, %d REGISTER transactions at the PBX; log:\n%s",
						failedRegisters(t, p), attempts, p.log())
				}
				time.Sleep(200 * time.Millisecond)
			}
			getJSON(t, p.portal+"readyz", &r)
			state, detail, _ = r.component("sip")
			if !r.Ready || state != "degraded" || !strings.Contains(detail, registrar) {
				t.Errorf("/readyz after failed attempts: ready=%v sip %s %q; want ready, sip degraded naming %s", r.Ready, state, detail, registrar)
			}
			if !strings.Contains(metricsText(t, p), "\npbxgate_sip_registered 0\n") {
				t.Errorf("pbxgate_sip_registered is not 0 after failed attempts")
			}
			if silent != nil {
				// A silent PBX costs a whole request timeout per attempt:
				// ready came before the first attempt failed, so start-up
				// did not wait for the registrar.
				log := p.log()
				ready, failed := strings.Index(log, `"msg":"pbxgate ready"`), strings.Index(log, "SIP registration failed")
				if ready < 0 || failed < 0 || failed < ready {
					t.Errorf("want \"pbxgate ready\" logged before the first \"SIP registration failed\"; log:\n%s", log)
				}
			}
			p.stop(t)
		})
	}
}
