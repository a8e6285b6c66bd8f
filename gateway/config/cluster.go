package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// EnvClusterPassword overrides cluster.password (keep it out of the file).
const EnvClusterPassword = "PBXGATE_CLUSTER_PASSWORD"

// Cluster turns several boxes into one gateway (docs/cluster.md). Without
// a name a box runs alone, on Badger only, exactly as before.
type Cluster struct {
	// Name is the cluster's name, the same on every box.
	Name string `yaml:"name"`
	// Node is this box's name, unique in the cluster (default: the host
	// name).
	Node string `yaml:"node"`
	// Listen is where the other boxes connect, host:port (NATS routes;
	// the usual port is 6222).
	Listen string `yaml:"listen"`
	// Advertise is the host:port the others should dial when it differs
	// from listen (a wildcard listen address, NAT).
	Advertise string `yaml:"advertise"`
	// Peers are the other boxes' listen addresses, host:port.
	Peers []string `yaml:"peers"`
	// User and Password authenticate the boxes to each other.
	User     string `yaml:"user"`
	Password Secret `yaml:"password"`
	// TLS encrypts the routes (mutual TLS with one CA for all boxes).
	TLS ClusterTLS `yaml:"tls"`
	// Hub makes this box a leaf node of a hub it dials out to (a site
	// behind NAT): nats-leaf://hub.example.net:7422 or tls://…; set it
	// instead of listen and peers.
	Hub string `yaml:"hub"`
	// LeafListen is where a hub accepts leaf nodes (host:port, usually
	// port 7422).
	LeafListen string `yaml:"leaf_listen"`
	// MaxStore bounds JetStream's files on this box.
	MaxStore Size `yaml:"max_store"`
}

// ClusterTLS names the PEM files of the routes' mutual TLS.
type ClusterTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	CA   string `yaml:"ca"`
}

// Enabled reports whether the box is part of a cluster.
func (c Cluster) Enabled() bool { return c.Name != "" }

// Validate checks the section; an empty section is valid (one box).
func (c Cluster) Validate(key string) Problems {
	if !c.Enabled() {
		if c.Listen != "" || len(c.Peers) > 0 || c.Hub != "" {
			return Problems{{Key: key + ".name", Msg: "set the cluster's name (the same on every box) to turn clustering on"}}
		}
		return nil
	}
	var ps Problems
	add := func(k, format string, args ...any) {
		ps = append(ps, Problem{Key: key + "." + k, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.ContainsAny(c.Name, " .*>\t") {
		add("name", "%q: use letters, digits, - and _ only", c.Name)
	}
	if strings.ContainsAny(c.Node, " .*>\t") {
		add("node", "%q: use letters, digits, - and _ only", c.Node)
	}
	if c.Hub != "" {
		u, err := url.Parse(c.Hub)
		if err != nil || u.Host == "" || (u.Scheme != "nats-leaf" && u.Scheme != "tls" && u.Scheme != "nats") {
			add("hub", "%q must be a URL like nats-leaf://hub.example.net:7422 or tls://hub.example.net:7422", c.Hub)
		}
		if c.Listen != "" || len(c.Peers) > 0 {
			add("hub", "a leaf box dials its hub only; remove listen and peers")
		}
	} else {
		if err := hostPort(c.Listen); err != nil {
			add("listen", "%v (e.g. 0.0.0.0:6222)", err)
		}
		if len(c.Peers) == 0 {
			add("peers", "name the other boxes' listen addresses (host:port); a cluster of one is a box without a cluster section")
		}
		seen := map[string]bool{}
		for i, p := range c.Peers {
			if err := hostPort(p); err != nil {
				add(fmt.Sprintf("peers[%d]", i), "%v", err)
			}
			if seen[p] {
				add(fmt.Sprintf("peers[%d]", i), "%s is listed twice", p)
			}
			seen[p] = true
		}
		if c.Advertise != "" {
			if err := hostPort(c.Advertise); err != nil {
				add("advertise", "%v", err)
			}
		}
	}
	if c.LeafListen != "" {
		if err := hostPort(c.LeafListen); err != nil {
			add("leaf_listen", "%v", err)
		}
	}
	if (c.User == "") != (c.Password.Reveal() == "") {
		add("password", "set user and password together (the same on every box), or neither")
	}
	if c.Password.Reveal() != "" && len(c.Password.Reveal()) < 16 {
		add("password", "use at least 16 characters (e.g. openssl rand -hex 16)")
	}
	t := c.TLS
	if t.Cert != "" || t.Key != "" || t.CA != "" {
		if t.Cert == "" || t.Key == "" || t.CA == "" {
			add("tls", "set cert, key and ca together: every box proves itself to the others with a certificate of one CA")
		}
	}
	if c.MaxStore < 0 {
		add("max_store", "must not be negative")
	}
	return ps
}

func hostPort(s string) error {
	h, p, err := net.SplitHostPort(s)
	if err != nil || h == "" {
		return fmt.Errorf("%q must be host:port", s)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port must be 1–65535", s)
	}
	return nil
}
