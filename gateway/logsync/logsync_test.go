package logsync_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/logsync"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// proxy forwards TCP connections on loopback to one box's route port; a
// cut closes its connections and refuses new ones: a network partition
// between two boxes without leaving loopback.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut(true) })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}

func (p *proxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// accept takes every chat (the extensions of this test are online).
type accept struct{}

func (accept) DeliverChat(context.Context, string, session.Chat) error { return nil }

// box is one pbxgate box as far as the message log and sessions go: its
// own Badger store, message log, session manager and cluster member.
type box struct {
	name   string
	dir    string
	opts   cluster.Options
	st     *store.Store
	ml     *msglog.Log
	ses    *session.Manager
	node   *cluster.Node
	sync   *logsync.Sync
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *box) start(t *testing.T) {
	t.Helper()
	n, err := cluster.Start(context.Background(), b.opts)
	if err != nil {
		t.Fatal(err)
	}
	b.node = n
	b.sync = logsync.New(n, b.st, testkit.Logger().With("box", b.name))
	if b.ml, err = msglog.New(msglog.Config{Store: b.st, Replicator: b.sync}); err != nil {
		t.Fatal(err)
	}
	sender := session.SenderFunc(func(context.Context, message.Outbound) error { return nil })
	if b.ses, err = session.New(session.Config{Store: b.st, Deliverer: accept{}, Replicator: b.sync,
		Channels: []session.Channel{{Name: "sms", Kind: message.SMS, Sender: sender,
			Route: session.Target{Kind: session.ToExtension, ID: "201"}}}}); err != nil {
		t.Fatal(err)
	}
	b.sync.Attach(b.ml)
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func() { _ = b.sync.Run(ctx); close(b.done) }()
}

// stop ends the box's replication and its cluster member (the store
// stays: the box is "down", its data is not lost).
func (b *box) stop() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	<-b.done
	_ = b.node.Close()
	b.cancel = nil
}

