// Package pbx joins pbxgate to the PBX over SIP (emiago/sipgo) and carries
// customer conversations as SIP MESSAGE (RFC 3428): chats to extensions
// with the customer as the sender, and extensions' replies to the sessions.
//
// pbxgate either registers to the PBX with digest authentication (MD5 or
// SHA-256), re-registering before expiry and backing off while the PBX is
// down, or acts as a peer the PBX routes to by IP; requests from addresses
// outside the allow-list are refused with 403. Transports: UDP, TCP, TLS.
package pbx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// Sessions takes what extensions write to customers (session.Manager).
// FromExtension returns nil once the message is stored for sending; ctx
// carries a session.Gate the gateway closes when it stops waiting (then
// nothing may be stored, and FromExtension returns session.ErrBusy).
type Sessions interface {
	FromExtension(ctx context.Context, ext, contact, text string) error
}

// ThreadSessions takes replies written in one channel's thread of a
// contact (session.Manager; see session.Chat.Thread). Sessions that do
// not implement it get plain-thread replies only.
type ThreadSessions interface {
	FromExtensionThread(ctx context.Context, ext, contact, thread, text string) error
}

// Config configures a Gateway.
type Config struct {
	SIP        config.SIP
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// RetryMin and RetryMax bound the backoff between registration
	// attempts while the PBX is down (defaults 1 s and 1 min).
	RetryMin, RetryMax time.Duration
	// UserAgent is the User-Agent header (default "pbxgate").
	UserAgent string
	// RequestTimeout bounds one REGISTER transaction (default 10 s).
	RequestTimeout time.Duration
	// Resolver looks up the registrar (SRV, A/AAAA); nil: the system's.
	Resolver *net.Resolver
	// Region (region.default_country, ISO 3166 such as "DE") reads the
	// national numbers extensions write to (0170…); "": only +… and 00….
	Region string
}

// Gateway is pbxgate's SIP side.
type Gateway struct {
	cfg    config.SIP
	opts   Config
	log    *slog.Logger
	m      *metrics
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client

	network     string // udp or tcp
	udp         net.PacketConn
	tcp         net.Listener
	localAddr   netip.AddrPort
	contactHost string
	contactPort int
	domain      string // host part of From URIs to extensions
	pbxHost     string // request-URI host of extensions
	pbxPort     int
	allow       []netip.Prefix
	// allowRegistrar: requests from the registrar's addresses are allowed.
	allowRegistrar bool
	registrarIPs   atomic.Pointer[[]netip.Addr]
	// useSRV: the registrar is a name without a port (RFC 3263 SRV).
	useSRV   bool
	resolver *net.Resolver
	pbxDest  atomic.Pointer[string] // located registrar ip:port (SRV)
	// keepalive: OPTIONS interval (0: none); probeID prefixes their
	// Call-IDs and probeLooped is set when one comes back to us.
	keepalive   time.Duration
	probeID     string
	probeLooped atomic.Bool
	// routesBack: a keepalive came back to pbxgate through the registrar,
	// so its 404/480 later means the registration is gone.
	routesBack atomic.Bool

	sessions  atomic.Pointer[sessionsBox]
	ready     chan struct{}
	partsDone sync.Map       // partKey → partProgress of long chats
	bg        sync.WaitGroup // refusal notices to extensions
	noticeMu  sync.Mutex
	noticed   map[string]time.Time        // extension+reason → last refusal notice
	txs       *txTable                    // answers to extensions' MESSAGEs, for retransmissions
	replies   chan struct{}               // replies being stored (maxReplies)
	extLimit  map[string]int              // sip.extensions[] or sip.sessions.queues[] max_body_bytes
	extText   map[string]bool             // sip.extensions[].delivery_notices: text
	diskHold  atomic.Pointer[diskHoldBox] // diskhold.go

	regMu sync.Mutex
	reg   Registration
}

type sessionsBox struct{ s Sessions }

// Registration is the state of pbxgate's registration at the PBX.
type Registration struct {
	State     string        `json:"state"` // disabled (peer mode), registering, registered, failed, unregistered
	Registrar string        `json:"registrar,omitempty"`
	Since     time.Time     `json:"since"`
	Expires   time.Duration `json:"expires,omitempty"` // granted by the registrar
	Code      int           `json:"code,omitempty"`    // last SIP response
	LastError string        `json:"last_error,omitempty"`
}

// ErrRefused: the PBX refused a MESSAGE for a reason retrying won't fix
// soon (e.g. 403, 488).
var ErrRefused = errors.New("PBX refused the message")

