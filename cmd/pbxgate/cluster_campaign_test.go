package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/clusterwork"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// clusterTestNet holds the point-to-point networks (/30) of the veth
// pairs between this machine's root namespace and the namespaces the
// partition tests make: each exists only while its test runs and only on
// this machine. A test process takes the /30 of its pid, so two test runs
// at once (developers' worktrees) do not put the same address on two
// interfaces.
const clusterTestNet = "10.231.0.0/16"

// testNet is the /30 of test process pid within clusterTestNet.
func testNet(pid int) netip.Prefix {
	base := netip.MustParsePrefix(clusterTestNet).Addr().As4()
	i := uint32(pid%(1<<14)) * 4
	base[2], base[3] = byte(i>>8), byte(i)
	return netip.PrefixFrom(netip.AddrFrom4(base), 30)
}

// sweepStaleNetns deletes the namespaces and host links of earlier test
// processes that were killed before their cleanup ran (their pid is gone):
// a left-over link keeps its address and routes.
func sweepStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		suffix, ok := strings.CutPrefix(f[0], "pbxgt")
		pid, err := strconv.Atoi(suffix)
		if !ok || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + suffix); err == nil || pid == os.Getpid() {
			continue
		}
		_ = ipCmd("link", "del", "pgh"+suffix)
		_ = ipCmd("netns", "del", f[0])
	}
}

