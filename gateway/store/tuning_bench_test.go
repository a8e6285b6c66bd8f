package store

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// BenchmarkBadgerTuning writes what one sent SMS costs the store (a
// recipient JSON written three times as it goes sending → sent →
// delivered, plus a message-log entry) for 100,000 messages, with the small
// profile and variants of it, and reports the peak Go heap (HeapInuse,
// sampled every 10 ms), the bytes written to disk per message (/proc/self/io
// write_bytes), and the data directory's size afterwards. sync_writes is
// off here so the variants finish in seconds, and the Go memory limit is
// the daemon's default (64 MiB); the daemon's memory run
// (cmd/pbxgate BenchmarkMemoryBudget) measures with fsync.
// BADGER_TUNING_MESSAGES changes the number of messages.
//
//	go test ./gateway/store -run '^$' -bench BadgerTuning -benchtime 1x
func BenchmarkBadgerTuning(b *testing.B) {
	variants := []struct {
		name string
		t    tuning
		def  bool
	}{
		{name: "small"},
		// The small profile until 2026-12-07 (Snappy, 512 KiB tables,
		// block and index caches, compaction at 2 L0 tables).
		{name: "before-snappy-512KiB", t: snappy512},
		{name: "zstd", t: with(func(t *tuning) { t.compression, t.blockCache = options.ZSTD, 8<<20 })},
		{name: "memtable-4MiB", t: with(func(t *tuning) { t.memTable = 4 << 20 })},
		{name: "table-2MiB", t: with(func(t *tuning) { t.baseTable = 2 << 20 })},
		{name: "l0-2", t: with(func(t *tuning) { t.l0Tables, t.l0Stall = 2, 6 })},
		{name: "table-mult-2", t: with(func(t *tuning) { t.tableMult = 2 })},
		// The small profile before the 100,000-SMS run's late peak was
		// traced to table builders (docs/benchmarks.md).
		{name: "before-4MiB-1MiB-mult-2", t: func() tuning {
			t := snappy512
			t.memTable, t.baseTable, t.tableMult = 4<<20, 1<<20, 2
			return t
		}()},
		{name: "value-threshold-1KiB", t: with(func(t *tuning) { t.valueThreshold = 1 << 10 })},
		{name: "badger-default", def: true},
	}
	messages := 100_000
	if v, err := strconv.Atoi(os.Getenv("BADGER_TUNING_MESSAGES")); err == nil && v > 0 {
		messages = v // more data reaches deeper levels
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			t := v.t
			if t == (tuning{}) {
				t = small
			}
			for b.Loop() {
				dir := filepath.Join(b.TempDir(), "data")
				bo := badger.DefaultOptions(dir).WithLogger(nil).WithMetricsEnabled(false).WithSyncWrites(false)
				if !v.def {
					bo = t.apply(bo)
				}
				// The daemon's default memory.limit, and a stand-in for
				// the rest of the daemon's live heap (templates,
				// catalogues, routes, caches: ~20 MB at idle), so that
				// the store gets the headroom it gets in the daemon.
				defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
				rest := ballast(20 << 20)
				runtime.GC()
				var peak, peakLive atomic.Uint64
				live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
				stop := make(chan struct{})
				sampled := make(chan struct{})
				go func() {
					defer close(sampled)
					var ms runtime.MemStats
					for {
						runtime.ReadMemStats(&ms)
						if ms.HeapInuse > peak.Load() {
							peak.Store(ms.HeapInuse)
						}
						metrics.Read(live)
						if v := live[0].Value.Uint64(); v > peakLive.Load() {
							peakLive.Store(v)
						}
						select {
						case <-stop:
							return
						case <-time.After(10 * time.Millisecond):
						}
					}
				}()
				w0 := selfWriteBytes(b)
				gc := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/allocs:bytes"}}
				metrics.Read(gc)
				gc0 := [2]uint64{gc[0].Value.Uint64(), gc[1].Value.Uint64()}
				cpu0 := selfCPU(b)
				db, err := badger.Open(bo)
				if err != nil {
					b.Fatal(err)
				}
				for i := range messages {
					key := fmt.Appendf(nil, "campaign/c%03d/r/%06d", i/1000, i%1000)
					for _, st := range []string{"sending", "sent", "delivered"} {
						val := fmt.Appendf(nil, `{"seq":%d,"number":"+49160%07d","status":%q,"attempt":1,"msg_id":"campaign-c%03d-%d-1","sending_at":"2026-12-06T21:00:00Z"}`, i%1000, i, st, i/1000, i%1000)
						if err := db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
							b.Fatal(err)
						}
					}
					entry := fmt.Appendf(nil, `{"id":"m%08d","dir":"out","kind":"sms","channel":"sms","to":"+49160%07d","text":"Ihre Bestellung ist abholbereit. Ihr Team","status":"delivered","at":"2026-12-06T21:00:00Z"}`, i, i)
					if err := db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "msglog/e/%08d", i), entry) }); err != nil {
						b.Fatal(err)
					}
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				close(stop)
				<-sampled
				metrics.Read(gc)
				perK := float64(messages) / 1000
				b.ReportMetric(float64(gc[0].Value.Uint64()-gc0[0])/perK, "GCs/kmsg")
				b.ReportMetric(float64(gc[1].Value.Uint64()-gc0[1])/(1<<20)/perK, "MB-alloc/kmsg")
				b.ReportMetric((selfCPU(b)-cpu0).Seconds()*1000/perK, "CPU-ms/kmsg")
				runtime.KeepAlive(rest)
				b.ReportMetric(float64(peak.Load())/(1<<20), "MB-peak-heap")
				b.ReportMetric(float64(peakLive.Load())/(1<<20), "MB-peak-live")
				b.ReportMetric(float64(selfWriteBytes(b)-w0)/float64(messages), "B-written/msg")
				b.ReportMetric(float64(dirSize(b, dir))/(1<<20), "MB-on-disk")
			}
		})
	}
}

// ballast is about size bytes of live heap in small objects with pointers,
// which every collection has to mark, like the daemon's parsed templates.
type ballastNode struct {
	next *ballastNode
	_    [56]byte // size of a small object
}

func ballast(size int) *ballastNode {
	var head *ballastNode
	for range size / 64 {
		head = &ballastNode{next: head}
	}
	return head
}

// snappy512 is the small profile until 2026-12-07.
var snappy512 = tuning{memTable: 2 << 20, numMemtables: 2, baseTable: 512 << 10, baseLevel: 8 << 20, tableMult: 1,
	l0Tables: 2, l0Stall: 6, blockCache: 8 << 20, indexCache: 4 << 20, compression: options.Snappy,
	vlogFile: 16 << 20, valueThreshold: 16 << 10}

func with(f func(*tuning)) tuning {
	t := small
	f(&t)
	return t
}

func selfWriteBytes(tb testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		tb.Skip("no /proc/self/io:", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// selfCPU is the CPU time (user and system) the process used so far:
// unlike wall time it hardly depends on the machine's load.
func selfCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirSize(tb testing.TB, dir string) int64 {
	var n int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}
