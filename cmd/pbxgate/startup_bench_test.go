package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// BenchmarkStartup measures what an installer notices: how long the real
// daemon takes from exec to ready, and its resident memory once idle, with an
// empty store and with a million small records (store profile "small").
//
//	go test ./cmd/pbxgate -run '^$' -bench Startup -benchtime 3x
func BenchmarkStartup(b *testing.B) {
	for _, records := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			dataDir := filepath.Join(b.TempDir(), "data")
			if records > 0 {
				fillStore(b, dataDir, records)
			}
			cfg := writeConfigB(b, dataDir)
			var rssKB, anonKB, readyNS int64
			for b.Loop() {
				start := time.Now()
				p, err := launch(cfg)
				if err != nil {
					b.Fatal(err)
				}
				select {
				case <-p.readyCh():
				case err := <-p.done:
					b.Fatalf("daemon exited: %v\n%s", err, p.log())
				case <-time.After(time.Minute):
					b.Fatalf("not ready within a minute:\n%s", p.log())
				}
				readyNS += time.Since(start).Nanoseconds()
				time.Sleep(2 * time.Second) // idle: let start-up garbage be collected
				rssKB += procStatusKB(b, p.cmd.Process.Pid, "VmRSS")
				anonKB += procStatusKB(b, p.cmd.Process.Pid, "RssAnon")
				p.cmd.Process.Signal(os.Interrupt)
				if err := <-p.done; err != nil {
					b.Fatalf("daemon exit: %v", err)
				}
			}
			b.ReportMetric(float64(readyNS)/float64(b.N)/1e6, "ms-to-ready")
			b.ReportMetric(float64(rssKB)/float64(b.N)/1024, "MB-idle-RSS")
			// RSS minus the store's memory-mapped files, which the kernel
			// drops under memory pressure: what the daemon itself holds.
			b.ReportMetric(float64(anonKB)/float64(b.N)/1024, "MB-idle-anon")
		})
	}
}

func writeConfigB(b *testing.B, dataDir string) string {
	b.Helper()
	cfg := fmt.Sprintf("data_dir: %s\nlog:\n  format: json\n  level: info\nhttp:\n  listen: 127.0.0.1:0\nmodems:\n  discover: false\n", dataDir)
	path := filepath.Join(b.TempDir(), "pbxgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

func fillStore(b *testing.B, dir string, n int) {
	b.Helper()
	s, err := store.Open(store.Options{Dir: dir, Profile: store.Small})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	err = s.WriteBatch(func(wb *store.Batch) error {
		for i := range n {
			key := fmt.Sprintf("bench/rec/%08d", i)
			val := fmt.Sprintf(`{"to":"+4917%08d","status":"delivered","at":"2026-11-21T10:00:00Z"}`, i)
			if err := wb.Set([]byte(key), []byte(val)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// procStatusKB reads a "kB" field of /proc/PID/status.
func procStatusKB(b *testing.B, pid int, field string) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