func (b *box) digest(t *testing.T) logsync.Digest {
	t.Helper()
	d, err := logsync.DigestOf(b.st)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (b *box) stats(t *testing.T) logsync.Stats {
	t.Helper()
	s, err := b.sync.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startCluster starts three boxes whose routes run through proxies (box
// i dials box j through proxies[i][j]).
func startCluster(t *testing.T) ([]*box, [][]*proxy) {
	t.Helper()
	const n = 3
	listen := make([]string, n)
	for i := range listen {
		listen[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(t, "127.0.0.1")))
	}
	proxies := make([][]*proxy, n)
	for i := range proxies {
		proxies[i] = make([]*proxy, n)
		for j := range proxies[i] {
			if i != j {
				proxies[i][j] = newProxy(t, listen[j])
			}
		}
	}
	dir := t.TempDir()
	boxes := make([]*box, n)
	for i := range boxes {
		var peers []string
		for j := range n {
			if j != i {
				peers = append(peers, proxies[i][j].addr())
			}
		}
		// The address a box tells the others (gossip) is a loopback port
		// nobody listens on, so the boxes only ever meet through the
		// proxies and a cut proxy is a partition.
		nowhere := net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(t, "127.0.0.1")))
		b := &box{name: fmt.Sprintf("box%d", i+1), dir: filepath.Join(dir, strconv.Itoa(i))}
		b.opts = cluster.Options{Name: "site", Node: b.name, Listen: listen[i], Advertise: nowhere, Peers: peers,
			User: "pbxgate", Password: "a-route-secret-of-32-characters!",
			Dir: filepath.Join(b.dir, "cluster"), Logger: testkit.Logger().With("box", b.name)}
		b.st = testkit.StoreAt(t, filepath.Join(b.dir, "data"))
		b.start(t)
		t.Cleanup(b.stop)
		boxes[i] = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, b := range boxes {
		if _, err := b.node.WaitComplete(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return boxes, proxies
}

// isolate cuts (or heals) every route of box k.
func isolate(proxies [][]*proxy, k int, down bool) {
	for i := range proxies {
		for j := range proxies[i] {
			if i != j && (i == k || j == k) {
				proxies[i][j].cut(down)
			}
		}
	}
}

// traffic is what a box does for one customer: an inbound SMS (message
// log and session), the extension's answer (a session entry and, as the
// SMS pool would, a message-log entry) and the answer's status events.
func traffic(t *testing.T, b *box, customer, text string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	in := message.Inbound{ID: b.name + "-in-" + customer + "-" + text, Kind: message.SMS, Channel: "sms", Receiver: b.name + "-sim1",
		From: customer, Text: text, At: at}
	if err := b.ml.Inbound(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := b.ses.Inbound(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := b.ses.FromExtension(ctx, "201", customer, "Antwort auf "+text); err != nil {
		t.Fatal(err)
	}
	out := message.Outbound{ID: b.name + "-out-" + customer + "-" + text, Channel: "sms", To: customer, Text: "Antwort auf " + text, Ref: "session/x"}
	if err := b.ml.Outbound(ctx, message.SMS, out, ""); err != nil {
		t.Fatal(err)
	}
	for _, st := range []message.Status{message.Sent, message.Delivered} {
		if err := b.ml.Status(ctx, message.StatusEvent{ID: out.ID, Status: st, Sender: b.name + "-sim1"}); err != nil {
			t.Fatal(err)
		}
	}
}

// agree waits until every box has the same message log and sessions,
// with want messages and sessions, and nothing left to send.
func agree(t *testing.T, boxes []*box, wantMessages, wantSessions int) logsync.Digest {
	t.Helper()
	var d logsync.Digest
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		d = boxes[0].digest(t)
		var all []string
		for _, b := range boxes {
			db := b.digest(t)
			all = append(all, fmt.Sprintf("%s %+v pending %d", b.name, db, b.stats(t).Pending))
			if !db.Same(d) || b.stats(t).Pending != 0 {
				ok = false
			}
		}
		if ok && d.Messages == wantMessages && d.Sessions == wantSessions {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("the boxes do not agree on %d messages and %d sessions within 60 s: %v", wantMessages, wantSessions, all)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLogAndSessionsAgreeAfterPartitionAndRestart: three boxes, each
// with its own Badger store and cluster member, record customers'
// messages, sessions and answers; every box ends with the same message
// log and sessions. box3 is cut off (its routes through the proxies are
// closed) while box1 and box3 go on recording: box3 keeps its changes in
// its outbox; after the heal the boxes agree again, and each box read
// only what it had missed (its durable consumer resumed; nothing was
// pushed again in full). Then box2's member stops, box1 and box3 go on,
// box2 comes back and catches up the same way.
func TestLogAndSessionsAgreeAfterPartitionAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("three cluster members and a partition")
	}
	boxes, proxies := startCluster(t)
	at := time.Now()
	for i, b := range boxes {
		traffic(t, b, fmt.Sprintf("+49170000%d", i+1), "Hallo", at)
	}
	// Per box: 2 message-log entries and 1 session (with 2 entries).
	d := agree(t, boxes, 6, 3)
	if d.Entries != 6 {
		t.Errorf("chat-log entries: %d, want 6", d.Entries)
	}
	// Every box holds its own session and the others' replicas; its
	// manager works only its own.
	for _, b := range boxes {
		open, err := b.ses.List(true, 0)
		if err != nil || len(open) != 1 || open[0].Box != b.name {
			t.Errorf("%s works sessions %+v (%v), want only its own", b.name, open, err)
		}
		all, err := b.ses.List(false, 0)
		if err != nil || len(all) != 3 {
			t.Errorf("%s stores %d sessions (%v), want 3", b.name, len(all), err)
		}
	}

	// The partition.
	before := make([]logsync.Stats, 3)
	for i, b := range boxes {
		before[i] = b.stats(t)
	}
	isolate(proxies, 2, true)
	testkit.Eventually(t, "box3 alone", func() bool {
		st, err := boxes[2].node.Status()
		return err == nil && st.Connected() == 1
	})
	traffic(t, boxes[2], "+491700003", "Noch da?", at.Add(time.Second)) // box3's existing session goes on
	traffic(t, boxes[2], "+491700033", "Neu", at.Add(time.Second))
	traffic(t, boxes[0], "+491700011", "Waehrenddessen", at.Add(time.Second))
	// The majority agrees among itself; box3 keeps its changes.
	testkit.Eventually(t, "box1 and box2 agree without box3", func() bool {
		return boxes[0].digest(t).Same(boxes[1].digest(t)) && boxes[0].stats(t).Pending == 0
	})
	if p := boxes[2].stats(t).Pending; p == 0 {
		t.Fatal("box3 has nothing pending while cut off")
	}
	if d3 := boxes[2].digest(t); d3.Messages != 6+4 {
		t.Errorf("box3 alone has %d messages, want its own 4 new ones on top of 6", d3.Messages)
	}
	isolate(proxies, 2, false)
	d = agree(t, boxes, 6+6, 3+2)
	after := make([]logsync.Stats, 3)
	for i, b := range boxes {
		after[i] = b.stats(t)
	}
	pub := func(i int) uint64 { return after[i].Published - before[i].Published }
	rcv := func(i int) uint64 { return after[i].Received - before[i].Received }
	t.Logf("partition: published %d/%d/%d, received %d/%d/%d", pub(0), pub(1), pub(2), rcv(0), rcv(1), rcv(2))
	// Each box read exactly what the others published since: box3 the
	// majority's changes made while it was away, box1 box3's backlog.
	if rcv(2) != pub(0)+pub(1) || rcv(0) != pub(1)+pub(2) || rcv(1) != pub(0)+pub(2) {
		t.Errorf("after the heal the boxes read more (or less) than was published meanwhile: published %d/%d/%d, received %d/%d/%d",
			pub(0), pub(1), pub(2), rcv(0), rcv(1), rcv(2))
	}
	if pub(2) == 0 || pub(0) == 0 {
		t.Errorf("published during the partition: box1 %d, box3 %d", pub(0), pub(2))
	}

	// box2's member goes away and comes back with its data.
	for i, b := range boxes {
		before[i] = b.stats(t)
	}
	b2 := boxes[1]
	b2.stop()
	traffic(t, boxes[0], "+491700012", "Ohne box2", at.Add(2*time.Second))
	traffic(t, boxes[2], "+491700032", "Ohne box2", at.Add(2*time.Second))
	testkit.Eventually(t, "box1 and box3 agree without box2", func() bool {
		return boxes[0].digest(t).Same(boxes[2].digest(t)) && boxes[0].stats(t).Pending == 0 && boxes[2].stats(t).Pending == 0
	})
	pubWhileAway := (boxes[0].stats(t).Published - before[0].Published) + (boxes[2].stats(t).Published - before[2].Published)
	// The restarted box: its member, message log and sessions built anew
	// on the same store and JetStream directory, as after a restart.
	b2.start(t)
	d = agree(t, boxes, 6+6+4, 3+2+2)
	st2 := b2.stats(t)
	t.Logf("box2 back: read %d changes; %d were published while it was away", st2.Received, pubWhileAway)
	if st2.Received != pubWhileAway {
		t.Errorf("box2 read %d changes after its restart, want the %d published while it was away", st2.Received, pubWhileAway)
	}
	if d.MessagesByBox["box1"] != 6 || d.MessagesByBox["box2"] != 2 || d.MessagesByBox["box3"] != 8 {
		t.Errorf("messages by box %v, want box1 6, box2 2, box3 8", d.MessagesByBox)
	}
	t.Logf("final: %+v", d)

	// box2 dies between fetching changes and storing them (kill -9): the
	// changes it fetched come again, although after its restart it first
	// stores and acknowledges later ones (an acknowledgement of a later
	// change must not cover them). The "dead" box's fetch is made here on
	// its durable consumer and never acknowledged.
	b2.stop()
	traffic(t, boxes[0], "+491700014", "Vor dem Absturz", at.Add(3*time.Second))
	testkit.Eventually(t, "box1 published", func() bool { return boxes[0].stats(t).Pending == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := boxes[0].node.JetStream().Stream(ctx, logsync.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.Consumer(ctx, "logsync_box2")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	for range batch.Messages() {
		fetched++
	}
	if fetched == 0 {
		t.Fatal("box2's consumer had nothing to fetch after box1's changes")
	}
	traffic(t, boxes[2], "+491700034", "Nach dem Absturz", at.Add(3*time.Second))
	b2.start(t)
	d = agree(t, boxes, 6+6+4+4, 3+2+2+2)
	t.Logf("box2 back after dying with %d changes fetched and not stored: %+v", fetched, d)
}
