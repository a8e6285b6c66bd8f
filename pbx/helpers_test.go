package pbx

import (
	"bytes"
	"context"
	"fmt"
	"github.com/pbxgate/pbxgate/gateway/testkit"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pbxgate/pbxgate/gateway/config"
)

func testLogger() *slog.Logger {
	if os.Getenv("PBX_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// freePort finds a port free for both UDP and TCP on ip.
func freePort(t testing.TB, ip string) int { return testkit.FreePort(t, ip) }

// kamailio is a Kamailio process acting as the PBX.
type kamailio struct {
	addr string // 127.0.0.1:port (UDP and TCP)
	stop func() // stops it (also at the end of the test)
}

// startKamailio runs Kamailio with testdata/kamailio.cfg on a free
// loopback port until the test ends. Tests skip only when the binary is
// missing (install the Debian package kamailio).
func startKamailio(t testing.TB, sha256 bool) *kamailio {
	t.Helper()
	return startKamailioOn(t, freePort(t, "127.0.0.1"), sha256)
}

func startKamailioOn(t testing.TB, port int, sha256 bool) *kamailio {
	t.Helper()
	return startKamailioShm(t, port, sha256, 64)
}

// startKamailioShm sets Kamailio's shared memory: every transaction stays
// in it for the wait timer (5 s), so thousands of MESSAGEs a second need
// more than the 64 MB the tests use.
func startKamailioShm(t testing.TB, port int, sha256 bool, shmMB int) *kamailio {
	t.Helper()
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		for _, p := range []string{"/usr/sbin/kamailio", "/usr/local/sbin/kamailio"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
		if bin == "" {
			t.Skip("kamailio is not installed (apt-get install kamailio): SIP integration tests need it as the PBX")
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"-f", "testdata/kamailio.cfg", "-DD", "-E", "-Y", t.TempDir(), "-P", t.TempDir() + "/k.pid",
		"-m", strconv.Itoa(shmMB), "-M", "8", "-l", "udp:" + addr, "-l", "tcp:" + addr}
	if sha256 {
		args = append(args, "-A", "WITH_SHA256")
	}
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	var logMu sync.Mutex
	cmd.Stderr = lockedWriter{&logMu, &logs}
	cmd.Stdout = cmd.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			// Kamailio forks workers into its process group: stop them all.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			logMu.Lock()
			t.Logf("kamailio log:\n%s", logs.String())
			logMu.Unlock()
		}
	})
	// Ready when it answers OPTIONS over UDP.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if optionsPing(addr) {
			return &kamailio{addr: addr, stop: stop}
		}
		select {
		case err := <-exited:
			logMu.Lock()
			defer logMu.Unlock()
			t.Fatalf("kamailio exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not answer OPTIONS on %s within 10s", addr)
		}
		time.Sleep(20 * time.Millisecond) // polling a starting process; the deadline guards
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func optionsPing(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + strconv.FormatInt(time.Now().UnixNano(), 36) +
		"\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:" + addr + ">\r\nCall-ID: " + strconv.FormatInt(time.Now().UnixNano(), 10) +
		"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Write([]byte(msg)); err != nil {
		return false
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	return err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200"))
}

// received is a MESSAGE a phone got.
type received struct {
	From, Display, To, Body, ContentType string
}

// phone is a SIP extension (a softphone) on real sockets.
type phone struct {
	t      testing.TB
	user   string
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	conn   net.PacketConn
	addr   string
	pbx    string
	code   atomic.Int32 // response to MESSAGEs (default 200)
	count  atomic.Int64 // MESSAGEs accepted
	// countOnly: benchmarks count MESSAGEs instead of queueing them.
	countOnly atomic.Bool
	arrivals  atomic.Int32
	failOn    atomic.Int32 // answer 480 to the MESSAGE arriving as number failOn
	inbox     chan received
	cancel    context.CancelFunc
	done      chan struct{}
}

// newPhone starts an extension listening on ip (UDP) that answers MESSAGEs
// with 200 until told otherwise.
func newPhone(t testing.TB, user, ip, pbx string) *phone {
	t.Helper()
	conn, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.UDPConn).SetReadBuffer(4 << 20)
	p := &phone{t: t, user: user, conn: conn, addr: conn.LocalAddr().String(), pbx: pbx, inbox: make(chan received, 10000), done: make(chan struct{})}
	p.code.Store(200)
	p.ua, _ = sipgo.NewUA(sipgo.WithUserAgent("phone-"+user), sipgo.WithUserAgentHostname(ip))
	p.srv, _ = sipgo.NewServer(p.ua, sipgo.WithServerLogger(testLogger()))
	host, port, _ := net.SplitHostPort(p.addr)
	pn, _ := strconv.Atoi(port)
	p.client, _ = sipgo.NewClient(p.ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(pn),
		sipgo.WithClientConnectionAddr(p.addr), sipgo.WithClientLogger(testLogger()))
	p.srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		code := int(p.code.Load())
		if n := p.arrivals.Add(1); n == p.failOn.Load() {
			code = 480
		}
		if code == 200 {
			p.count.Add(1)
		}
		if code == 200 && !p.countOnly.Load() {
			r := received{Body: string(req.Body()), To: req.Recipient.User}
			if f := req.From(); f != nil {
				r.From, r.Display = f.Address.User, f.DisplayName
			}
			if ct := req.ContentType(); ct != nil {
				r.ContentType = ct.Value()
			}
			p.inbox <- r
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, "Test", nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		_ = p.srv.ServeUDP(conn)
	}()
	for i := 0; ; i++ {
		if c, err := p.srv.TransportLayer().GetConnection("udp", p.addr); err == nil && c != nil {
			break
		}
		if i > 500 {
			t.Fatal("phone listener not ready")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		conn.Close()
		<-p.done
		p.client.Close()
		p.srv.Close()
	})
	_ = ctx
	return p
}

