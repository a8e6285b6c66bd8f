package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/diskguard"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/web"
)

// applyMemoryLimit sets the Go runtime's soft memory limit from
// memory.limit, unless GOMEMLIMIT is set (the runtime already applied it).
// It returns the limit in effect (math.MaxInt64: none).
func applyMemoryLimit(m config.Memory, environ []string, log *slog.Logger) int64 {
	for _, kv := range environ {
		if v, ok := cutEnv(kv, "GOMEMLIMIT"); ok && v != "" {
			limit := debug.SetMemoryLimit(-1)
			log.Info("memory limit from GOMEMLIMIT", "limit", v, "bytes", limit)
			return limit
		}
	}
	if m.Limit == 0 {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(int64(m.Limit))
	log.Debug("memory limit", "limit", m.Limit.String())
	return int64(m.Limit)
}

// trimMappedFiles keeps the resident pages of the store's memory-mapped
// files near memory.mapped_files (store.RunTrim with its defaults: a read
// of /proc/self/statm every 20 ms; compactions no longer make their tables
// resident — the patched Badger copy, docs/benchmarks.md, "Memory budget: a
// patched Badger" — so what it trims are the pages reads make resident),
// and hands back the binary's pages that only start-up or a burst touched.
func (d *daemon) trimMappedFiles() {
	budget := int64(d.cfg.Memory.MappedFiles)
	if budget == 0 {
		return
	}
	d.component("store-trim", func(ctx context.Context) error {
		d.store.RunTrim(ctx, store.TrimOptions{Budget: budget})
		return nil
	})
}

// releaseInterval is how often freed heap memory is handed back to the
// kernel at once (releaseMemory).
const releaseInterval = 30 * time.Second

// releaseMemory hands the heap memory the garbage collector freed back to
// the kernel every releaseInterval (debug.FreeOSMemory: a collection, then
// every free page returned). Without it the runtime keeps about twice the
// live heap mapped after a burst (GOGC's headroom) and returns it only
// slowly; an idle appliance should hold little more than its live heap. A
// collection every 30 s costs nothing measurable next to the ones the
// allocation rate causes under load.
func (d *daemon) releaseMemory() {
	d.component("memory-release", func(ctx context.Context) error {
		t := time.NewTicker(releaseInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				debug.FreeOSMemory()
			}
		}
	})
}

// newDiskGuard watches the data directory's free space (store section's
// disk budget).
func (d *daemon) newDiskGuard() (*diskguard.Guard, error) {
	if err := os.MkdirAll(d.cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: %s: %v (create it and give the pbxgate user write access)", store.ErrNotWritable, d.cfg.DataDir, err)
	}
	s := d.cfg.Store.Disk
	return diskguard.New(diskguard.Config{Dir: d.cfg.DataDir, MinFree: int64(s.MinFree), WriteFloor: int64(s.WriteFloor),
		Reserve: int64(s.Reserve), Interval: s.CheckInterval, Logger: d.log.With("component", "disk")})
}

// diskComponent is the disk's part of /readyz: degraded below
// min_free_space (work pauses), down below write_floor (writes refused).
func (d *daemon) diskComponent() web.Component {
	st := d.disk.Status()
	c := web.Component{Name: "disk", State: "ok", Detail: diskguard.MiB(st.Free) + " free on " + st.Dir}
	switch {
	case st.Full:
		c.State, c.Detail = "down", st.Reason()
	case st.Low:
		c.State, c.Detail = "degraded", st.Reason()
	}
	return c
}

// diskBanner feeds the portal's low-disk banner.
type diskBanner struct{ g *diskguard.Guard }

func (b diskBanner) Low() (free int64, dir string, low bool) {
	st := b.g.Status()
	return st.Free, st.Dir, st.Low
}

// holdWebhook answers Meta's webhook deliveries with 503 while the disk is
// almost full: Meta retries them (for up to 7 days), so inbound WhatsApp
// messages wait at Meta as SMS wait on the SIM. Verification (GET) passes.
func holdWebhook(h http.Handler, g *diskguard.Guard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason, blocked := g.Blocked(); blocked && r.Method == http.MethodPost {
			w.Header().Set("Retry-After", strconv.Itoa(60))
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}
