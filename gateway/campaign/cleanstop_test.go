package campaign

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// storedCampaign reads campaign id straight from a closed engine's store.
func storedCampaign(t *testing.T, dir, id string) (Campaign, bool) {
	t.Helper()
	st := testkit.StoreAt(t, dir)
	defer st.Close()
	var c Campaign
	var marker bool
	err := st.View(func(txn *store.Txn) error {
		if err := store.GetJSON(txn, string(campKey(id)), &c); err != nil {
			return err
		}
		var cs cleanStop
		err := store.GetJSON(txn, cleanStopKey, &cs)
		marker = err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, marker
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func reasonCodes(c Campaign) []string {
	var out []string
	for _, h := range c.History {
		out = append(out, h.ReasonCode.Code)
	}
	return out
}

// A campaign that was sending when the engine stopped cleanly resumes at
// the next start by itself although auto_resume is off, hands nothing over
// twice, and the batch cut short goes back to the queue.
func TestCleanStopResumesWithoutAutoResume(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ch.blockAt = 5 // transmits the 5th message, then waits until the stop
	dir := t.TempDir()
	ev := newEnv(t, dir, Config{BatchSize: 3}, ch)
	c, err := ev.e.Create(bg, smsSpec("Sauber", "sms-1", "now"), numbers(12))
	if err != nil {
		t.Fatal(err)
	}
	<-ch.blocked
	ev.close() // SIGTERM: Run ends after its dispatcher returned

	stopped, marker := storedCampaign(t, dir, c.ID)
	if stopped.State != Running || !marker || !fileExists(filepath.Join(dir, cleanStopFile)) {
		t.Fatalf("after the clean stop: %s, store record %v, file %v", stopped.State, marker, fileExists(filepath.Join(dir, cleanStopFile)))
	}
	// Batch 4-6: 4 accepted, 5 cut off inside Send (may have reached the
	// channel: stays sending), 6 never handed over (back to queued).
	if want := (Counts{Queued: 7, Sending: 1, Sent: 4}); stopped.Counts != want {
		t.Errorf("counts after the stop %+v, want %+v", stopped.Counts, want)
	}

	ch2 := newTestChannel("sms-1", led) // same ledger: the pool's own store
	ev2 := newEnv(t, dir, Config{BatchSize: 3, AutoResume: false}, ch2)
	got := ev2.waitState(c.ID, Completed)
	if fileExists(filepath.Join(dir, cleanStopFile)) {
		t.Error("the clean-stop file survived the start")
	}
	if err := ev2.st.View(func(txn *store.Txn) error {
		var cs cleanStop
		if err := store.GetJSON(txn, cleanStopKey, &cs); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("clean-stop record still stored after the start (%v)", err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if got.Counts.Sent != 12 || got.Counts.Unknown != 0 {
		t.Errorf("counts %+v", got.Counts)
	}
	per := led.perNumber()
	for num, n := range per {
		if n != 1 {
			t.Errorf("%s transmitted %d times", num, n)
		}
	}
	if len(per) != 12 {
		t.Errorf("%d of 12 numbers transmitted", len(per))
	}
	if s := states(got); !slices.Equal(s, []State{Draft, Running, Stopped, Running, Completed}) {
		t.Errorf("history %v", s)
	}
	if codes := reasonCodes(got); codes[2] != "campaign.restart" || codes[3] != "campaign.resumed_after_restart" {
		t.Errorf("reason codes %v", codes)
	}
	// Only the cut-off message 5 was handed over again (same ID, the
	// channel's dedupe); 6 was handed over for the first time.
	var again []string
	for _, s := range ch2.sends() {
		if _, seq, _, _ := parseMsgID(s.ID); seq <= 5 {
			again = append(again, s.ID)
		}
	}
	if !slices.Equal(again, []string{"campaign-1-5-1"}) {
		t.Errorf("handed over again after the restart: %v", again)
	}
}

// A channel whose dedupe does not survive a restart gets no second Send
// for the message cut off by the stop (unknown), but the rest of its batch
// is sent normally instead of being recorded unknown too.
func TestCleanStopWithResendUnsafeChannel(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("wa", led)
	ch.blockAt = 2
	dir := t.TempDir()
	ev := newEnv(t, dir, Config{BatchSize: 4}, ch)
	c, _ := ev.e.Create(bg, smsSpec("X", "wa", "now"), numbers(8))
	<-ch.blocked
	ev.close()
	ch2 := newTestChannel("wa", led)
	ch2.unsafe = true
	ev2 := newEnv(t, dir, Config{BatchSize: 4}, ch2)
	got := ev2.waitState(c.ID, Completed)
	if got.Counts.Unknown != 1 || got.Counts.Sent != 7 {
		t.Errorf("counts %+v", got.Counts)
	}
	for _, s := range ch2.sends() {
		if s.ID == "campaign-1-1-1" || s.ID == "campaign-1-2-1" {
			t.Errorf("message %s handed over again", s.ID)
		}
	}
	for num, n := range led.perNumber() {
		if n != 1 {
			t.Errorf("%s transmitted %d times", num, n)
		}
	}
}

// Without the record's second half (a crash between the two, or a store
// restored into another directory) or with a file from another stop (a
// staged restore keeps the directory's files), the stop counts as a crash:
// auto_resume off leaves the campaign stopped.
func TestCleanStopRecordMustMatchItsDirectory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tamper func(path string) error
	}{
		{"file missing", os.Remove},
		{"file of another stop", func(path string) error { return os.WriteFile(path, []byte("0123456789abcdef\n"), 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			led := newLedger()
			ch := newTestChannel("sms-1", led)
			ch.blockAt = 2
			dir := t.TempDir()
			ev := newEnv(t, dir, Config{BatchSize: 2}, ch)
			c, _ := ev.e.Create(bg, smsSpec("X", "sms-1", "now"), numbers(6))
			<-ch.blocked
			ev.close()
			if err := tc.tamper(filepath.Join(dir, cleanStopFile)); err != nil {
				t.Fatal(err)
			}
			ev2 := newEnv(t, dir, Config{BatchSize: 2}, newTestChannel("sms-1", led))
			ev2.close() // Run had its chance to resume
			got := ev2.get(c.ID)
			if got.State != Stopped || got.ReasonCode.Code != "campaign.restart" {
				t.Fatalf("after the start: %s %+v", got.State, got.ReasonCode)
			}
			if fileExists(filepath.Join(dir, cleanStopFile)) {
				t.Error("a stale clean-stop file was left behind")
			}
			if _, marker := storedCampaign(t, dir, c.ID); marker {
				t.Error("the store still holds a clean-stop record")
			}
		})
	}
}

// The pre-update backup is taken while pbxgate is stopped, so it holds the
// store half of the record. Restored into a fresh directory after a failed
// update (firmware/update's rollback), its campaigns must not resume by
// themselves: the failed version may have sent their recipients meanwhile.
func TestRestoredOfflineBackupDoesNotResume(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ch.blockAt = 3
	dir := t.TempDir()
	ev := newEnv(t, dir, Config{BatchSize: 2}, ch)
	c, _ := ev.e.Create(bg, smsSpec("Update", "sms-1", "now"), numbers(6))
	<-ch.blocked
	ev.close()

	backup := filepath.Join(t.TempDir(), "pre-update.pbxbak")
	st := testkit.StoreAt(t, dir)
	if _, err := st.BackupFile(backup); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// The new version resumes the campaign and finishes it.
	ev2 := newEnv(t, dir, Config{BatchSize: 2}, newTestChannel("sms-1", led))
	ev2.waitState(c.ID, Completed)
	ev2.close()

	// Rollback: the backup restored into a new data directory.
	restored := filepath.Join(t.TempDir(), "data")
	f, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := store.Restore(context.Background(), restored, f, nil); err != nil {
		t.Fatal(err)
	}
	if _, marker := storedCampaign(t, restored, c.ID); !marker {
		t.Fatal("the offline backup should carry the store half of the record")
	}
	before := led.perNumber()
	ev3 := newEnv(t, restored, Config{BatchSize: 2}, newTestChannel("sms-1", led))
	ev3.close()
	if got := ev3.get(c.ID); got.State != Stopped || got.ReasonCode.Code != "campaign.restart" {
		t.Fatalf("restored campaign: %s %+v", got.State, got.ReasonCode)
	}
	if after := led.perNumber(); len(after) != len(before) || len(after) != 6 {
		t.Errorf("numbers transmitted: %d before the restore, %d after", len(before), len(after))
	}
	for num, n := range led.perNumber() {
		if n != 1 {
			t.Errorf("%s transmitted %d times", num, n)
		}
	}
}

// After Run ended, a campaign completed by a late channel report does not
// start the pending campaign of its channel (it would be running without a
// dispatcher and not in the record); the next start does.
func TestNoPendingCampaignStartsAfterTheStop(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ch.quiet = true // accepted, not yet reported
	dir := t.TempDir()
	ev := newEnv(t, dir, Config{}, ch)
	a, _ := ev.e.Create(bg, smsSpec("A", "sms-1", "now"), numbers(3))
	b, _ := ev.e.Create(bg, smsSpec("B", "sms-1", "now"), numbers(2))
	ev.waitFor("A handed over", func() bool {
		for _, r := range ev.recipients(a.ID) {
			if r.AcceptedAt.IsZero() {
				return false
			}
		}
		return true
	})
	if got := ev.get(b.ID); got.State != Pending {
		t.Fatalf("B is %s", got.State)
	}
	ev.cancel()
	<-ev.done
	ev.cancel = nil
	for seq := 1; seq <= 3; seq++ {
		if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: msgID(a.ID, seq, 1), Status: message.Sent}); err != nil {
			t.Fatal(err)
		}
	}
	if got := ev.get(a.ID); got.State != Completed {
		t.Fatalf("A is %s", got.State)
	}
	if got := ev.get(b.ID); got.State != Pending {
		t.Fatalf("B became %s after the stop", got.State)
	}
	ev.st.Close()

	ch2 := newTestChannel("sms-1", led)
	ev2 := newEnv(t, dir, Config{}, ch2)
	got := ev2.waitState(b.ID, Completed)
	if got.Counts.Sent != 2 {
		t.Errorf("B counts %+v", got.Counts)
	}
}

// A crash of the run that resumed the campaign must not look clean: New
// takes the record away before anything sends. The second run is a real
// process killed with SIGKILL while it hands a message over.
func TestCrashAfterCleanResumeIsACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ch.blockAt = 2
	dir := t.TempDir()
	ev := newEnv(t, dir, Config{BatchSize: 2}, ch)
	c, _ := ev.e.Create(bg, smsSpec("X", "sms-1", "now"), numbers(6))
	<-ch.blocked
	ev.close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), resumeChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "sending "); ok {
				line <- id
				return
			}
		}
		close(line)
	}()
	select {
	case id, ok := <-line:
		if !ok {
			cmd.Wait()
			t.Fatalf("child ended without sending: %s", stderr.String())
		}
		t.Logf("killed while handing over %s", id)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not resume the campaign: %s", stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
	if fileExists(filepath.Join(dir, cleanStopFile)) {
		t.Error("the clean-stop file survived the resumed run")
	}

	ev3 := newEnv(t, dir, Config{BatchSize: 2}, newTestChannel("sms-1", led))
	ev3.close()
	got := ev3.get(c.ID)
	if got.State != Stopped || got.ReasonCode.Code != "campaign.restart" {
		t.Fatalf("after the crash: %s %+v", got.State, got.ReasonCode)
	}
	want := []string{"campaign.created", "campaign.send_now", "campaign.restart", "campaign.resumed_after_restart", "campaign.restart"}
	if codes := reasonCodes(got); !slices.Equal(codes, want) {
		t.Errorf("reason codes %v, want %v", codes, want)
	}
}

// resumeChild is the second run of TestCrashAfterCleanResumeIsACrash: it
// opens the store, resumes what the clean stop recorded, and announces each
// message it hands over, then waits to be killed.
const resumeChildEnv = "PBXGATE_CAMPAIGN_RESUME_CHILD"

type announceChannel struct{}

func (announceChannel) Name() string       { return "sms-1" }
func (announceChannel) Kind() message.Kind { return message.SMS }
func (announceChannel) MaxPerMinute() int  { return 0 }
func (announceChannel) Send(ctx context.Context, m message.Outbound) error {
	fmt.Println("sending " + m.ID)
	<-ctx.Done()
	return ctx.Err()
}

func resumeChild(dir string) int {
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	e, err := New(Config{Store: st, Channels: map[string]Channel{"sms-1": announceChannel{}}, Region: "DE", BatchSize: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	e.Run(context.Background())
	return 0
}