// register registers the phone at the PBX (digest, password pw-<user>);
// expiry 0 unregisters.
func (p *phone) register(expiry int) {
	p.t.Helper()
	host, port, _ := net.SplitHostPort(p.pbx)
	pn, _ := strconv.Atoi(port)
	aor := sip.Uri{Scheme: "sip", User: p.user, Host: host}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: pn})
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	ph, pp, _ := net.SplitHostPort(p.addr)
	ppn, _ := strconv.Atoi(pp)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: ph, Port: ppn}})
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expiry)))
	req.SetBody(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: "pw-" + p.user})
	}
	if err != nil {
		p.t.Fatalf("phone %s register: %v", p.user, err)
	}
	if res.StatusCode != 200 {
		p.t.Fatalf("phone %s register: %d %s", p.user, res.StatusCode, res.Reason)
	}
}

// removeAllBindings removes every contact of the phone's user at the
// registrar: REGISTER with "Contact: *" and Expires 0 (RFC 3261 §10.2.2).
func (p *phone) removeAllBindings() {
	p.t.Helper()
	host, port, _ := net.SplitHostPort(p.pbx)
	pn, _ := strconv.Atoi(port)
	aor := sip.Uri{Scheme: "sip", User: p.user, Host: host}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: pn})
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Contact", "*"))
	req.AppendHeader(sip.NewHeader("Expires", "0"))
	req.SetBody(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: "pw-" + p.user})
	}
	if err != nil || res.StatusCode != 200 {
		p.t.Fatalf("remove all bindings of %s: %s", p.user, codeOf(res, err))
	}
}

// send sends a MESSAGE to user at dest (the PBX or the gateway directly)
// and returns the final response.
func (p *phone) send(dest, user, body string) (*sip.Response, error) {
	host, port, _ := net.SplitHostPort(dest)
	pn, _ := strconv.Atoi(port)
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: user, Host: host, Port: pn})
	ph, _, _ := net.SplitHostPort(p.addr)
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: ph}, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
	req.SetBody([]byte(body))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.client.Do(ctx, req)
}

// next waits for the next MESSAGE the phone accepted.
func (p *phone) next(what string) received {
	p.t.Helper()
	select {
	case r := <-p.inbox:
		return r
	case <-time.After(10 * time.Second):
		p.t.Fatalf("phone %s: no MESSAGE (%s) within 10s", p.user, what)
		return received{}
	}
}

// nextFrom skips pbxgate notices and returns the next chat from contact.
func (p *phone) nextFrom(contact, what string) received {
	p.t.Helper()
	for {
		r := p.next(what)
		if r.From == contact {
			return r
		}
	}
}

// none asserts no MESSAGE is waiting (after the caller synchronised).
func (p *phone) none(what string) {
	p.t.Helper()
	select {
	case r := <-p.inbox:
		p.t.Fatalf("phone %s got %q from %s, want none (%s)", p.user, r.Body, r.From, what)
	default:
	}
}

// gatewayCfg is a register-mode SIP configuration against k.
func gatewayCfg(k *kamailio, transport string) config.SIP {
	return config.SIP{Enabled: true, Mode: "register", Transport: transport, Listen: "127.0.0.1:0",
		Domain: "pbxgate.test", Registrar: k.addr, Username: "gw", Password: "pw-gw",
		Expiry: 60 * time.Second, MaxBodyBytes: 1000}
}

// runGateway starts a gateway until the test ends.
func runGateway(t testing.TB, c config.SIP) *Gateway {
	t.Helper()
	g, err := New(Config{SIP: c, Logger: testLogger(), RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})
	return g
}

// waitRegistered waits until the gateway's registration reaches state.
func waitState(t testing.TB, g *Gateway, state string) Registration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.Registration()
		if r.State == state {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("registration state %q (%+v), want %q within 10s", r.State, r, state)
		}
		time.Sleep(5 * time.Millisecond) // polling a state; the deadline guards
	}
}

func codeOf(res *sip.Response, err error) string {
	if err != nil {
		return fmt.Sprintf("error %v", err)
	}
	return strconv.Itoa(res.StatusCode)
}

func tagParams() sip.HeaderParams {
	p := sip.NewParams()
	p.Add("tag", sip.GenerateTagN(8))
	return p
}
