package inbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// collector is a consumer that records what it took and can refuse.
type collector struct {
	mu     sync.Mutex
	got    []message.Inbound
	refuse func(message.Inbound) error
	more   chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) Inbound(_ context.Context, in message.Inbound) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse != nil {
		if err := c.refuse(in); err != nil {
			return err
		}
	}
	c.got = append(c.got, in)
	select {
	case c.more <- struct{}{}:
	default:
	}
	return nil
}

// wait returns what was taken once there are n messages (or fails).
func (c *collector) wait(t *testing.T, n int) []message.Inbound {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		got := append([]message.Inbound(nil), c.got...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("consumer took %d of %d messages", len(got), n)
		}
	}
}

func run(t *testing.T, b *Inbox, c Consumer) (stop func()) {
	t.Helper()
	if err := b.Register(c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func msg(channel string, i int) message.Inbound {
	return message.Inbound{ID: fmt.Sprintf("m%04d", i), Channel: channel, Kind: message.SMS, From: "+4915100000001",
		Text: "text " + strconv.Itoa(i), At: time.Unix(1_700_000_000+int64(i), 0).UTC()}
}

func ids(ms []message.Inbound) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Channel + "/" + m.ID
	}
	return out
}

func TestAcceptRejectsMessagesWithoutIdentity(t *testing.T) {
	st := testkit.StoreAt(t, t.TempDir())
	defer st.Close()
	b, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []message.Inbound{{Channel: "sms"}, {ID: "x"}} {
		if err := b.Accept(context.Background(), in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Accept(%+v) = %v, want ErrInvalid", in, err)
		}
	}
	if n, _ := b.Pending(); n != 0 {
		t.Fatalf("%d messages stored", n)
	}
	if err := b.Run(context.Background()); !errors.Is(err, ErrNoConsumer) {
		t.Fatalf("Run without a consumer = %v", err)
	}
}

