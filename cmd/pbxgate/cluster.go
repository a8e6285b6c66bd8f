package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/consentsync"
	"github.com/pbxgate/pbxgate/gateway/logsync"
	"github.com/pbxgate/pbxgate/web"
)

// clusterDirName is JetStream's directory inside data_dir, next to (not
// inside) Badger's files.
const clusterDirName = "cluster"

// startCluster joins the cluster when the configuration has a cluster
// section; a box without one never starts NATS.
func (d *daemon) startCluster(ctx context.Context) error {
	c := d.cfg.Cluster
	if !c.Enabled() {
		return nil
	}
	node := c.Node
	if node == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("cluster.node is empty and the host name is unknown: %w", err)
		}
		node = h
	}
	tlsCfg, err := clusterTLS(c.TLS)
	if err != nil {
		return err
	}
	n, err := cluster.Start(ctx, cluster.Options{
		Name: c.Name, Node: node, Listen: c.Listen, Advertise: c.Advertise, Peers: c.Peers,
		User: c.User, Password: c.Password.Reveal(), TLS: tlsCfg,
		Hub: c.Hub, LeafListen: c.LeafListen, MaxStore: int64(c.MaxStore),
		Dir: filepath.Join(d.cfg.DataDir, clusterDirName), Logger: d.log,
	})
	if err != nil {
		return fmt.Errorf("joining cluster %q as %q: %w", c.Name, node, err)
	}
	d.cluster = n
	d.logSync = logsync.New(n, d.store, d.log.With("component", "log-sync"))
	d.log.Info("cluster member started", "cluster", c.Name, "node", node, "listen", c.Listen, "peers", len(c.Peers), "leaf_hub", c.Hub != "")
	return nil
}

// consentSync shares opt-outs and the blacklist with the other boxes;
// nil on a box alone.
func (d *daemon) consentSync() *consentsync.Sync {
	if d.cluster == nil {
		return nil
	}
	return consentsync.New(d.cluster, d.log.With("component", "consent-sync"))
}

func (d *daemon) stopCluster() {
	if d.cluster == nil {
		return
	}
	if err := d.cluster.Close(); err != nil {
		d.log.Warn("cluster member stopped with an error", "err", err)
	}
}

// clusterTLS loads the routes' mutual TLS from cluster.tls.
func clusterTLS(t config.ClusterTLS) (*tls.Config, error) {
	if t.Cert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls: %w", err)
	}
	pem, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls.ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster.tls.ca: %s holds no PEM certificate", t.CA)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}

// clusterComponent is the cluster's line in /readyz: degraded (not down)
// without a leader, because the box keeps sending from its own queue.
func (d *daemon) clusterComponent() (web.Component, bool) {
	if d.cluster == nil {
		return web.Component{}, false
	}
	comp := web.Component{Name: "cluster", State: "ok"}
	st, err := d.cluster.Status()
	switch {
	case err != nil:
		comp.State, comp.Detail = "degraded", err.Error()
	case !st.Healthy():
		comp.State, comp.Detail = "degraded", "no leader: this box sends from its own queue until the cluster is back"
	case !st.Complete():
		comp.State, comp.Detail = "degraded", fmt.Sprintf("%d of %d boxes connected", st.Connected(), st.Expected)
	}
	return comp, true
}

// clusterReply is GET /v1/cluster on the control socket.
type clusterReply struct {
	Enabled bool            `json:"enabled"`
	Status  *cluster.Status `json:"status,omitempty"`
}

func (d *daemon) clusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		if d.cluster == nil {
			writeControl(w, clusterReply{}, nil)
			return
		}
		st, err := d.cluster.Status()
		writeControl(w, clusterReply{Enabled: true, Status: &st}, err)
	})
	d.clusterCampaignRoutes(mux)
	d.logSyncRoutes(mux)
}

// cmdCluster: pbxgate cluster status.
func cmdCluster(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "cluster status", "cluster status [-c FILE | --data DIR] [--json]")
	dir := dataDirFlags(env, fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if len(args) > 0 && args[0] == "campaign" {
		return cmdClusterCampaign(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "status" {
		args = args[1:]
	} else if len(args) == 0 || !strings.HasPrefix(args[0], "-") {
		return usageErr("pbxgate cluster status [-c FILE | --data DIR] [--json] | pbxgate %s", clusterCampaignSynopsis)
	}
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	var rep clusterReply
	if err := newControlClient(dataDir).call(ctx, "GET", "/v1/cluster", nil, &rep); err != nil {
		return daemonErr(err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if !rep.Enabled || rep.Status == nil {
		fmt.Fprintln(env.stdout, "This box is not in a cluster (no cluster section in its configuration).")
		return nil
	}
	st := rep.Status
	leader := st.Leader
	if leader == "" {
		leader = "none (no quorum: each box sends from its own queue)"
	}
	fmt.Fprintf(env.stdout, "cluster %s, this box %s, leader %s, %d of %d boxes connected\n\n",
		st.Cluster, st.Node, leader, st.Connected(), st.Expected)
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BOX\tROLE\tSTATE\tLAST SEEN\tADDRESS")
	for _, m := range st.Members {
		role := "follower"
		if m.Leader {
			role = "leader"
		}
		state := "connected"
		switch {
		case m.Self:
			state = "this box"
		case m.Offline:
			state = "offline"
		case !m.Route:
			state = "not connected"
		}
		seen := "-"
		if !m.Self && m.Seen > 0 {
			seen = m.Seen.Round(time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, role, state, seen, m.Address)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !st.Healthy() {
		return errors.New("the cluster has no leader")
	}
	return nil
}
