package app

import (
	"context"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/clusterwork"
)

// ClusterService is the cluster as the portal and the API see it: its
// members and the shared campaigns (gateway/clusterwork). nil on a box
// alone: then nothing of the cluster is shown.
type ClusterService interface {
	Status() (cluster.Status, error)
	// Channels are this box's SMS channels (a shared campaign's channel
	// has the same name on every box).
	Channels() []string
	List() []clusterwork.Campaign
	Get(ctx context.Context, id string, detail bool) (clusterwork.Progress, error)
	Create(ctx context.Context, s clusterwork.Spec) (clusterwork.Campaign, error)
	Stop(ctx context.Context, id string) (clusterwork.Campaign, error)
	Resume(ctx context.Context, id string) (clusterwork.Campaign, error)
	Delete(ctx context.Context, id string) error
}

// SharedProgress lists the shared campaigns with their counts (read from
// the replicated claims, so the same on every box). A campaign whose
// counts cannot be read now (its bucket is changing leader) is listed
// without them and Partial is set.
func SharedProgress(ctx context.Context, cs ClusterService) (list []clusterwork.Progress, partial bool) {
	for _, c := range cs.List() {
		p, err := cs.Get(ctx, c.ID, false)
		if err != nil {
			p, partial = clusterwork.Progress{Campaign: c}, true
		}
		list = append(list, p)
	}
	return list, partial
}
