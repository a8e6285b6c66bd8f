package testkit

import (
	"net"
	"strconv"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/store"
)

func TestStoreSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	st := StoreAt(t, dir)
	if err := st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, "k", 42) }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = StoreAt(t, dir)
	defer st.Close()
	var v int
	if err := st.View(func(txn *store.Txn) error { return store.GetJSON(txn, "k", &v) }); err != nil || v != 42 {
		t.Fatalf("after reopen: %d, %v", v, err)
	}
}

func TestFreePortIsFreeOnLoopback(t *testing.T) {
	port := FreePort(t, "127.0.0.1")
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d not free for TCP: %v", port, err)
	}
	l.Close()
	u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d not free for UDP: %v", port, err)
	}
	u.Close()
}

func TestEventuallyReturnsOnceTrue(t *testing.T) {
	n := 0
	Eventually(t, "three checks", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("checked %d times", n)
	}
}