// netnsLink is a network namespace with a veth pair to the root
// namespace, made by the test (root only).
type netnsLink struct {
	ns, hostIf, nsIf string
	host, inside     netip.Addr
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// makeNetns makes the namespace or skips the test with the reason.
func makeNetns(t *testing.T) *netnsLink {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the partition needs a network namespace: run as root (ip netns)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the partition needs iproute2's ip command")
	}
	sweepStaleNetns()
	pfx := testNet(os.Getpid())
	suffix := strconv.Itoa(os.Getpid())
	l := &netnsLink{ns: "pbxgt" + suffix, hostIf: "pgh" + suffix, nsIf: "pgn" + suffix,
		host: pfx.Addr().Next(), inside: pfx.Addr().Next().Next()}
	if err := ipCmd("netns", "add", l.ns); err != nil {
		t.Skipf("cannot make a network namespace here: %v", err)
	}
	t.Cleanup(func() {
		_ = ipCmd("link", "del", l.hostIf)
		_ = ipCmd("netns", "del", l.ns)
	})
	bits := strconv.Itoa(pfx.Bits())
	for _, args := range [][]string{
		{"link", "add", l.hostIf, "type", "veth", "peer", "name", l.nsIf},
		{"link", "set", l.nsIf, "netns", l.ns},
		{"addr", "add", l.host.String() + "/" + bits, "dev", l.hostIf},
		{"link", "set", l.hostIf, "up"},
		{"netns", "exec", l.ns, "ip", "addr", "add", l.inside.String() + "/" + bits, "dev", l.nsIf},
		{"netns", "exec", l.ns, "ip", "link", "set", l.nsIf, "up"},
		{"netns", "exec", l.ns, "ip", "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// cut takes the namespace's end of the link down (down=true) or up.
func (l *netnsLink) cut(t *testing.T, down bool) {
	t.Helper()
	state := "up"
	if down {
		state = "down"
	}
	if err := ipCmd("netns", "exec", l.ns, "ip", "link", "set", l.nsIf, state); err != nil {
		t.Fatal(err)
	}
}

// startDaemonIn starts pbxgate inside the namespace (ip netns exec
// execs pbxgate in the same process, so kill -9 reaches it).
func startDaemonIn(t *testing.T, ns, cfgPath string) *proc {
	t.Helper()
	return startDaemonWith(t, []string{"ip", "netns", "exec", ns}, cfgPath)
}

// sharedProgress runs pbxgate cluster campaign show --json on a box.
func sharedProgress(t *testing.T, dataDir, id string, detail bool) (clusterwork.Progress, error) {
	t.Helper()
	args := []string{"cluster", "campaign", "show", id, "--json", "--data", dataDir}
	if detail {
		args = append(args, "--detail")
	}
	out, stderr, code := runPbxgate(t, "", args...)
	var p clusterwork.Progress
	if code != 0 {
		return p, fmt.Errorf("exit %d: %s", code, stderr)
	}
	return p, json.Unmarshal([]byte(out), &p)
}

// TestSharedCampaignThreeBoxesKillAndPartition is the cluster issue's
// (#23) "done means" test: three pbxgate processes, each with its own
// data directory and simulated modems (4 SIMs each, on ptys; the
// simulators run in the test process so what they transmitted outlives a
// killed box), clustered; box3 runs in a network namespace made by the
// test. A 3,000-recipient campaign created on box1 goes out through all
// twelve SIMs. Mid-campaign box2 is killed with SIGKILL; its held work is
// taken over (measured: until no recipient is left "sending" by box2).
// box2 is started again, then box3 is cut off the network for 20 s and
// healed. On the simulators' wire every recipient is transmitted at most
// once, every recipient is final (sent, delivered or recorded unknown),
// a recipient recorded sent went out exactly once, only what box2's
// modems had when it died stays unknown (at most one per SIM: the rest it
// had pulled was taken over), every box reports the same counts, and
// every box holds the same message log and sessions.
func TestSharedCampaignThreeBoxesKillAndPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons, a kill -9 and a 20 s partition; run without -short")
	}
	netns := makeNetns(t)
	const (
		sims       = 4
		recipients = 3000
		text       = "Ihr Termin ist morgen um 9 Uhr"
	)
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

	type box struct {
		name, dataDir, cfgPath string
		p                      *proc
		sim                    *modemsim.Network
		modems                 []*modemsim.Modem
	}
	boxes := make([]*box, 3)
	for i := range boxes {
		b := &box{name: fmt.Sprintf("box%d", i+1), dataDir: filepath.Join(work, fmt.Sprintf("data%d", i+1))}
		b.sim = modemsim.NewNetwork(modemsim.WithLogger(testkit.Logger()))
		t.Cleanup(func() { b.sim.Close() })
		var devs, names []string
		for j := 1; j <= sims; j++ {
			m, err := b.sim.AddModem(ctx, modemsim.Config{Model: "EC25", Number: fmt.Sprintf("+4915200%d%04d", i+1, j),
				SendLatency: 250 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			b.modems = append(b.modems, m)
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
cluster:
  name: site
  node: %s
  listen: %q
  peers: [%s]
  user: pbxgate
`, b.dataDir, strings.Join(devs, "\n"), strings.Join(names, ", "), b.name, listen[i], strings.Join(peers, ", "))
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
	for _, b := range boxes {
		testkit.Eventually(t, b.name+" sees the whole cluster", func() bool {
			rep, code := clusterStatus(t, b.dataDir)
			return code == 0 && rep.Status != nil && rep.Status.Complete()
		})
	}

	// The campaign, created on box1.
	numbers := make([]string, recipients)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("+4917%08d", 10000000+i)
	}
	numFile := filepath.Join(work, "numbers.txt")
	if err := os.WriteFile(numFile, []byte(strings.Join(numbers, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runPbxgate(t, "", "cluster", "campaign", "create", "--name", "Termine", "--channel", "sms",
		"--text", text, "--numbers", numFile, "--json", "--data", boxes[0].dataDir)
	if code != 0 {
		t.Fatalf("create: %s %s", out, stderr)
	}
	var created clusterwork.Campaign
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	// progress is a box's view; while a box's bucket changes leader it
	// may not answer (ok false: ask again).
	progressOK := func(b *box) (clusterwork.Progress, bool) {
		p, err := sharedProgress(t, b.dataDir, created.ID, false)
		if err != nil {
			t.Logf("%s: %v", b.name, err)
			return p, false
		}
		return p, true
	}
	progress := func(b *box) clusterwork.Progress {
		p, _ := progressOK(b)
		return p
	}
	waitUntil := func(what string, limit time.Duration, cond func() bool) time.Duration {
		t.Helper()
		t0 := time.Now()
		for !cond() {
			if time.Since(t0) > limit {
				t.Fatalf("%s: not within %v", what, limit)
			}
			time.Sleep(250 * time.Millisecond)
		}
		return time.Since(t0)
	}
	// Every box pulls; kill -9 box2 once it has sent some and holds work.
	waitUntil("every box sending", 2*time.Minute, func() bool {
		p := progress(boxes[0])
		return p.ByBox["box1"].Sent > 50 && p.ByBox["box2"].Sent > 50 && p.ByBox["box3"].Sent > 50 && p.ByBox["box2"].Sending > 0
	})
	before, _ := progressOK(boxes[0])
	if err := boxes[1].p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-boxes[1].p.done
	takeover := waitUntil("box2's held work taken over", 60*time.Second, func() bool {
		p, ok := progressOK(boxes[0])
		return ok && p.Counts.Final()+p.Counts.Waiting+p.Counts.Sending == recipients && p.ByBox["box2"].Sending == 0
	})
	t.Logf("kill -9 of box2 at %d of %d final (box2 held %d); its held work was taken over after %v",
		before.Counts.Final(), recipients, before.ByBox["box2"].Sending, takeover.Round(100*time.Millisecond))
	if takeover > 30*time.Second {
		t.Errorf("takeover took %v; the cluster issue allows 30 s", takeover)
	}

	// box2 comes back (same data directory), then box3 is cut off for
	// 20 s: box1 and box2 keep the majority and go on.
	boxes[1].p = startDaemon(t, boxes[1].cfgPath)
	testkit.Eventually(t, "box2 back in the cluster", func() bool {
		rep, code := clusterStatus(t, boxes[1].dataDir)
		return code == 0 && rep.Status != nil && rep.Status.Complete()
	})
	atCut := progress(boxes[0])
	if atCut.Counts.Final() >= recipients-200 {
		t.Fatalf("the campaign was nearly through (%d of %d) before the partition; the test needs a slower campaign", atCut.Counts.Final(), recipients)
	}
	netns.cut(t, true)
	time.Sleep(20 * time.Second)
	duringCut := progress(boxes[0])
	netns.cut(t, false)
	t.Logf("during box3's 20 s partition the majority went from %d to %d final", atCut.Counts.Final(), duringCut.Counts.Final())
	if duringCut.Counts.Final() <= atCut.Counts.Final() {
		t.Errorf("box1 and box2 sent nothing while box3 was cut off: %d then %d final", atCut.Counts.Final(), duringCut.Counts.Final())
	}
	testkit.Eventually(t, "box3 back in the cluster", func() bool {
		rep, code := clusterStatus(t, boxes[2].dataDir)
		return code == 0 && rep.Status != nil && rep.Status.Complete()
	})

	// All final, the same on every box. The bound is generous (a loaded
	// CI machine); a campaign that stops moving fails sooner, with what
	// each box logged about it.
	var last clusterwork.Progress
	lastMove, lastFinal := time.Now(), -1
	for {
		p, ok := progressOK(boxes[2])
		if ok {
			last = p
			if p.Counts.Final() == recipients && p.Counts.Sending == 0 && p.Counts.Waiting == 0 {
				break
			}
			if p.Counts.Final() != lastFinal {
				lastFinal, lastMove = p.Counts.Final(), time.Now()
			}
		}
		if time.Since(lastMove) > 90*time.Second || time.Since(started) > 8*time.Minute {
			for _, b := range boxes {
				var lines []string
				for _, l := range strings.Split(b.p.log(), "\n") {
					if strings.Contains(l, "shared campaign") {
						lines = append(lines, l)
					}
				}
				if len(lines) > 30 {
					lines = lines[len(lines)-30:]
				}
				t.Logf("%s logged:\n%s", b.name, strings.Join(lines, "\n"))
			}
			t.Fatalf("the campaign stopped moving at %+v (by box %+v)", last.Counts, last.ByBox)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("campaign through %v after it was created", time.Since(started).Round(time.Second))
	final, err := sharedProgress(t, boxes[0].dataDir, created.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	// Outcomes the boxes still write after the heal (box3's real "sent"
	// over an "unknown" the majority recorded) settle within seconds.
	testkit.Eventually(t, "every box reports the same counts", func() bool {
		a, b, c := progress(boxes[0]), progress(boxes[1]), progress(boxes[2])
		if a.Counts == b.Counts && b.Counts == c.Counts {
			final, err = sharedProgress(t, boxes[0].dataDir, created.ID, true)
			return err == nil && final.Counts == a.Counts
		}
		return false
	})

	// The wire: what the twelve simulated SIMs transmitted.
	wire := map[string][]string{}
	for _, b := range boxes {
		for _, m := range b.modems {
			for _, s := range m.Sent() {
				if !s.Complete || len(s.Duplicates) > 0 || s.Text != text {
					t.Errorf("%s transmitted to %s: complete=%v, %d duplicate parts, text %q", b.name, s.To, s.Complete, len(s.Duplicates), s.Text)
				}
				wire[s.To] = append(wire[s.To], b.name)
			}
		}
	}
	states := map[clusterwork.ClaimState]int{}
	for i, n := range numbers {
		cl, ok := final.Claims[strconv.Itoa(i+1)]
		if !ok {
			t.Errorf("recipient %d (%s) has no outcome", i+1, n)
			continue
		}
		states[cl.State]++
		if cl.To != n {
			t.Errorf("recipient %d: claim for %s, want %s", i+1, cl.To, n)
		}
		sent := wire[n]
		switch cl.State {
		case clusterwork.CSent, clusterwork.CDelivered:
			if len(sent) != 1 || sent[0] != cl.Box {
				t.Errorf("%s recorded %s by %s; on the wire: %v", n, cl.State, cl.Box, sent)
			}
		case clusterwork.CUnknown, clusterwork.CFailed:
			if len(sent) > 1 {
				t.Errorf("%s recorded %s, transmitted %d times: %v", n, cl.State, len(sent), sent)
			}
		default:
			t.Errorf("%s ended %q, not final", n, cl.State)
		}
	}
	for n, by := range wire {
		if len(by) > 1 {
			t.Errorf("%s transmitted %d times (%v)", n, len(by), by)
		}
	}
	perBox := map[string]int{}
	for _, by := range wire {
		for _, b := range by {
			perBox[b]++
		}
	}
	t.Logf("final states %v; transmitted per box %v; per box %+v", states, perBox, final.ByBox)

	// The message log (logsync, docs/cluster.md): each box journals what
	// its pool took, so every transmitted recipient has an entry; after
	// the heal every box holds the same log and sessions (the issue's
	// "the message log and sessions agree on every box").
	var lastLogs []string
	agreeLimit := time.Now().Add(2 * time.Minute)
	for {
		var reps []logSyncReply
		lastLogs = lastLogs[:0]
		for _, b := range boxes {
			rep, err := logSyncOf(b.dataDir)
			if err != nil || !rep.Enabled || rep.Digest == nil || rep.Stats == nil {
				lastLogs = append(lastLogs, fmt.Sprintf("%s: %v %+v", b.name, err, rep))
				continue
			}
			lastLogs = append(lastLogs, fmt.Sprintf("%s: %+v %+v", b.name, *rep.Stats, *rep.Digest))
			if rep.Stats.Pending == 0 {
				reps = append(reps, rep)
			}
		}
		if len(reps) == len(boxes) && reps[0].Digest.Same(*reps[1].Digest) && reps[1].Digest.Same(*reps[2].Digest) {
			if d := reps[0].Digest; d.Messages < len(wire) {
				t.Errorf("the boxes agree on %d message-log entries, fewer than the %d recipients transmitted", d.Messages, len(wire))
			} else {
				t.Logf("the message log agrees on every box: %d entries (by box %v), %d sessions", d.Messages, d.MessagesByBox, d.Sessions)
			}
			break
		}
		if time.Now().After(agreeLimit) {
			diff := logDifferences(t, []*proc{boxes[0].p, boxes[1].p, boxes[2].p},
				[]string{boxes[0].dataDir, boxes[1].dataDir, boxes[2].dataDir}, 8)
			t.Fatalf("the boxes' message logs and sessions do not agree 2 min after the campaign ended:\n%s\nentries that differ:\n%s",
				strings.Join(lastLogs, "\n"), diff)
		}
		time.Sleep(time.Second)
	}
	// Only what box2's modems had when it was killed (one per SIM) stays
	// unknown: what it had pulled but not handed to a modem was taken
	// over and sent, and box3 wrote its modems' real outcomes after the
	// heal over the unknown the majority recorded.
	if states[clusterwork.CUnknown] > sims {
		t.Errorf("%d recipients unknown (by box %+v); at most %d (box2's modems when it was killed)", states[clusterwork.CUnknown], final.ByBox, sims)
	}
}
