// Package retention runs a prune now and then once a day: the message
// log's retention (gateway/msglog) and the campaigns' (gateway/campaign)
// share it.
package retention

import (
	"context"
	"log/slog"
	"time"
)

// Prune deletes what is older than before and says how much it deleted.
type Prune func(ctx context.Context, before time.Time) (int, error)

// Daily calls prune with now()-keep at once and then every 24 hours,
// logging what it deleted and failures as "<what>: pruned old entries" and
// "<what>: pruning failed", until ctx ends; keep <= 0 returns at once
// (keep everything).
func Daily(ctx context.Context, keep time.Duration, now func() time.Time, prune Prune, log *slog.Logger, what string) {
	if keep <= 0 {
		return
	}
	run := func() {
		n, err := prune(ctx, now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error(what+": pruning failed", "err", err)
		case n > 0:
			log.Info(what+": pruned old entries", "deleted", n, "retention", keep.String())
		}
	}
	run()
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			run()
		}
	}
}
