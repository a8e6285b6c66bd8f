// Package cluster runs the embedded NATS server with JetStream that lets
// several pbxgate boxes act as one gateway. A box without a cluster
// section never calls it: one box stays Badger only.
//
// Each box runs one NATS server inside the daemon. The boxes connect to
// each other over NATS routes (a full mesh on a LAN) or, for a site that
// can only dial out, as a leaf node of a hub. JetStream's meta group
// (Raft over the routes) elects the leader; streams and key-value buckets
// built on it are replicated to every box. The daemon talks to its own
// server in process: no client port is opened.
package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure this box's member of the cluster.
type Options struct {
	// Name is the cluster's name; every box of one gateway uses the same.
	Name string
	// Node is this box's name, unique in the cluster.
	Node string
	// Listen is the host:port the route listener binds (other boxes dial
	// it). Empty in leaf mode.
	Listen string
	// Advertise is the host:port other boxes should dial when it differs
	// from Listen (NAT, a wildcard listen address).
	Advertise string
	// Peers are the route addresses (host:port) of the other boxes.
	Peers []string
	// User and Password authenticate routes; every box uses the same pair.
	User, Password string
	// TLS, when set, encrypts and authenticates the routes (mutual TLS:
	// the config must carry this box's certificate and the CA of the
	// others).
	TLS *tls.Config
	// Hub is the leaf-node URL (nats-leaf://host:port or tls://…) of the
	// hub this box dials out to; set instead of Listen/Peers for a site
	// behind NAT.
	Hub string
	// LeafListen is the host:port where a hub accepts leaf nodes.
	LeafListen string
	// Dir holds JetStream's files; it must be on the box's data disk and
	// not shared with Badger's directory.
	Dir string
	// MaxMemory and MaxStore bound JetStream's memory and file storage.
	MaxMemory, MaxStore int64
	// Logger receives the server's notices and warnings.
	Logger *slog.Logger
}

// Defaults sized for a 1 GB Raspberry Pi: JetStream's in-memory storage
// is not used by pbxgate's streams (they are file backed), so its bound
// is small.
const (
	DefaultMaxMemory = 16 << 20
	DefaultMaxStore  = 1 << 30
)

// Node is this box's running cluster member.
type Node struct {
	opts Options
	srv  *server.Server
	nc   *nats.Conn
	js   jetstream.JetStream
}

// Start runs the embedded server, waits until it accepts in-process
// connections and connects to it. The cluster may still be forming when
// Start returns: Status and WaitLeader tell.
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.Name == "" || o.Node == "" {
		return nil, errors.New("cluster: name and node are required")
	}
	if o.Dir == "" {
		return nil, errors.New("cluster: a directory for JetStream is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if o.MaxStore == 0 {
		o.MaxStore = DefaultMaxStore
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	token := rand.Text()
	so, err := serverOptions(o, token)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	srv.SetLoggerV2(logAdapter{o.Logger.With("component", "nats")}, false, false, false)
	go srv.Start()
	ready := make(chan bool, 1)
	go func() { ready <- srv.ReadyForConnections(30 * time.Second) }()
	select {
	case ok := <-ready:
		if !ok {
			srv.Shutdown()
			return nil, fmt.Errorf("cluster: the embedded NATS server did not start (route listener %s)", o.Listen)
		}
	case <-ctx.Done():
		srv.Shutdown()
		return nil, ctx.Err()
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Token(token), nats.Name("pbxgate "+o.Node),
		nats.MaxReconnects(-1), nats.NoCallbacksAfterClientClose(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			o.Logger.Debug("cluster: in-process connection", "err", err)
		}))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: connect in process: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &Node{opts: o, srv: srv, nc: nc, js: js}, nil
}

