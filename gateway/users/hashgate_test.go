package users

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// eventually polls cond (a generous bound for "soon", not a timing claim).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// hold occupies all of g's slots until the returned release is called.
func hold(t *testing.T, g *HashGate) (release func()) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	n := g.Stats().Limit
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Do(context.Background(), func() { <-stop }); err != nil {
				t.Error(err)
			}
		}()
	}
	eventually(t, "slots held", func() bool { return g.Stats().InFlight == n })
	return func() { close(stop); wg.Wait() }
}

func newGated(t *testing.T, g *HashGate) *Service {
	t.Helper()
	s, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return New(s, WithParams(fast), WithHashGate(g))
}

// Eight logins at once (known and unknown users, right and wrong
// passwords) queue behind the gate: never more hashes at once than its
// limit, and all are answered.
func TestHashGateBoundsConcurrentLogins(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			g := NewHashGate(limit, DefaultHashQueue)
			svc := newGated(t, g)
			ctx := context.Background()
			if err := svc.Add(ctx, "alice", "correct horse", RoleAdmin); err != nil {
				t.Fatal(err)
			}
			release := hold(t, g)
			errs := make(chan error, 8)
			for i := range 8 {
				go func() {
					var err error
					switch i % 3 {
					case 0:
						_, err = svc.Authenticate(ctx, "alice", "correct horse")
					case 1:
						if _, err = svc.Authenticate(ctx, "alice", "wrong horse!"); errors.Is(err, ErrBadCredentials) {
							err = nil
						}
					default:
						if _, err = svc.Authenticate(ctx, fmt.Sprintf("nobody%d", i), "correct horse"); errors.Is(err, ErrBadCredentials) {
							err = nil
						}
					}
					errs <- err
				}()
			}
			// All eight wait: the held slots are the only hashes running.
			eventually(t, "8 logins queued", func() bool { return g.Stats().Waiting == 8 })
			if st := g.Stats(); st.InFlight != limit {
				t.Fatalf("in flight %d with %d queued, limit %d", st.InFlight, st.Waiting, limit)
			}
			release()
			for range 8 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			st := g.Stats()
			if st.Peak != limit || st.InFlight != 0 || st.Waiting != 0 || st.Rejected != 0 {
				t.Fatalf("stats after: %+v, want peak %d and nothing left", st, limit)
			}
		})
	}
}

// A full queue refuses at once with ErrBusy (also for unknown users, so
// spraying names cannot queue more), and a caller that gives up while
// waiting leaves the queue.
func TestHashGateRefusesWhenQueueFull(t *testing.T) {
	t.Parallel()
	g := NewHashGate(1, 2)
	svc := newGated(t, g)
	ctx := context.Background()
	if err := svc.Add(ctx, "alice", "correct horse", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	release := hold(t, g)
	waitCtx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() { _, err := svc.Authenticate(waitCtx, "alice", "correct horse"); gaveUp <- err }()
	queued := make(chan error, 1)
	go func() { _, err := svc.Authenticate(ctx, "alice", "correct horse"); queued <- err }()
	eventually(t, "2 queued", func() bool { return g.Stats().Waiting == 2 })

	for _, name := range []string{"alice", "nobody"} {
		if _, err := svc.Authenticate(ctx, name, "correct horse"); !errors.Is(err, ErrBusy) {
			t.Fatalf("%s with a full queue: %v, want ErrBusy", name, err)
		}
	}
	if err := svc.SetPassword(ctx, "alice", "another password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("SetPassword with a full queue: %v", err)
	}
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	eventually(t, "the cancelled caller left the queue", func() bool { return g.Stats().Waiting == 1 })
	release()
	if err := <-queued; err != nil {
		t.Fatalf("queued login: %v", err)
	}
	if st := g.Stats(); st.Rejected != 3 || st.Peak != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// OWASP Password Storage Cheat Sheet, argon2id: "use one of the following
// configuration settings": m=47104 (46 MiB) t=1, m=19456 (19 MiB) t=2,
// m=12288 (12 MiB) t=3, m=9216 (9 MiB) t=4, m=7168 (7 MiB) t=5, each p=1.
// The default must meet one of them, and the gate must keep the memory at
// one or two hashes.
func TestDefaultsMeetOWASPAndBoundMemory(t *testing.T) {
	if !DefaultParams.MeetsOWASP() || DefaultParams.Threads < 1 {
		t.Fatalf("DefaultParams %+v below OWASP's argon2id minimums", DefaultParams)
	}
	for _, c := range []struct {
		p    Params
		want bool
	}{
		{Params{47104, 1, 1}, true}, {Params{19456, 2, 1}, true}, {Params{12288, 3, 1}, true},
		{Params{9216, 4, 1}, true}, {Params{7168, 5, 1}, true}, {Params{65536, 3, 4}, true},
		{Params{19456, 1, 1}, false}, {Params{12288, 2, 1}, false}, {Params{9216, 3, 1}, false},
		{Params{7168, 4, 1}, false}, {Params{7167, 5, 1}, false}, {Params{4096, 10, 1}, false},
	} {
		if got := c.p.MeetsOWASP(); got != c.want {
			t.Errorf("%+v.MeetsOWASP() = %v, want %v", c.p, got, c.want)
		}
	}
	if DefaultMaxHashes < 1 || DefaultMaxHashes > 2 {
		t.Fatalf("DefaultMaxHashes %d", DefaultMaxHashes)
	}
	s, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := New(s, WithParams(fast)).HashStats(); st.Limit != DefaultMaxHashes || st.QueueLimit != DefaultHashQueue {
		t.Fatalf("default gate %+v", st)
	}
}

// A stored or provisioned hash names its own cost: one asking for more
// than a verification may take (here 4 GiB) never runs.
func TestHashParametersBounded(t *testing.T) {
	t.Parallel()
	huge := "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	if err := CheckHash(huge); !errors.Is(err, ErrBadHash) {
		t.Fatalf("CheckHash(4 GiB): %v", err)
	}
	if verifyPassword(huge, "x") {
		t.Fatal("a 4 GiB hash verified")
	}
	ok := hashPassword(DefaultParams, "correct horse")
	if err := CheckHash(ok); err != nil || !verifyPassword(ok, "correct horse") {
		t.Fatalf("default hash: %v", err)
	}
}
