package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// logSyncOf reads GET /v1/cluster/log from a running box.
func logSyncOf(dataDir string) (logSyncReply, error) {
	var rep logSyncReply
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := newControlClient(dataDir).call(ctx, "GET", "/v1/cluster/log", nil, &rep)
	return rep, err
}

// TestMessageLogAndSessionsAgreeAfterKillAndPartition is the cluster
// issue's (#23) "the message log and sessions agree on every box": three
// pbxgate processes, each with its own data directory and two simulated
// SIMs (ptys; the simulators run in the test process), clustered; box3
// runs in a network namespace made by the test. Customers write to SIMs
// of every box throughout; boxes 1 and 2 hand their chats to extension
// 201 at a PBX (SIP on loopback: sessions), whose answers go back out as
// SMS. box3 has no PBX (its namespace has no way to the test's loopback
// PBX): its inbound SMS are in the message log only, and it keeps the
// other boxes' sessions. box2 is killed with SIGKILL, customers go on
// writing to box1 and box3, box2 comes back with its data; then box3 is
// cut off for 20 s while customers write to all three, and healed. In
// the end every box holds the same message log (every inbound SMS and
// every answer, with the same status) and the same sessions with the same
// chat logs, and nothing is left unsent.
func TestMessageLogAndSessionsAgreeAfterKillAndPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons, a kill -9 and a 20 s partition; run without -short")
	}
	netns := makeNetns(t)
	const sims = 2
	work := t.TempDir()
	ports := []int{testkit.FreePort(t, "127.0.0.1"), testkit.FreePort(t, "127.0.0.1"), testkit.FreePort(t, "127.0.0.1")}
	listen := []string{
		net.JoinHostPort(netns.host.String(), strconv.Itoa(ports[0])),
		net.JoinHostPort(netns.host.String(), strconv.Itoa(ports[1])),
		net.JoinHostPort(netns.inside.String(), strconv.Itoa(ports[2])),
	}
	t.Setenv("PBXGATE_CLUSTER_PASSWORD", "a-route-secret-of-32-characters!")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// The PBX: extension 201 takes every chat of boxes 1 and 2.
	pbx := startPBXPeer(t)
	var chatsMu sync.Mutex
	chats := map[string][]string{} // contact → texts extension 201 received
	go func() {
		for {
			select {
			case c := <-pbx.inbox:
				chatsMu.Lock()
				chats[c.from] = append(chats[c.from], c.body)
				chatsMu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()

	type box struct {
		name, dataDir, cfgPath, sip string
		p                           *proc
		sim                         *modemsim.Network
		numbers                     []string
	}
	boxes := make([]*box, 3)
	for i := range boxes {
		b := &box{name: fmt.Sprintf("box%d", i+1), dataDir: filepath.Join(work, fmt.Sprintf("data%d", i+1))}
		b.sim = modemsim.NewNetwork(modemsim.WithLogger(testkit.Logger()))
		t.Cleanup(func() { b.sim.Close() })
		var devs, names []string
		for j := 1; j <= sims; j++ {
			number := fmt.Sprintf("+4915200%d%04d", i+1, j)
			m, err := b.sim.AddModem(ctx, modemsim.Config{Model: "EC25", Number: number, SendLatency: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			b.numbers = append(b.numbers, number)
			name := fmt.Sprintf("m%d", j)
			names = append(names, name)
			devs = append(devs, fmt.Sprintf("    - {name: %s, device: %s, delivery_reports: false}", name, m.Path()))
		}
		var peers []string
		for j, l := range listen {
			if j != i {
				peers = append(peers, strconv.Quote(l))
			}
		}
		sipSection := ""
		if i < 2 {
			b.sip = fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
			sipSection = fmt.Sprintf(`sip:
  enabled: true
  mode: peer
  transport: udp
  listen: %s
  domain: pbxgate.test
  peer_address: %s
  allow_from: [127.0.0.1]
  sessions:
    routes: [{channel: sms, to: "201"}]
`, b.sip, pbx.addr)
		}
		cfg := fmt.Sprintf(`data_dir: %s
log: {format: json, level: info}
http: {listen: "127.0.0.1:0"}
shutdown_timeout: 5s
modems:
  discover: false
  command_timeout: 3s
  devices:
%s
sms_channels:
  - {name: sms, modems: [%s]}
%scluster:
  name: site
  node: %s
  listen: %q
  peers: [%s]
  user: pbxgate
`, b.dataDir, strings.Join(devs, "\n"), strings.Join(names, ", "), sipSection, b.name, listen[i], strings.Join(peers, ", "))
		b.cfgPath = filepath.Join(work, b.name+".yaml")
		if err := os.WriteFile(b.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			b.p = startDaemonIn(t, netns.ns, b.cfgPath)
		} else {
			b.p = startDaemon(t, b.cfgPath)
		}
		boxes[i] = b
	}
	complete := func(b *box) {
		t.Helper()
		testkit.Eventually(t, b.name+" sees the whole cluster", func() bool {
			rep, code := clusterStatus(t, b.dataDir)
			return code == 0 && rep.Status != nil && rep.Status.Complete()
		})
	}
	for _, b := range boxes {
		complete(b)
	}

	// A customer writes to a box's SIM; on boxes 1 and 2 extension 201
	// gets the chat and answers through that box.
	inbound, answers := 0, 0
	sessions := map[string]bool{}
	write := func(b *box, sim int, customer, text string) {
		t.Helper()
		if err := b.sim.Inject(ctx, b.numbers[sim], modemsim.InboundSMS{From: customer, Text: text}); err != nil {
			t.Fatal(err)
		}
		inbound++
		if b.sip == "" {
			return
		}
		sessions[customer] = true
		deadline := time.Now().Add(30 * time.Second)
		for {
			chatsMu.Lock()
			got := strings.Join(chats[customer], "\n")
			chatsMu.Unlock()
			if strings.Contains(got, text) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("extension 201 did not get %q from %s through %s within 30 s; log:\n%s", text, customer, b.name, b.p.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code := pbx.send(t, b.sip, "201", customer, "Antwort: "+text); code/100 != 2 {
			t.Fatalf("%s answered extension 201's reply with %d", b.name, code)
		}
		answers++
	}
	// settled waits until a box's own inbound messages are in its log.
	settled := func(b *box, want int) {
		t.Helper()
		testkit.Eventually(t, fmt.Sprintf("%s records %d messages of its own", b.name, want), func() bool {
			rep, err := logSyncOf(b.dataDir)
			return err == nil && rep.Digest != nil && rep.Digest.MessagesByBox[b.name] >= want
		})
	}

	write(boxes[0], 0, "+4917011110001", "Guten Tag, ist mein Auto fertig?")
	write(boxes[0], 1, "+4917011110002", "Termin verschieben bitte")
	write(boxes[1], 0, "+4917022220001", "Rechnung erhalten?")
	write(boxes[1], 1, "+4917022220002", "Wo ist mein Paket?")
	write(boxes[2], 0, "+4917033330001", "Hallo box3")
	write(boxes[2], 1, "+4917033330002", "Noch eine Frage")
	settled(boxes[1], 4)

	// kill -9 of box2; customers go on writing to box1 and box3.
	if err := boxes[1].p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-boxes[1].p.done
	write(boxes[0], 0, "+4917011110003", "Während box2 weg ist")
	write(boxes[2], 0, "+4917033330003", "Auch während box2 weg ist")
	boxes[1].p = startDaemon(t, boxes[1].cfgPath)
	complete(boxes[1])

	// box3 is cut off for 20 s; customers write to all three boxes.
	netns.cut(t, true)
	cutAt := time.Now()
	write(boxes[2], 1, "+4917033330004", "Box3 allein")
	write(boxes[2], 0, "+4917033330001", "Hallo nochmal")
	write(boxes[0], 1, "+4917011110004", "Während box3 abgeschnitten ist")
	write(boxes[1], 0, "+4917022220003", "Auch an box2")
	settled(boxes[2], 2+1+2)
	alone, err := logSyncOf(boxes[2].dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if alone.Stats.Pending == 0 {
		t.Errorf("box3 cut off has nothing pending: %+v", alone.Stats)
	}
	time.Sleep(20*time.Second - time.Since(cutAt))
	netns.cut(t, false)
	healed := time.Now()
	complete(boxes[2])
	t.Logf("box3 back in the cluster %v after the heal", time.Since(healed).Round(100*time.Millisecond))
	defer func() {
		if !t.Failed() {
			return
		}
		t.Logf("healed at %s; box3 logged:", healed.UTC().Format(time.RFC3339Nano))
		for _, l := range strings.Split(boxes[2].p.log(), "\n") {
			if strings.Contains(l, "log-sync") || strings.Contains(l, "JetStream") {
				t.Log(l)
			}
		}
	}()

	// Every box: the same message log and sessions, nothing pending.
	wantMessages := inbound + answers
	var last []string
	for {
		reps := make([]logSyncReply, 3)
		ok := true
		last = last[:0]
		for i, b := range boxes {
			rep, err := logSyncOf(b.dataDir)
			if err != nil || rep.Digest == nil || rep.Stats == nil {
				ok = false
				last = append(last, fmt.Sprintf("%s: %v", b.name, err))
				continue
			}
			reps[i] = rep
			last = append(last, fmt.Sprintf("%s: %+v %+v", b.name, *rep.Stats, *rep.Digest))
			if rep.Stats.Pending != 0 || rep.Digest.Messages != wantMessages || rep.Digest.Sessions != len(sessions) {
				ok = false
			}
		}
		if ok && reps[0].Digest.Same(*reps[1].Digest) && reps[1].Digest.Same(*reps[2].Digest) {
			d := reps[0].Digest
			t.Logf("all three boxes agree %v after the heal: %d messages (by box %v), %d sessions (by box %v) with %d chat-log entries",
				time.Since(healed).Round(100*time.Millisecond), d.Messages, d.MessagesByBox, d.Sessions, d.SessionsByBox, d.Entries)
			// box3's inbound SMS and box1's and box2's inbound SMS and
			// answers, each recorded by the box that had them.
			if d.MessagesByBox["box3"] != 5 || d.MessagesByBox["box1"] != 2*4 || d.MessagesByBox["box2"] != 2*3 {
				t.Errorf("messages by box %v, want box1 8, box2 6, box3 5", d.MessagesByBox)
			}
			if d.SessionsByBox["box1"] != 4 || d.SessionsByBox["box2"] != 3 {
				t.Errorf("sessions by box %v, want box1 4, box2 3", d.SessionsByBox)
			}
			break
		}
		if time.Since(healed) > 2*time.Minute {
			t.Fatalf("the boxes do not agree on %d messages and %d sessions 2 min after the heal:\n%s", wantMessages, len(sessions), strings.Join(last, "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// logDifferences stops the daemons of dataDirs (they hold their stores)
// and returns up to max message-log entries that differ between them,
// as each box has it: what a failed "the boxes agree" shows.
func logDifferences(t *testing.T, procs []*proc, dataDirs []string, max int) string {
	t.Helper()
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	byBox := make([]map[string]string, len(dataDirs))
	ids := map[string]bool{}
	for i, dir := range dataDirs {
		byBox[i] = map[string]string{}
		st, err := store.Open(store.Options{Dir: dir, ReadOnly: true})
		if err != nil {
			return fmt.Sprintf("open %s: %v", dir, err)
		}
		err = st.View(func(txn *store.Txn) error {
			return msglog.EachTxn(txn, func(e msglog.Entry) error {
				b, err := json.Marshal(e)
				byBox[i][e.ID] = string(b)
				ids[e.ID] = true
				return err
			})
		})
		_ = st.Close()
		if err != nil {
			return fmt.Sprintf("read %s: %v", dir, err)
		}
	}
	var out []string
	for id := range ids {
		same := true
		for i := 1; i < len(byBox); i++ {
			if byBox[i][id] != byBox[0][id] {
				same = false
			}
		}
		if same {
			continue
		}
		for i := range byBox {
			out = append(out, fmt.Sprintf("  %s: %s", filepath.Base(dataDirs[i]), byBox[i][id]))
		}
		if len(out) >= max*len(byBox) {
			break
		}
	}
	return strings.Join(out, "\n")
}