func serverOptions(o Options, token string) (*server.Options, error) {
	so := &server.Options{
		ServerName: o.Node,
		// The daemon connects in process. The server still needs a client
		// listener (its routes start only once that is open): a random
		// loopback port guarded by a token only this process knows.
		Host:               "127.0.0.1",
		Port:               server.RANDOM_PORT,
		Authorization:      token,
		NoSigs:             true,
		JetStream:          true,
		StoreDir:           filepath.Clean(o.Dir),
		JetStreamMaxMemory: o.MaxMemory,
		JetStreamMaxStore:  o.MaxStore,
		// A pbxgate cluster is small and on one LAN or a few sites.
		MaxPayload: 1 << 20,
	}
	if o.Hub != "" {
		u, err := url.Parse(o.Hub)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("cluster: hub %q is not a URL like nats-leaf://hub.example:7422", o.Hub)
		}
		if o.User != "" {
			u.User = url.UserPassword(o.User, o.Password)
		}
		so.LeafNode.Remotes = []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, TLSConfig: o.TLS}}
		// A leaf site keeps its own JetStream domain: its streams stay
		// local and it sends while the link to the hub is down.
		so.JetStreamDomain = o.Node
		return so, nil
	}
	if len(o.Peers) == 0 && o.LeafListen == "" {
		// One box alone (benchmarks' baseline; the configuration asks
		// for peers): JetStream without routes, its own leader.
		return so, nil
	}
	if o.Listen == "" {
		return nil, errors.New("cluster: listen (host:port for the other boxes) is required unless hub is set")
	}
	host, port, err := splitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen: %w", err)
	}
	so.Cluster = server.ClusterOpts{
		Name: o.Name, Host: host, Port: port,
		Username: o.User, Password: o.Password,
		Advertise:      o.Advertise,
		ConnectRetries: -1, // keep dialling a peer that is away
		TLSConfig:      o.TLS,
		PingInterval:   2 * time.Second,
		MaxPingsOut:    3,
	}
	if o.TLS != nil {
		so.Cluster.TLSTimeout = 5
	}
	for _, p := range o.Peers {
		scheme := "nats-route"
		if o.TLS != nil {
			scheme = "tls"
		}
		u := &url.URL{Scheme: scheme, Host: p}
		if o.User != "" {
			u.User = url.UserPassword(o.User, o.Password)
		}
		so.Routes = append(so.Routes, u)
	}
	if o.LeafListen != "" {
		lh, lp, err := splitHostPort(o.LeafListen)
		if err != nil {
			return nil, fmt.Errorf("cluster: leaf_listen: %w", err)
		}
		so.LeafNode.Host, so.LeafNode.Port = lh, lp
		so.LeafNode.Username, so.LeafNode.Password = o.User, o.Password
		so.LeafNode.TLSConfig = o.TLS
	}
	return so, nil
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q is not 1–65535", p)
	}
	return h, n, nil
}

// JetStream is this box's JetStream context for streams and buckets.
func (n *Node) JetStream() jetstream.JetStream { return n.js }

// Conn is the in-process connection (subjects for control messages).
func (n *Node) Conn() *nats.Conn { return n.nc }

// Name is this box's name.
func (n *Node) Name() string { return n.opts.Node }

// Close drains the connection and shuts the server down.
func (n *Node) Close() error {
	err := n.nc.Drain()
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	return err
}

// Member is one box as this box sees it.
type Member struct {
	Name string `json:"name"`
	// Self is this box.
	Self bool `json:"self,omitempty"`
	// Leader holds JetStream's meta leadership.
	Leader bool `json:"leader,omitempty"`
	// Current: caught up with the meta group; Offline: not seen lately.
	Current bool `json:"current"`
	Offline bool `json:"offline,omitempty"`
	// Route: this box has a route to it.
	Route bool `json:"route,omitempty"`
	// Seen is how long ago it was last heard from (0 for this box).
	Seen time.Duration `json:"seen_ns"`
	Lag  uint64        `json:"lag,omitempty"`
	// Address is the peer's route address as this box sees it.
	Address string `json:"address,omitempty"`
}

