// netscope:file the cluster sections here are only validated, never dialled.
package config

import (
	"strings"
	"testing"
)

// TestClusterValidate: each mistake an installer can make in the cluster
// section is named by its key with what to do.
func TestClusterValidate(t *testing.T) {
	ok := Cluster{Name: "site", Node: "box1", Listen: "0.0.0.0:6222", Peers: []string{"box2.lan:6222"},
		User: "pbxgate", Password: "0123456789abcdef0123"}
	if ps := ok.Validate("cluster"); len(ps) != 0 {
		t.Fatalf("valid section: %v", ps)
	}
	if ps := (Cluster{}).Validate("cluster"); len(ps) != 0 {
		t.Fatalf("empty section (one box): %v", ps)
	}
	for name, tc := range map[string]struct {
		mod  func(*Cluster)
		key  string
		text string
	}{
		"peers without name": {func(c *Cluster) { c.Name = "" }, "cluster.name", "turn clustering on"},
		"no peers":           {func(c *Cluster) { c.Peers = nil }, "cluster.peers", "other boxes"},
		"bad listen":         {func(c *Cluster) { c.Listen = "6222" }, "cluster.listen", "host:port"},
		"bad peer port":      {func(c *Cluster) { c.Peers = []string{"box2:0"} }, "cluster.peers[0]", "1–65535"},
		"peer twice":         {func(c *Cluster) { c.Peers = []string{"b:1", "b:1"} }, "cluster.peers[1]", "twice"},
		"user alone":         {func(c *Cluster) { c.Password = "" }, "cluster.password", "together"},
		"short password":     {func(c *Cluster) { c.Password = "short" }, "cluster.password", "16"},
		"dot in node":        {func(c *Cluster) { c.Node = "box.1" }, "cluster.node", "letters"},
		"hub with peers":     {func(c *Cluster) { c.Hub = "nats-leaf://hub:7422" }, "cluster.hub", "remove listen"},
		"hub not a URL":      {func(c *Cluster) { c.Hub, c.Listen, c.Peers = "hub:7422", "", nil }, "cluster.hub", "nats-leaf://"},
		"tls half":           {func(c *Cluster) { c.TLS.Cert = "/etc/pbxgate/box.pem" }, "cluster.tls", "cert, key and ca"},
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			c.Peers = append([]string(nil), ok.Peers...)
			tc.mod(&c)
			found := false
			for _, p := range c.Validate("cluster") {
				if p.Key == tc.key && strings.Contains(p.Msg, tc.text) {
					found = true
				}
			}
			if !found {
				t.Errorf("want %s: …%s…; got %v", tc.key, tc.text, c.Validate("cluster"))
			}
		})
	}
}
