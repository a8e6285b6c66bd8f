package pbx

import (
	"strings"
	"testing"
	"time"
)

// waitWithin polls cond until it holds or within passes.
func waitWithin(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond) // polling real processes; the bound guards
	}
	return time.Since(start)
}

// reachable: a customer-bound MESSAGE through Kamailio reaches the gateway
// (Kamailio answers 480 while pbxgate is not registered).
func reachable(p *phone, k *kamailio) func() bool {
	return func() bool {
		res, err := p.send(k.addr, customer, "reachable?")
		return err == nil && res.StatusCode == 202
	}
}

// A Kamailio restart loses its location table (usrloc db_mode 0): the
// keepalive OPTIONS to pbxgate's own address of record (routed back to it
// while registered, RFC 3261 §11) then gets 404 and pbxgate registers
// again at once — long before the refresh at 3/4 of the 60 s expiry. The
// issue asks for "reachable ≤ 30 s after a registrar restart".
func TestRegistrarRestartRecovered(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.1")
	k := startKamailioOn(t, port, false)
	c := gatewayCfg(k, "udp")
	c.Keepalive = time.Second
	g := runGateway(t, c)
	waitState(t, g, "registered")
	f := &fromExt{got: make(chan string, 100)}
	g.SetSessions(f)
	p := newPhone(t, "201", "127.0.0.1", k.addr)
	if !reachable(p, k)() {
		t.Fatal("not reachable before the restart")
	}
	waitWithin(t, 10*time.Second, "a keepalive routed back through Kamailio", g.routesBack.Load)

	k.stop()
	k2 := startKamailioOn(t, port, false)
	took := waitWithin(t, 30*time.Second, "reachable after the registrar restart", reachable(p, k2))
	t.Logf("reachable %s after Kamailio answered again (keepalive 1s)", took.Round(10*time.Millisecond))
	// The keepalive found the registration forgotten (404) or, when a
	// probe fell into the restart, unanswered.
	if n := counter(g.m.lost.WithLabelValues("forgotten")) + counter(g.m.lost.WithLabelValues("unanswered")); n < 1 {
		t.Fatalf("registrations found lost %v, want the keepalive to have noticed", n)
	}
	if r := g.Registration(); r.State != "registered" {
		t.Fatalf("registration %+v", r)
	}
}

// The registrar forgets pbxgate's contact while it stays up (here: all of
// user gw's bindings removed with "Contact: *" and Expires 0, RFC 3261
// §10.2.2): the next keepalive gets 404 and pbxgate registers again.
func TestRegistrarForgetsContact(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	c := gatewayCfg(k, "udp")
	c.Keepalive = time.Second
	g := runGateway(t, c)
	waitState(t, g, "registered")
	g.SetSessions(&fromExt{got: make(chan string, 100)})
	p := newPhone(t, "201", "127.0.0.1", k.addr)
	waitWithin(t, 10*time.Second, "a keepalive routed back through Kamailio", g.routesBack.Load)

	admin := newPhone(t, "gw", "127.0.0.1", k.addr)
	admin.removeAllBindings()
	if res, err := p.send(k.addr, customer, "gone?"); err != nil || res.StatusCode != 480 {
		t.Fatalf("after the bindings were removed: %s, want 480", codeOf(res, err))
	}
	took := waitWithin(t, 30*time.Second, "reachable again", reachable(p, k))
	t.Logf("reachable %s after the registrar forgot the contact (keepalive 1s)", took.Round(10*time.Millisecond))
	if n := counter(g.m.lost.WithLabelValues("forgotten")); n != 1 {
		t.Fatalf("registrations found forgotten %v, want 1", n)
	}
}

// A registrar that is down for longer than the keepalive: the OPTIONS go
// unanswered, the registration is marked failed, and pbxgate registers
// again within a keepalive interval of the registrar's return.
func TestRegistrarOutageRecovered(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.1")
	k := startKamailioOn(t, port, false)
	c := gatewayCfg(k, "udp")
	c.Keepalive = time.Second
	g := runGateway(t, c)
	waitState(t, g, "registered")
	f := &fromExt{got: make(chan string, 100)}
	g.SetSessions(f)
	p := newPhone(t, "201", "127.0.0.1", k.addr)

	k.stop()
	r := waitState(t, g, "failed")
	if !strings.Contains(r.LastError, "no response") {
		t.Fatalf("while the registrar is down: %+v, want no response", r)
	}
	if n := counter(g.m.lost.WithLabelValues("unanswered")); n < 1 {
		t.Fatalf("registrations found unanswered %v, want the keepalive to have noticed", n)
	}
	time.Sleep(3 * time.Second) // an outage longer than the backoff's first steps
	k2 := startKamailioOn(t, port, false)
	took := waitWithin(t, 30*time.Second, "reachable after the outage", reachable(p, k2))
	t.Logf("reachable %s after Kamailio answered again (keepalive 1s)", took.Round(10*time.Millisecond))
}

// Without a keepalive the gateway only notices at its refresh: Kamailio
// restarted keeps answering 480 for customers meanwhile. This is the
// behaviour the keepalive fixes, kept as the control for the tests above.
func TestRegistrarRestartWithoutKeepaliveStaysLost(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.1")
	k := startKamailioOn(t, port, false)
	c := gatewayCfg(k, "udp") // Keepalive 0: off
	g := runGateway(t, c)
	waitState(t, g, "registered")
	g.SetSessions(&fromExt{got: make(chan string, 100)})
	p := newPhone(t, "201", "127.0.0.1", k.addr)
	k.stop()
	k2 := startKamailioOn(t, port, false)
	time.Sleep(3 * time.Second) // what the keepalive tests recover within
	res, err := p.send(k2.addr, customer, "lost?")
	if err != nil || res.StatusCode != 480 {
		t.Fatalf("without keepalive after a restart: %s, want 480 (pbxgate not registered until its refresh)", codeOf(res, err))
	}
}