// Status is what `pbxgate cluster status` and the System page show.
type Status struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Leader  string `json:"leader,omitempty"`
	// Size is the meta group's known size; Quorum the votes it needs.
	Size    int      `json:"size"`
	Quorum  int      `json:"quorum"`
	Members []Member `json:"members"`
	// Expected is the number of boxes configured (this one and its
	// peers).
	Expected int `json:"expected"`
	// Leaf is set when this box is a leaf node of a hub.
	Leaf bool `json:"leaf,omitempty"`
}

// Complete reports whether every configured box is connected and the
// meta group under one leader counts them all. Only the leader knows
// whether the others are caught up, so a follower counts routes.
func (s Status) Complete() bool {
	return s.Healthy() && s.Size >= s.Expected && s.Connected() >= s.Expected
}

// Connected counts this box and the boxes it has a route to.
func (s Status) Connected() int {
	n := 0
	for _, m := range s.Members {
		if m.Self || m.Route {
			n++
		}
	}
	return n
}

// Healthy reports whether the meta group has a leader this box knows.
func (s Status) Healthy() bool {
	if s.Leaf {
		return true
	}
	return s.Leader != ""
}

// Status reads the meta group and the routes from the embedded server.
func (n *Node) Status() (Status, error) {
	st := Status{Cluster: n.opts.Name, Node: n.opts.Node, Leaf: n.opts.Hub != "", Expected: 1 + len(n.opts.Peers)}
	jsz, err := n.srv.Jsz(&server.JSzOptions{})
	if err != nil {
		return st, fmt.Errorf("cluster: %w", err)
	}
	routes := map[string]string{}
	if rz, err := n.srv.Routez(&server.RoutezOptions{}); err == nil {
		for _, r := range rz.Routes {
			routes[r.RemoteName] = net.JoinHostPort(r.IP, strconv.Itoa(r.Port))
		}
	}
	members := map[string]Member{n.opts.Node: {Name: n.opts.Node, Self: true, Current: true}}
	if jsz.Meta == nil && len(n.opts.Peers) == 0 && n.opts.Hub == "" && n.opts.LeafListen == "" {
		// Standalone JetStream: this box is the whole cluster.
		st.Leader, st.Size, st.Quorum = n.opts.Node, 1, 1
		self := members[n.opts.Node]
		self.Leader = true
		members[n.opts.Node] = self
	}
	if m := jsz.Meta; m != nil {
		st.Leader, st.Size, st.Quorum = m.Leader, m.Size, m.QuorumNeeded
		self := members[n.opts.Node]
		self.Leader = m.Leader == n.opts.Node
		members[n.opts.Node] = self
		for _, p := range m.Replicas {
			members[p.Name] = Member{Name: p.Name, Current: p.Current, Offline: p.Offline,
				Seen: p.Active, Lag: p.Lag, Leader: p.Name == m.Leader}
		}
	}
	for name, addr := range routes {
		m := members[name]
		m.Name, m.Route, m.Address = name, true, addr
		members[name] = m
	}
	for _, m := range members {
		st.Members = append(st.Members, m)
	}
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].Name < st.Members[j].Name })
	return st, nil
}

// WaitLeader waits until the meta group has a leader and this box is part
// of it, or ctx ends.
func (n *Node) WaitLeader(ctx context.Context) (Status, error) {
	return n.wait(ctx, Status.Healthy)
}

// WaitComplete waits until every configured box is current, or ctx ends.
func (n *Node) WaitComplete(ctx context.Context) (Status, error) {
	return n.wait(ctx, Status.Complete)
}

func (n *Node) wait(ctx context.Context, ok func(Status) bool) (Status, error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := n.Status()
		if err == nil && ok(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("cluster: not ready (leader %q, meta size %d, %d of %d boxes seen: %+v): %w",
				st.Leader, st.Size, len(st.Members), st.Expected, st.Members, ctx.Err())
		case <-t.C:
		}
	}
}

// logAdapter sends the server's log lines to slog. Its notices are
// Info, its traces are dropped (they are per protocol line).
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Noticef(f string, v ...any) { a.l.Info(fmt.Sprintf(f, v...)) }
func (a logAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a logAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a logAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a logAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a logAdapter) Tracef(string, ...any)      {}
