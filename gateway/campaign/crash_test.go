package campaign

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/events"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// The crash test re-runs this test binary as a child that owns the store and
// kills it with SIGKILL at random moments of a 1,000-recipient campaign.
const crashChildEnv = "PBXGATE_CAMPAIGN_CRASH_CHILD"

// crashTxnEnv set: the child's channel reports "sent" inside a transaction
// of its own that also stores its record of the message (HandleStatusTxn,
// as the SMS pool does through the router).
const crashTxnEnv = "PBXGATE_CAMPAIGN_CRASH_TXN"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	if dir := os.Getenv(resumeChildEnv); dir != "" {
		os.Exit(resumeChild(dir))
	}
	os.Exit(m.Run())
}

// fileChannel is a channel whose dedupe ledger is an append-only file, like
// the modem pool's queue in its own store: an ID it has taken is never
// transmitted again, across process deaths.
//
// Like a real channel it reports each message it took as sent, again when
// the same ID comes back after a crash (its report may have been lost).
type fileChannel struct {
	mu   sync.Mutex
	f    *os.File
	seen map[string]bool
	eng  *Engine
	st   *store.Store // set: report through HandleStatusTxn in a transaction of st
}

func openFileChannel(path string) (*fileChannel, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	c := &fileChannel{f: f, seen: map[string]bool{}}
	for _, l := range readLedger(path) {
		c.seen[l[0]] = true
	}
	return c, nil
}

// readLedger returns complete "id number" lines.
func readLedger(path string) [][2]string {
	b, _ := os.ReadFile(path)
	var out [][2]string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		id, num, ok := strings.Cut(sc.Text(), " ")
		if ok {
			out = append(out, [2]string{id, num})
		}
	}
	return out
}

func (c *fileChannel) Name() string       { return "sms-1" }
func (c *fileChannel) Kind() message.Kind { return message.SMS }
func (c *fileChannel) MaxPerMinute() int  { return 0 }
func (c *fileChannel) Send(ctx context.Context, m message.Outbound) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen[m.ID] {
		// One write(2): a SIGKILL lands before or after it, never inside.
		if _, err := c.f.WriteString(m.ID + " " + m.To + "\n"); err != nil {
			return err
		}
		c.seen[m.ID] = true
	}
	ev := message.StatusEvent{ID: m.ID, Status: message.Sent, At: time.Now()}
	if c.st == nil {
		return c.eng.HandleStatus(ctx, ev)
	}
	// As the SMS pool: the channel's own record and the status event in
	// one transaction, the engine's part in it where it can.
	var done func(bool)
	inTxn := false
	err := c.st.Update(func(txn *store.Txn) error {
		if done != nil {
			done(false) // the attempt before lost a conflict
		}
		done, inTxn = nil, false
		if err := txn.Set([]byte("chan/"+m.ID), []byte("sent")); err != nil {
			return err
		}
		d, err := c.eng.HandleStatusTxn(ctx, txn, ev)
		switch {
		case errors.Is(err, events.ErrNotInTxn):
			return nil
		case err != nil:
			return err
		}
		done, inTxn = d, true
		return nil
	})
	if done != nil {
		done(err == nil)
	}
	if err != nil {
		return err
	}
	if !inTxn {
		return c.eng.HandleStatus(ctx, ev)
	}
	return nil
}

func crashChild(dir string) int {
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, "db")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ch, err := openFileChannel(filepath.Join(dir, "ledger"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	e, err := New(Config{Store: st, Channels: map[string]Channel{"sms-1": ch}, Region: "DE", AutoResume: true, BatchSize: 7})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ch.eng = e
	if os.Getenv(crashTxnEnv) != "" {
		ch.st = st
	}
	ctx := context.Background()
	go e.Run(ctx)
	if p := e.List(ctx, ListQuery{}); p.Total == 0 {
		if _, err := e.Create(ctx, smsSpec("Crash", "sms-1", "now"), numbers(1000)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	for {
		changed := e.Changes()
		c, err := e.Get(ctx, "1")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if c.State == Completed {
			st.Close()
			return 0
		}
		if c.State == Stopped && !strings.HasPrefix(c.Reason, "restart") {
			fmt.Fprintln(os.Stderr, "stopped:", c.Reason)
			return 3
		}
		<-changed
	}
}

func TestCrashKill9DuringCampaign(t *testing.T) {
	testCrashKill9(t, false)
}

// The channel reports "sent" inside its own transaction
// (HandleStatusTxn): the recipient changes in that commit, the counts only
// in memory after it. Killed at random moments, the stored counts must
// still come out right (the stale-counts marker, kept by save while such
// a change is pending) and nothing may be sent twice.
func TestCrashKill9StatusInChannelTxn(t *testing.T) {
	testCrashKill9(t, true)
}

func testCrashKill9(t *testing.T, inTxn bool) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Parallel()
	dir := t.TempDir()
	ledgerPath := filepath.Join(dir, "ledger")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	kills, completed := 0, false
	for round := 0; round < 200 && !completed; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		if inTxn {
			cmd.Env = append(cmd.Env, crashTxnEnv+"=1")
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		before := len(readLedger(ledgerPath))
		grow := 1 + rng.IntN(150)
		if kills >= 8 {
			grow = 1 << 30 // enough crashes: let it finish
		}
		guard := time.After(60 * time.Second)
	watch:
		for {
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("child failed: %v: %s", err, stderr.String())
				}
				completed = true
				break watch
			case <-guard:
				cmd.Process.Kill()
				t.Fatalf("child made no progress: %s", stderr.String())
			case <-time.After(time.Millisecond):
			}
			if len(readLedger(ledgerPath)) >= before+grow {
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond) // land anywhere in the batch cycle
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				kills++
				break
			}
		}
	}
	if !completed {
		t.Fatal("campaign never completed")
	}
	if kills < 3 {
		t.Errorf("only %d kills landed", kills)
	}
	t.Logf("%d kill -9 rounds", kills)

	st := testkit.StoreAt(t, filepath.Join(dir, "db"))
	defer st.Close()
	e, err := New(Config{Store: st, Channels: map[string]Channel{}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := e.Get(context.Background(), "1")
	rs, _ := e.allRecipients("1")
	if c.State != Completed || len(rs) != 1000 || c.Counts.Sent != 1000 {
		t.Fatalf("campaign %s, %d recipients, counts %+v", c.State, len(rs), c.Counts)
	}
	perNumber := map[string][]string{}
	for _, l := range readLedger(ledgerPath) {
		perNumber[l[1]] = append(perNumber[l[1]], l[0])
	}
	for _, r := range rs {
		ids := perNumber[r.Number]
		if r.Status != RSent || len(ids) != 1 || ids[0] != r.MsgID {
			t.Errorf("recipient %d %s: %s, transmitted as %v", r.Seq, r.Number, r.Status, ids)
		}
	}
	if len(perNumber) != 1000 {
		t.Errorf("%d numbers transmitted", len(perNumber))
	}
	if inTxn {
		// Every recipient "sent" has the channel's record of it: they
		// were one commit.
		err := st.View(func(txn *store.Txn) error {
			for _, r := range rs {
				if _, err := txn.Get([]byte("chan/" + r.MsgID)); err != nil {
					t.Errorf("recipient %d sent, but the channel has no record of %s: %v", r.Seq, r.MsgID, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var restarts int
	for _, h := range c.History {
		if h.To == Stopped && strings.HasPrefix(h.Reason, "restart") {
			restarts++
		}
	}
	if restarts == 0 {
		t.Error("no restart recorded in the history")
	}
}