// New binds the SIP listener (so a port in use is reported at start) and
// prepares the user agent. Run serves it.
func New(opts Config) (*Gateway, error) {
	c := opts.SIP
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(time.Minute, opts.RetryMin)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "pbxgate"
	}
	g := &Gateway{cfg: c, opts: opts, log: opts.Logger, ready: make(chan struct{}), noticed: map[string]time.Time{},
		txs: newTxTable(), replies: make(chan struct{}, maxReplies)}
	switch c.Transport {
	case "udp", "tcp", "tls":
		g.network = c.Transport
	default:
		return nil, fmt.Errorf("sip.transport %q: use udp, tcp or tls", c.Transport)
	}
	var err error
	g.extLimit, g.extText = extBodyLimits(c), map[string]bool{}
	for _, e := range c.Extensions {
		g.extText[e.Ext] = e.DeliveryNotices == "text"
	}
	g.allow, err = parseAllow(c.AllowFrom)
	if err != nil {
		return nil, err
	}
	pbxAddr := c.Registrar
	if c.Mode == "peer" {
		pbxAddr = c.PeerAddress
	}
	host, port, err := splitHostPort(pbxAddr)
	if err != nil {
		return nil, fmt.Errorf("sip: PBX address %q: %w", pbxAddr, err)
	}
	g.pbxHost, g.pbxPort = host, port
	g.resolver = opts.Resolver
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	if c.Mode == "register" {
		g.keepalive = c.Keepalive
		g.probeID = fmt.Sprintf("pbxgate-ka-%x-", time.Now().UnixNano())
		if wantsSRV(pbxAddr) {
			// The request-URI names the domain without a port (RFC 3263).
			g.useSRV, g.pbxPort = true, 0
			port = g.defaultPort()
		}
	}
	// Without an allow-list in register mode only the registrar may send
	// us requests; its addresses are looked up before every REGISTER (DNS
	// may not be up yet when pbxgate starts).
	g.allowRegistrar = c.Mode == "register" && len(g.allow) == 0
	if g.m, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	var serverTLS, clientTLS *tls.Config
	if g.network == "tls" {
		if serverTLS, clientTLS, err = tlsConfigs(c, host); err != nil {
			return nil, err
		}
	}
	if err := g.listen(serverTLS); err != nil {
		return nil, err
	}
	g.contactHost = c.ContactHost
	g.contactPort = int(g.localAddr.Port())
	if g.contactHost == "" {
		g.contactHost = g.detectHost(host, port)
	}
	g.domain = c.Domain
	if g.domain == "" {
		g.domain = g.contactHost
	}
	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent(opts.UserAgent), sipgo.WithUserAgentHostname(g.domain),
		sipgo.WithUserAgentDNSResolver(g.resolver),
		// sipgo logs to slog's default logger unless told otherwise.
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(g.log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(g.log),
			// Late answers to retransmitted requests: nothing to do.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				g.log.Debug("late SIP response", "status", r.StatusCode, "source", r.Source())
			}),
			// A dropped TCP/TLS connection fails its transactions at once
			// instead of after the 32 s timer.
			sip.WithTransactionLayerTerminateOnConnClose())}
	if clientTLS != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(clientTLS))
	}
	g.ua, err = sipgo.NewUA(uaOpts...)
	if err != nil {
		g.closeListeners()
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	g.srv, err = sipgo.NewServer(g.ua, sipgo.WithServerLogger(g.log))
	if err != nil {
		g.closeListeners()
		return nil, fmt.Errorf("sip server: %w", err)
	}
	copts := []sipgo.ClientOption{sipgo.WithClientLogger(g.log), sipgo.WithClientHostname(g.contactHost), sipgo.WithClientPort(g.contactPort)}
	if g.network == "udp" {
		// Requests leave from the listening socket, so the PBX answers and
		// NATs map to the address it reaches us at.
		copts = append(copts, sipgo.WithClientConnectionAddr(g.udp.LocalAddr().String()))
	}
	g.client, err = sipgo.NewClient(g.ua, copts...)
	if err != nil {
		g.closeListeners()
		return nil, fmt.Errorf("sip client: %w", err)
	}
	g.srv.OnMessage(g.onMessage)
	g.srv.OnOptions(g.onOptions)
	g.srv.OnNoRoute(g.onOther)
	g.setReg(Registration{State: "unregistered", Registrar: c.Registrar})
	if c.Mode == "peer" {
		g.setReg(Registration{State: "disabled"})
	}
	return g, nil
}

// tlsConfigs loads pbxgate's certificate (for the PBX connecting to us)
// and the roots that verify the PBX.
func tlsConfigs(c config.SIP, pbxHost string) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sip.tls_cert/tls_key: %w", err)
	}
	client = &tls.Config{ServerName: pbxHost, MinVersion: tls.VersionTLS12}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, nil, fmt.Errorf("sip.tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("sip.tls_ca %s: no PEM certificate in it", c.TLSCA)
		}
		client.RootCAs = pool
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return server, client, nil
}

