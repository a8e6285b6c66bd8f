package pbx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/diskguard"
	"github.com/pbxgate/pbxgate/gateway/diskguard/diskguardtest"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// While the data disk is below min_free_space, an extension's MESSAGE
// gets a final 503 Service Unavailable with Retry-After (RFC 3261
// §21.5.4, §21.4 Warning; RFC 3428 §7: a MESSAGE the UAS does not accept
// gets a final error response) and nothing of it is stored or sent; when
// space returns the next MESSAGE is taken (202, RFC 3428 §7). The disk is
// a real small file system filled by another file, the guard the
// daemon's (gateway/diskguard), the store Badger on that disk, the client
// a UDP socket on loopback.
func TestMessageHeldWhileDiskLow(t *testing.T) {
	fs := diskguardtest.SmallFS(t, 128<<20)
	dir := filepath.Join(fs, "data")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	guard, err := diskguard.New(diskguard.Config{Dir: dir, MinFree: 48 << 20, WriteFloor: 16 << 20, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: dir, Logger: testLogger(), SyncWrites: true, Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g := peerGateway(t)
	out := &smsOut{ids: map[string]int{}}
	mgr, err := session.New(session.Config{Store: st, Deliverer: g, Logger: testLogger(), DefaultChannel: "sms",
		Channels: []session.Channel{{Name: "sms", Kind: message.SMS, Sender: out, Route: session.Target{Kind: session.ToExtension, ID: "201"}}}})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSessions{Sessions: mgr}
	g.SetSessions(cs)
	g.HoldWhen(guard)
	gw := g.Addr().String()
	u := newRawUA(t)

	if res := u.message(gw, "disk-1@pbx", 1, "fd1", "d1", "Guten Tag"); statusOf(res) != "202 Accepted" {
		t.Fatalf("with room on the disk: %q, want 202 Accepted\n%s", statusOf(res), res)
	}

	filler := diskguardtest.Fill(t, fs, 32<<20)
	if s, err := guard.Check(); err != nil || !s.Low || s.Full {
		t.Fatalf("after filling: %+v (%v); want low, not full", s, err)
	}
	res := u.message(gw, "disk-2@pbx", 1, "fd2", "d2", "Ihre Bestellung ist da")
	if statusOf(res) != "503 Service Unavailable" || !strings.Contains(res, "\r\nRetry-After: 60\r\n") {
		t.Fatalf("disk low: answered\n%s\nwant 503 with Retry-After: 60", res)
	}
	if !strings.Contains(res, "Warning: 399") || !strings.Contains(res, "disk almost full") || !strings.Contains(res, dir) {
		t.Fatalf("the 503 does not say why (Warning with the free space and the directory):\n%s", res)
	}
	if n := cs.calls.Load(); n != 1 {
		t.Fatalf("sessions were asked %d times; the held MESSAGE must not reach them (want 1)", n)
	}
	if n, _ := out.counts(); n != 1 {
		t.Fatalf("%d SMS handed to the channel; want only the first", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if s, err := guard.Check(); err != nil || s.Low {
		t.Fatalf("after freeing: %+v (%v); want not low", s, err)
	}
	// The PBX sends the held message again (a new transaction).
	if res := u.message(gw, "disk-2@pbx", 2, "fd2", "d3", "Ihre Bestellung ist da"); statusOf(res) != "202 Accepted" {
		t.Fatalf("space returned: %q, want 202 Accepted\n%s", statusOf(res), res)
	}
	if n, dup := out.counts(); n != 2 || dup {
		t.Fatalf("%d SMS handed to the channel (duplicates: %v); want 2, each once", n, dup)
	}
}
