package main

import (
	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/clusterwork"
)

// clusterPortal is the cluster as the portal and the API see it
// (web/app.ClusterService): the members and the shared campaigns.
type clusterPortal struct {
	*clusterwork.Work
	d *daemon
}

func (p clusterPortal) Status() (cluster.Status, error) { return p.d.cluster.Status() }

// Channels are this box's SMS channels, in configuration order.
func (p clusterPortal) Channels() []string {
	out := make([]string, 0, len(p.d.cfg.Channels))
	for _, c := range p.d.cfg.Channels {
		out = append(out, c.Name)
	}
	return out
}