// TestDuplicatesAreDropped: the same channel message id on the same channel
// is one message — also after it was taken and after a restart — while the
// same id on another channel is another message.
func TestDuplicatesAreDropped(t *testing.T) {
	dir := t.TempDir()
	st := testkit.StoreAt(t, dir)
	b, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, in := range []message.Inbound{msg("sms", 1), msg("sms", 1), msg("whatsapp", 1), msg("sms", 2), msg("whatsapp", 1)} {
		if err := b.Accept(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	c := newCollector()
	stop := run(t, b, c)
	got := c.wait(t, 3)
	// Taken already: still a duplicate.
	if err := b.Accept(ctx, msg("sms", 1)); err != nil {
		t.Fatal(err)
	}
	stop()
	st.Close()

	st = testkit.StoreAt(t, dir)
	defer st.Close()
	b, err = New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Accept(ctx, msg("whatsapp", 1)); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Pending(); n != 0 {
		t.Fatalf("a duplicate was stored after a restart: %d pending", n)
	}
	want := []string{"sms/m0001", "whatsapp/m0001", "sms/m0002"}
	if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Fatalf("taken %v, want %v", ids(got), want)
	}
}

// TestRedeliveredInOrderAfterRestart: what the consumer has not taken when
// the daemon stops is offered after the restart, in the order accepted, and
// what it took is not offered again.
func TestRedeliveredInOrderAfterRestart(t *testing.T) {
	dir := t.TempDir()
	st := testkit.StoreAt(t, dir)
	b, err := New(Config{Store: st, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var want []string
	for i := range 40 {
		in := msg([]string{"sms", "whatsapp"}[i%2], i)
		if err := b.Accept(ctx, in); err != nil {
			t.Fatal(err)
		}
		want = append(want, in.Channel+"/"+in.ID)
	}
	c := newCollector()
	c.refuse = func(in message.Inbound) error {
		if in.ID >= "m0015" {
			return errors.New("consumer busy")
		}
		return nil
	}
	stop := run(t, b, c)
	first := c.wait(t, 15)
	stop()
	st.Close()

	st = testkit.StoreAt(t, dir)
	defer st.Close()
	b, err = New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	// Accepted after the restart: behind the older ones.
	late := msg("sms", 99)
	if err := b.Accept(ctx, late); err != nil {
		t.Fatal(err)
	}
	want = append(want, "sms/m0099")
	c2 := newCollector()
	stop = run(t, b, c2)
	defer stop()
	second := c2.wait(t, 26)
	all := append(ids(first), ids(second)...)
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("delivered\n%v\nwant\n%v", all, want)
	}
}

// TestRefusedMessageGoesToTheBack: a message the consumer keeps refusing
// does not hold the others back, and is not dropped.
func TestRefusedMessageGoesToTheBack(t *testing.T) {
	st := testkit.StoreAt(t, t.TempDir())
	defer st.Close()
	b, err := New(Config{Store: st, RetryBackoff: time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if err := b.Accept(ctx, msg("sms", i)); err != nil {
			t.Fatal(err)
		}
	}
	c := newCollector()
	refusals := 0
	c.refuse = func(in message.Inbound) error {
		if in.ID == "m0000" && refusals < 4 {
			refusals++
			return errors.New("not now")
		}
		return nil
	}
	stop := run(t, b, c)
	defer stop()
	got := c.wait(t, 3)
	if want := "[sms/m0001 sms/m0002 sms/m0000]"; fmt.Sprint(ids(got)) != want {
		t.Fatalf("taken %v, want %s", ids(got), want)
	}
}

// The kill -9 test: a child process accepts messages of two channels in a
// tight loop and prints "ack <channel> <id>" after each Accept returned —
// where a driver acknowledges (deletes the SMS from the SIM, answers the
// webhook 200). The parent kills it with SIGKILL at a random moment, which
// lands between storing and acknowledging some message, then plays the
// network: it offers every message again (acknowledged ones too, as a SIM
// listing or Meta's retry would) and checks that the consumer takes each
// message exactly once, the acknowledged ones included, in the order the
// child accepted them.
const childEnv = "PBXGATE_INBOX_KILL_CHILD"

func TestAcceptChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("child process of TestAcceptSurvivesKill9")
	}
	st, err := store.Open(store.Options{Dir: dir, SyncWrites: false, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	b, err := New(Config{Store: st})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		in := killMsg(i)
		if err := b.Accept(context.Background(), in); err != nil {
			fmt.Fprintln(w, "error", err)
			w.Flush()
			os.Exit(2)
		}
		fmt.Fprintln(w, "ack", in.Channel, in.ID)
		w.Flush()
	}
}

func killMsg(i int) message.Inbound { return msg([]string{"sms", "whatsapp", "telegram"}[i%3], i) }

func TestAcceptSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test; run without -short")
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	for round := range 3 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killAt := 20 + rng.IntN(200)
			acked := map[string]bool{}
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 3 && f[0] == "ack" {
					acked[f[1]+"/"+f[2]] = true
					if len(acked) == killAt {
						_ = cmd.Process.Kill() // SIGKILL: no deferred code runs
					}
					continue
				}
				if strings.HasPrefix(sc.Text(), "error") {
					t.Fatalf("child: %s", sc.Text())
				}
			}
			_ = cmd.Wait()
			if len(acked) < killAt {
				t.Fatalf("child acknowledged only %d messages", len(acked))
			}
			n := len(acked) + 5 // a few it may have been storing, and some it never saw

			st := testkit.StoreAt(t, dir)
			defer st.Close()
			b, err := New(Config{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			pending, err := b.Pending()
			if err != nil {
				t.Fatal(err)
			}
			if pending < len(acked) {
				t.Fatalf("%d messages acknowledged before the kill, %d stored", len(acked), pending)
			}
			// The network offers everything again; only the new ones count.
			for i := range n {
				if err := b.Accept(context.Background(), killMsg(i)); err != nil {
					t.Fatal(err)
				}
			}
			c := newCollector()
			stop := run(t, b, c)
			c.wait(t, n)
			time.Sleep(50 * time.Millisecond) // a duplicate would show up now
			stop()
			c.mu.Lock()
			got := c.got
			c.mu.Unlock()
			if len(got) != n {
				t.Fatalf("consumer took %d messages, want %d (each once)", len(got), n)
			}
			for i, in := range got {
				if want := killMsg(i); in.ID != want.ID || in.Channel != want.Channel || in.Text != want.Text {
					t.Fatalf("message %d taken = %s/%s, want %s/%s (acceptance order)", i, in.Channel, in.ID, want.Channel, want.ID)
				}
			}
			t.Logf("killed after %d acknowledgements; %d were stored at the kill", len(acked), pending)
		})
	}
}
