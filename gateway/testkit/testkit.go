// Package testkit holds the helpers pbxgate's tests share: a logger, a
// store on disk in the test's temporary directory, a free loopback port
// and waiting for a condition. Only tests import it.
package testkit

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// LogEnv, when set, makes Logger print debug output to stderr.
const LogEnv = "PBXGATE_TEST_LOG"

// WaitLimit bounds Eventually: a guard against a hung test, never a
// speed assertion.
const WaitLimit = 30 * time.Second

// Logger discards output unless PBXGATE_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv(LogEnv) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Store opens a store in a new temporary directory, closed when the test
// ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	st := StoreAt(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	return st
}

// StoreAt opens the store in dir; the caller closes it (to reopen it, as a
// restart).
func StoreAt(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir, Logger: Logger()})
	if err != nil {
		t.Fatalf("open store in %s: %v", dir, err)
	}
	return st
}

// FreePort returns a port on loopback ip ("127.0.0.1", "::1") that is
// free for both TCP and UDP right now.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatalf("no port free for both TCP and UDP on %s", ip)
	return 0
}

// Eventually waits until cond holds, checking every few milliseconds, and
// fails the test after WaitLimit.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", WaitLimit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