func (g *Gateway) listen(serverTLS *tls.Config) error {
	var err error
	switch g.network {
	case "udp":
		g.udp, err = net.ListenPacket("udp", g.cfg.Listen)
		if err == nil {
			// Bursts of responses (many chats in flight) overflow the
			// default buffer; a lost response costs a 500 ms retransmit.
			_ = g.udp.(*net.UDPConn).SetReadBuffer(4 << 20)
			g.localAddr = g.udp.LocalAddr().(*net.UDPAddr).AddrPort()
		}
	case "tcp", "tls":
		g.tcp, err = net.Listen("tcp", g.cfg.Listen)
		if err == nil {
			g.localAddr = g.tcp.Addr().(*net.TCPAddr).AddrPort()
			if serverTLS != nil {
				g.tcp = tls.NewListener(g.tcp, serverTLS)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("sip.listen %s: %w (is another SIP service on this port?)", g.cfg.Listen, err)
	}
	return nil
}

func (g *Gateway) closeListeners() {
	if g.udp != nil {
		g.udp.Close()
	}
	if g.tcp != nil {
		g.tcp.Close()
	}
}

// detectHost picks the address the PBX reaches us at: the listen address,
// or the local address the kernel routes towards the PBX.
func (g *Gateway) detectHost(pbxHost string, pbxPort int) string {
	if a := g.localAddr.Addr(); !a.IsUnspecified() {
		return a.Unmap().String()
	}
	conn, err := net.Dial("udp", net.JoinHostPort(pbxHost, strconv.Itoa(pbxPort)))
	if err != nil {
		return "127.0.0.1"
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String()
}

// Addr is the address the gateway listens on.
func (g *Gateway) Addr() netip.AddrPort { return g.localAddr }

// SetSessions connects the session manager (built after the gateway, as
// it delivers through it). Until then extensions' messages get 503.
func (g *Gateway) SetSessions(s Sessions) { g.sessions.Store(&sessionsBox{s: s}) }

// Run serves SIP and, in register mode, keeps pbxgate registered until ctx
// ends; then it unregisters and closes the listener.
func (g *Gateway) Run(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() {
		switch g.network {
		case "udp":
			serveErr <- g.srv.ServeUDP(g.udp)
		case "tcp":
			serveErr <- g.srv.ServeTCP(g.tcp)
		case "tls":
			serveErr <- g.srv.ServeTLS(g.tcp)
		}
	}()
	if err := g.waitListening(ctx); err != nil {
		g.closeListeners()
		return err
	}
	close(g.ready)
	var wg sync.WaitGroup
	if g.cfg.Mode == "register" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.registerLoop(ctx)
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("sip listener stopped: %w", err)
	}
	wg.Wait()
	g.bg.Wait()
	g.closeListeners()
	g.client.Close()
	g.srv.Close()
	return err
}

// waitListening waits until sipgo has the UDP socket in its pool: requests
// sent before would open a second socket on the same port.
func (g *Gateway) waitListening(ctx context.Context) error {
	if g.network != "udp" {
		return nil
	}
	addr := g.udp.LocalAddr().String()
	for i := 0; ; i++ {
		if c, err := g.srv.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(i+1, 20)) * time.Millisecond):
		}
	}
}

func splitHostPort(addr string) (string, int, error) {
	if addr == "" {
		return "", 0, errors.New("empty; set sip.registrar (register mode) or sip.peer_address (peer mode)")
	}
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 5060, nil // no port: the SIP default
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number 1-65535", ps)
	}
	return host, port, nil
}

func parseAllow(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, a := range list {
		if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("sip.allow_from: %q is neither an IP address nor a CIDR", a)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}

func (g *Gateway) allowed(source string) bool {
	host, _, err := net.SplitHostPort(source)
	if err != nil {
		host = source
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	if g.allowRegistrar {
		if ips := g.registrarIPs.Load(); ips != nil {
			return slices.Contains(*ips, ip)
		}
	}
	return false
}

func (g *Gateway) transportParam() string { return strings.ToUpper(g.network) }

func (g *Gateway) pbxURI(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: g.pbxHost, Port: g.pbxPort}
}

// contactUser is how a customer appears at the extension: E.164 with "+".
func contactUser(c session.Chat) string {
	if c.Contact != "" && c.Contact[0] != '+' && allDigits(c.Contact) {
		return "+" + c.Contact
	}
	return c.Contact
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
