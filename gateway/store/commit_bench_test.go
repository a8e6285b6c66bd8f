package store

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// BenchmarkSyncedCommit: what one synced state change of one outbound
// message costs the store at least — one transaction writing one ~1 KiB
// record (the size of a campaign recipient or a pool record) with
// sync_writes on, from 2 writers at once (two SIMs' workers; their syncs
// are grouped as the daemon's are). It bounds issue 14's CPU per SMS from
// below: a sent SMS needs at least two such changes that must be on disk
// (sending before AT+CMGS, then sent), however its records are laid out.
// cpu-µs/commit is getrusage of the whole test process (user + system:
// Badger, the group sync and fdatasync), divided by the commits.
//
//	go test ./gateway/store -run '^$' -bench SyncedCommit -benchtime 20000x
func BenchmarkSyncedCommit(b *testing.B) {
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), Profile: Small, SyncWrites: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			val := make([]byte, 1024)
			for i := range val {
				val[i] = byte('a' + i%26)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, fsyncs0 := selfCPU(b), s.Fsyncs()
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < b.N; i += writers {
						key := []byte("bench/rec/" + strconv.Itoa(i%4096))
						if err := s.Update(func(txn *Txn) error { return txn.Set(key, val) }); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			cpu := selfCPU(b) - cpu0
			b.StopTimer()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/commit")
			b.ReportMetric(float64(s.Fsyncs()-fsyncs0)/float64(b.N), "fsyncs/commit")
		})
	}
}
