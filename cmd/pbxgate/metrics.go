package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// storeCollector exports the store's on-disk size at scrape time.
type storeCollector struct {
	s    *store.Store
	size *prometheus.Desc
}

func newStoreCollector(s *store.Store) prometheus.Collector {
	return &storeCollector{s: s, size: prometheus.NewDesc("pbxgate_store_size_bytes",
		"Size of the Badger store on disk.", []string{"part"}, nil)}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.size }

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	lsm, vlog := c.s.Size()
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(lsm), "lsm")
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(vlog), "vlog")
}
