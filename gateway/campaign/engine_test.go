package campaign

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

var bg = context.Background()

func TestSendNowCompletesAndStatusesUpdate(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ev := newEnv(t, "", Config{BatchSize: 2}, ch)
	c, err := ev.e.Create(bg, smsSpec("Termine", "sms-1", "now"), numbers(5))
	if err != nil {
		t.Fatal(err)
	}
	c = ev.waitState(c.ID, Completed)
	if got := states(c); !slices.Equal(got, []State{Draft, Running, Completed}) {
		t.Errorf("history %v", got)
	}
	if c.Counts.Sent != 5 || c.Progress() != 1 {
		t.Errorf("counts %+v", c.Counts)
	}
	sends := ch.sends()
	if len(sends) != 5 || sends[0].Text != "Hallo P0, Ihr Termin steht." || !sends[0].DeliveryReport || sends[0].ID != "campaign-1-1-1" {
		t.Fatalf("sends %+v", sends)
	}
	// Status events: delivered, failed, and a late "sent" after delivered
	// that must not move the recipient back.
	for _, ev2 := range []message.StatusEvent{
		{ID: sends[0].ID, Status: message.Delivered, ChannelID: "ref-7"},
		{ID: sends[0].ID, Status: message.Sent},
		{ID: sends[1].ID, Status: message.Failed, Reason: "CMS ERROR 500", Code: "500"},
	} {
		if err := ev.e.HandleStatus(bg, ev2); err != nil {
			t.Fatal(err)
		}
	}
	if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: "wa-xyz", Status: message.Sent}); !errorsIs(err, ErrUnknownStatus) {
		t.Errorf("foreign event: %v", err)
	}
	c = ev.get(c.ID)
	if c.Counts.Delivered != 1 || c.Counts.Failed != 1 || c.Counts.Sent != 3 || c.State != Completed {
		t.Errorf("after events %+v %s", c.Counts, c.State)
	}
	rs := ev.recipients(c.ID)
	if rs[0].Status != RDelivered || rs[0].ChannelID != "ref-7" || rs[1].Reason != "CMS ERROR 500" {
		t.Errorf("recipients %+v", rs[:2])
	}
}

func errorsIs(err, target error) bool {
	return err != nil && strings.Contains(err.Error(), target.Error())
}

func TestPendingBehindRunningCampaignFIFO(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ch.blockAt = 1
	other := newTestChannel("sms-2", led)
	ev := newEnv(t, "", Config{}, ch, other)
	a, err := ev.e.Create(bg, smsSpec("A", "sms-1", "now"), numbers(3))
	if err != nil {
		t.Fatal(err)
	}
	<-ch.blocked
	b, _ := ev.e.Create(bg, smsSpec("B", "sms-1", "now"), numbers(2))
	c, _ := ev.e.Create(bg, smsSpec("C", "sms-1", "draft"), numbers(2))
	if _, err := ev.e.SendNow(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	d, _ := ev.e.Create(bg, smsSpec("D other channel", "sms-2", "now"), numbers(1))
	if b.State != Pending || !strings.Contains(b.Reason, `waiting for campaign "A"`) {
		t.Fatalf("B %s %q", b.State, b.Reason)
	}
	if ev.get(c.ID).State != Pending {
		t.Fatal("C should be pending")
	}
	ev.waitState(d.ID, Completed) // another channel is not blocked
	close(ch.unblock)
	ev.waitState(a.ID, Completed)
	bb := ev.waitState(b.ID, Completed)
	cc := ev.waitState(c.ID, Completed)
	if got := states(bb); !slices.Equal(got, []State{Draft, Pending, Running, Completed}) {
		t.Errorf("B history %v", got)
	}
	if got := states(cc); !slices.Equal(got, []State{Draft, Pending, Running, Completed}) {
		t.Errorf("C history %v", got)
	}
	// FIFO: B started before C.
	if !bb.History[2].At.Before(cc.History[2].At) && !bb.History[2].At.Equal(cc.History[2].At) {
		t.Errorf("B ran at %v, C at %v", bb.History[2].At, cc.History[2].At)
	}
	var order []string
	for _, s := range ch.sends() {
		order = append(order, strings.Split(s.ID, "-")[1])
	}
	want := []string{a.ID, a.ID, a.ID, b.ID, b.ID, c.ID, c.ID}
	if !slices.Equal(order, want) {
		t.Errorf("send order %v, want %v", order, want)
	}
}

func TestScheduledAcrossDSTChange(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Saturday noon UTC (13:00 CET); clocks go forward that night.
	clk := newFakeClock(time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC))
	ch := newTestChannel("sms-1", newLedger())
	ev := newEnv(t, "", Config{Clock: clk, Location: berlin}, ch)
	spec := smsSpec("Sonntag", "sms-1", "scheduled")
	spec.When.Date, spec.When.Time = "2026-03-29", "10:00"
	c, err := ev.e.Create(bg, spec, numbers(2))
	if err != nil {
		t.Fatal(err)
	}
	// 10:00 CEST is 08:00 UTC, not 09:00 as 22h-from-CET arithmetic would say.
	if want := time.Date(2026, 3, 29, 8, 0, 0, 0, time.UTC); !c.ScheduledAt.Equal(want) || c.State != Scheduled {
		t.Fatalf("scheduled at %v (%s), want %v", c.ScheduledAt, c.State, want)
	}
	n := clk.Registered()
	clk.Advance(19*time.Hour + 59*time.Minute + 59*time.Second) // 07:59:59 UTC
	clk.waitRegistered(t, n)                                    // the scheduler looked again
	if s := ev.get(c.ID).State; s != Scheduled {
		t.Fatalf("fired early: %s", s)
	}
	clk.Advance(time.Second)
	c = ev.waitState(c.ID, Completed)
	if !strings.Contains(c.History[2].Reason, "2026-03-29 10:00 CEST") {
		t.Errorf("reason %q", c.History[2].Reason)
	}
	if len(ch.sends()) != 2 {
		t.Errorf("sends %d", len(ch.sends()))
	}

	// The skipped hour does not exist; the repeated one means the first.
	spec = smsSpec("Lücke", "sms-1", "scheduled")
	spec.When.Date, spec.When.Time = "2026-03-29", "02:30"
	if _, err := ev.e.Create(bg, spec, numbers(1)); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("nonexistent local time: %v", err)
	}
	at, err := whenInstant(When{Date: "2026-10-25", Time: "02:30", TimeZone: "Europe/Berlin"}, time.UTC)
	if err != nil || !at.Equal(time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)) {
		t.Errorf("ambiguous local time: %v %v", at, err)
	}
	// Unschedule and reschedule.
	spec = smsSpec("Später", "sms-1", "scheduled")
	spec.When.Date, spec.When.Time, spec.When.TimeZone = "2026-04-01", "09:00", "America/New_York"
	c, err = ev.e.Create(bg, spec, numbers(1))
	if err != nil || !c.ScheduledAt.Equal(time.Date(2026, 4, 1, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("new york: %v %v", c.ScheduledAt, err)
	}
	if c, err = ev.e.SaveDraft(bg, c.ID); err != nil || c.State != Draft {
		t.Fatalf("save draft: %v %s", err, c.State)
	}
	if _, err := ev.e.Schedule(bg, c.ID, When{Date: "2026-03-28", Time: "02:00"}); err == nil {
		t.Error("a time in the past must be refused")
	}
	if c, err = ev.e.Schedule(bg, c.ID, When{Date: "2026-03-30", Time: "08:00"}); err != nil || c.State != Scheduled {
		t.Fatalf("reschedule: %v", err)
	}
}

func TestRestartStopsCampaignAndResumeLosesNothing(t *testing.T) {
	t.Parallel()
	for _, auto := range []bool{false, true} {
		t.Run(fmt.Sprintf("auto_resume=%v", auto), func(t *testing.T) {
			t.Parallel()
			led := newLedger()
			ch := newTestChannel("sms-1", led)
			ch.blockAt = 5 // transmits the 5th message, then "crashes" before returning
			dir := t.TempDir()
			ev := newEnv(t, dir, Config{BatchSize: 3}, ch)
			c, err := ev.e.Create(bg, smsSpec("Crash", "sms-1", "now"), numbers(12))
			if err != nil {
				t.Fatal(err)
			}
			<-ch.blocked
			ev.crash() // the daemon dies with a batch in flight

			ch2 := newTestChannel("sms-1", led) // same ledger: the pool's own store
			ev2 := newEnv(t, dir, Config{BatchSize: 3, AutoResume: auto}, ch2)
			var got Campaign
			if auto {
				got = ev2.waitState(c.ID, Completed)
			} else {
				got = ev2.get(c.ID)
				if got.State != Stopped || !strings.HasPrefix(got.Reason, "restart") || got.ReasonCode.Code != "campaign.restart" {
					t.Fatalf("after restart: %s %q %+v", got.State, got.Reason, got.ReasonCode)
				}
				if got.Counts.Sending == 0 {
					t.Errorf("expected recipients left sending, counts %+v", got.Counts)
				}
				if _, err := ev2.e.Resume(bg, c.ID); err != nil {
					t.Fatal(err)
				}
				got = ev2.waitState(c.ID, Completed)
			}
			if got.Counts.Sent != 12 {
				t.Errorf("counts %+v", got.Counts)
			}
			for num, n := range led.perNumber() {
				if n != 1 {
					t.Errorf("%s transmitted %d times", num, n)
				}
			}
			if len(led.perNumber()) != 12 {
				t.Errorf("%d of 12 numbers transmitted", len(led.perNumber()))
			}
			want := []State{Draft, Running, Stopped, Running, Completed}
			if gotS := states(got); !slices.Equal(gotS, want) {
				t.Errorf("history %v", gotS)
			}
		})
	}
}

func TestRestartWithResendUnsafeChannelRecordsUnknown(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("wa", led)
	ch.blockAt = 2
	dir := t.TempDir()
	ev := newEnv(t, dir, Config{BatchSize: 2}, ch)
	c, _ := ev.e.Create(bg, smsSpec("X", "wa", "now"), numbers(5))
	<-ch.blocked
	ev.crash()
	ch2 := newTestChannel("wa", led)
	ch2.unsafe = true
	ev2 := newEnv(t, dir, Config{BatchSize: 2}, ch2)
	if _, err := ev2.e.Resume(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	got := ev2.waitState(c.ID, Completed)
	// Message 1 was accepted and recorded before the engine stopped;
	// message 2 was in flight: unknown, never handed over again.
	if got.Counts.Unknown != 1 || got.Counts.Sent != 4 {
		t.Errorf("counts %+v", got.Counts)
	}
	for _, s := range ch2.sends() {
		if s.ID == "campaign-1-1-1" || s.ID == "campaign-1-2-1" {
			t.Errorf("in-flight message %s handed over again", s.ID)
		}
	}
}

func TestRetryFailedResendsOnlyFailed(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	rs := numbers(4)
	ch.reject[rs[1].Number] = true
	ev := newEnv(t, "", Config{}, ch)
	c, _ := ev.e.Create(bg, smsSpec("Retry", "sms-1", "now"), rs)
	c = ev.waitState(c.ID, Completed)
	if c.Counts.Failed != 1 || c.Counts.Sent != 3 {
		t.Fatalf("counts %+v", c.Counts)
	}
	if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: "campaign-1-3-1", Status: message.Failed, Reason: "SMSC gave up"}); err != nil {
		t.Fatal(err)
	}
	ch.mu.Lock()
	ch.reject = map[string]bool{}
	ch.mu.Unlock()
	before := len(ch.sends())
	c, err := ev.e.RetryFailed(bg, c.ID)
	if err != nil || c.State != Retrying {
		t.Fatalf("retry: %v %s", err, c.State)
	}
	c = ev.waitState(c.ID, Completed)
	again := ch.sends()[before:]
	var ids []string
	for _, s := range again {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"campaign-1-2-2", "campaign-1-3-2"}) {
		t.Errorf("retried %v", ids)
	}
	if c.Counts.Sent != 4 || c.Counts.Failed != 0 || c.Attempt != 2 {
		t.Errorf("counts %+v attempt %d", c.Counts, c.Attempt)
	}
	if got := states(c); !slices.Equal(got, []State{Draft, Running, Completed, Retrying, Completed}) {
		t.Errorf("history %v", got)
	}
	// A late event for the first attempt changes nothing.
	if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: "campaign-1-2-1", Status: message.Failed}); err != nil {
		t.Fatal(err)
	}
	if ev.get(c.ID).Counts.Failed != 0 {
		t.Error("stale event applied")
	}
	if _, err := ev.e.RetryFailed(bg, c.ID); !errorsIs(err, ErrTransition) {
		t.Errorf("retry without failed: %v", err)
	}
}

func TestDuplicateDeleteAndUpdate(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	ev := newEnv(t, "", Config{}, ch)
	spec := smsSpec("Aktion", "sms-1", "draft")
	spec.Throttle = 30
	c, err := ev.e.Create(bg, spec, append(numbers(3), recipients.Recipient{Number: "+4915112000000"}, recipients.Recipient{Number: "kaputt"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Recipients != 4 || c.Duplicates != 1 || c.Counts.Excluded != 1 {
		t.Fatalf("create %+v", c)
	}
	d1, err := ev.e.Duplicate(bg, c.ID)
	if err != nil || d1.Spec.Name != "Aktion (Kopie)" || d1.State != Draft || d1.Spec.Throttle != 30 || d1.Recipients != 4 {
		t.Fatalf("duplicate %+v %v", d1, err)
	}
	d2, _ := ev.e.Duplicate(bg, c.ID)
	if d2.Spec.Name != "Aktion (Kopie 2)" {
		t.Errorf("second copy %q", d2.Spec.Name)
	}
	rs := ev.recipients(d1.ID)
	if rs[0].Vars["first_name"] != "P0" || rs[3].Status != RExcluded {
		t.Errorf("copied recipients %+v", rs)
	}
	if _, err := ev.e.Create(bg, smsSpec("aktion", "sms-1", "draft"), numbers(1)); !errorsIs(err, ErrNameTaken) {
		t.Errorf("case-insensitive unique names: %v", err)
	}
	spec.Name, spec.Content.Text = "Aktion neu", "Neu: {{first_name}}"
	u, err := ev.e.Update(bg, d2.ID, spec, numbers(2))
	if err != nil || u.Recipients != 2 || u.Spec.Name != "Aktion neu" {
		t.Fatalf("update %+v %v", u, err)
	}
	if len(ev.recipients(d2.ID)) != 2 {
		t.Error("old recipients left behind")
	}
	if err := ev.e.Delete(bg, d2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.e.Get(bg, d2.ID); !errorsIs(err, ErrNotFound) || len(ev.recipients(d2.ID)) != 0 {
		t.Errorf("deleted: %v", err)
	}
	if p := ev.e.List(bg, ListQuery{Search: "kopie"}); p.Total != 1 || p.Items[0].ID != d1.ID {
		t.Errorf("list %+v", p)
	}
}

type dncBlocker map[string]string

func (b dncBlocker) Blocked(_ context.Context, n string) (string, bool) {
	r, ok := b[n]
	return r, ok
}

func TestDNCAndBlacklistExcludedAtSendTime(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(4)
	dir := t.TempDir()
	// The DNC lists live in the same store; the engine env opens it, so
	// build the env first and the lists on its store.
	ev := newEnv(t, dir, Config{Blocker: dncBlocker{rs[2].Number: "opted out (STOP)"}}, ch)
	lists := recipients.NewLists(ev.st) // the engine's DNC lists live in the same store
	spec := smsSpec("DNC", "sms-1", "draft")
	spec.DNCLists = []string{"Sperrliste"}
	if _, err := ev.e.Create(bg, spec, rs); err == nil || !strings.Contains(err.Error(), "Sperrliste") {
		t.Fatalf("missing list: %v", err)
	}
	if _, _, err := lists.Import(bg, "Sperrliste", strings.NewReader("Name,Handy\nX,"+rs[0].Number+"\n"), recipients.CSVOptions{Region: "DE"}); err != nil {
		t.Fatal(err)
	}
	c, err := ev.e.Create(bg, spec, rs)
	if err != nil {
		t.Fatal(err)
	}
	// Added to the list after the campaign was created: still excluded,
	// because lists are applied at send time.
	if _, _, err := lists.Import(bg, "Sperrliste", strings.NewReader("Handy\n"+rs[0].Number+"\n"+rs[1].Number+"\n"), recipients.CSVOptions{Region: "DE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.e.SendNow(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	c = ev.waitState(c.ID, Completed)
	if c.Counts.Excluded != 3 || c.Counts.Sent != 1 {
		t.Errorf("counts %+v", c.Counts)
	}
	got := ev.recipients(c.ID)
	if got[0].Reason != "on do-not-contact list Sperrliste" || got[2].Reason != "opted out (STOP)" || got[3].Status != RSent {
		t.Errorf("recipients %+v", got)
	}
	if s := ch.sends(); len(s) != 1 || s[0].To != rs[3].Number {
		t.Errorf("sends %+v", s)
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	ch.max = 60
	ev := newEnv(t, "", Config{}, ch)
	spec := smsSpec("Schnell", "sms-1", "now")
	spec.Throttle = 61
	_, err := ev.e.Create(bg, spec, numbers(3))
	mustErr(t, err, ErrThrottle)
	if !strings.Contains(err.Error(), "maximum of 60") {
		t.Errorf("message %q", err)
	}
	spec.Throttle = 0 // the channel's 60/min: one per second
	n := ev.clk.Registered()
	c, err := ev.e.Create(bg, spec, numbers(3))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		ev.waitFor(fmt.Sprintf("%d sends", i), func() bool { return len(ch.sends()) == i })
		if i < 3 {
			ev.clk.waitRegistered(t, n) // the limiter waits on the clock
			n = ev.clk.Registered()
			if len(ch.sends()) != i {
				t.Fatalf("sent %d before the clock moved", len(ch.sends()))
			}
			ev.clk.Advance(time.Second)
		}
	}
	ev.waitState(c.ID, Completed)
}

func TestStopResumeAndChannelFailure(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ch.blockAt = 2
	ev := newEnv(t, "", Config{BatchSize: 1}, ch)
	c, _ := ev.e.Create(bg, smsSpec("Stop", "sms-1", "now"), numbers(4))
	<-ch.blocked
	c, err := ev.e.Stop(bg, c.ID, "")
	if err != nil || c.State != Stopped || c.Reason != "stopped by the administrator" {
		t.Fatalf("stop: %v %s", err, c.State)
	}
	if c.ReasonCode.Code != "campaign.stopped_admin" || c.History[len(c.History)-1].ReasonCode.Code != "campaign.stopped_admin" {
		t.Errorf("stop reason code %+v", c.ReasonCode)
	}
	close(ch.unblock)
	ev.waitFor("in-flight batch recorded", func() bool { return ev.get(c.ID).Counts.Sent == 2 })
	if got := ev.get(c.ID).Counts; got.Queued != 2 {
		t.Errorf("after stop %+v", got)
	}
	// A channel problem stops the campaign with the reason.
	ch.mu.Lock()
	ch.fail = fmt.Errorf("SIM credit exhausted")
	ch.mu.Unlock()
	if _, err := ev.e.Resume(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	c = ev.waitFor2(c.ID, func(c Campaign) bool { return c.State == Stopped && strings.Contains(c.Reason, "credit") })
	if !strings.Contains(c.Reason, "channel sms-1: SIM credit exhausted") {
		t.Errorf("reason %q", c.Reason)
	}
	// An uncoded channel error: the code keeps the channel and the text.
	if rc := c.ReasonCode; rc.Code != "campaign.channel_error_text" || len(rc.Args) != 2 || rc.Args[0] != "sms-1" || rc.Args[1] != "SIM credit exhausted" {
		t.Errorf("reason code %+v", rc)
	}
	ch.mu.Lock()
	ch.fail = nil
	ch.mu.Unlock()
	if _, err := ev.e.Resume(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	c = ev.waitState(c.ID, Completed)
	if c.Counts.Sent != 4 {
		t.Errorf("counts %+v", c.Counts)
	}
	for num, n := range led.perNumber() {
		if n != 1 {
			t.Errorf("%s sent %d times", num, n)
		}
	}
	if got := states(c); !slices.Equal(got, []State{Draft, Running, Stopped, Running, Stopped, Running, Completed}) {
		t.Errorf("history %v", got)
	}
}

func (ev *env) waitFor2(id string, cond func(Campaign) bool) Campaign {
	ev.t.Helper()
	ev.waitFor("campaign condition", func() bool { return cond(ev.get(id)) })
	return ev.get(id)
}

func TestInvalidTransitionsRejected(t *testing.T) {
	t.Parallel()
	// The table itself: every pair not listed is refused.
	all := []State{Draft, Scheduled, Pending, Running, Completed, Stopped, Retrying}
	allowedPairs := map[[2]State]bool{}
	for from, tos := range transitions {
		for _, to := range tos {
			allowedPairs[[2]State{from, to}] = true
		}
	}
	if len(allowedPairs) != 18 {
		t.Errorf("table has %d transitions, the doc comment lists 18", len(allowedPairs))
	}
	for _, from := range all {
		for _, to := range all {
			if allowed(from, to) != allowedPairs[[2]State{from, to}] {
				t.Errorf("%s -> %s", from, to)
			}
		}
	}
	ch := newTestChannel("sms-1", newLedger())
	ev := newEnv(t, "", Config{}, ch)
	d, _ := ev.e.Create(bg, smsSpec("Entwurf", "sms-1", "draft"), numbers(1))
	_, err := ev.e.Resume(bg, d.ID)
	mustErr(t, err, ErrTransition)
	_, err = ev.e.Stop(bg, d.ID, "")
	mustErr(t, err, ErrTransition)
	_, err = ev.e.RetryFailed(bg, d.ID)
	mustErr(t, err, ErrTransition)
	done, _ := ev.e.Create(bg, smsSpec("Fertig", "sms-1", "now"), numbers(1))
	ev.waitState(done.ID, Completed)
	_, err = ev.e.Update(bg, done.ID, smsSpec("Fertig", "sms-1", "draft"), nil)
	mustErr(t, err, ErrTransition)
	_, err = ev.e.SendNow(bg, done.ID)
	mustErr(t, err, ErrTransition)
	_, err = ev.e.SaveDraft(bg, done.ID)
	mustErr(t, err, ErrTransition)
	_, err = ev.e.Stop(bg, done.ID, "")
	mustErr(t, err, ErrTransition)
	_, err = ev.e.Schedule(bg, done.ID, When{Date: "2027-01-01", Time: "10:00"})
	mustErr(t, err, ErrTransition)
	if got := ev.get(done.ID); got.State != Completed || len(got.History) != 3 {
		t.Errorf("refused operations changed the campaign: %+v", got.History)
	}
	ch.blockAt = 3
	r, _ := ev.e.Create(bg, smsSpec("Läuft", "sms-1", "now"), numbers(2))
	<-ch.blocked
	mustErr(t, ev.e.Delete(bg, r.ID), ErrTransition)
	close(ch.unblock)
	ev.waitState(r.ID, Completed)
	if err := ev.e.Delete(bg, r.ID); err != nil {
		t.Errorf("delete completed: %v", err)
	}
}

func TestLimitsAndValidation(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	ev := newEnv(t, "", Config{Limits: Limits{MaxCampaigns: 2, MaxRecipients: 3}}, ch)
	_, err := ev.e.Create(bg, smsSpec("Zu viele", "sms-1", "draft"), numbers(4))
	mustErr(t, err, ErrLimit)
	if !strings.Contains(err.Error(), "at most 3") {
		t.Errorf("%v", err)
	}
	for i := range 2 {
		if _, err := ev.e.Create(bg, smsSpec(fmt.Sprint("K", i), "sms-1", "draft"), numbers(3)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = ev.e.Create(bg, smsSpec("K3", "sms-1", "draft"), numbers(1))
	mustErr(t, err, ErrLimit)
	if !strings.Contains(err.Error(), "at most 2") {
		t.Errorf("%v", err)
	}

	ev2 := newEnv(t, "", Config{}, ch)
	cases := map[string]Spec{
		"no value for {{city}}": {Name: "v1", Channel: "sms-1", Content: Content{Text: "Hi {{city}}"}},
		"too long":              {Name: "v2", Channel: "sms-1", Content: Content{Text: strings.Repeat("ä", 1601)}},
		"does not exist":        {Name: "v3", Channel: "nope", Content: Content{Text: "x"}},
		"needs the PBX":         {Name: "v4", Channel: "sms-1", Content: Content{Text: "x"}, Mode: Session},
		"text is empty":         {Name: "v5", Channel: "sms-1"},
		"YYYY-MM-DD":            {Name: "v6", Channel: "sms-1", Content: Content{Text: "x"}, When: When{Kind: "scheduled", Date: "29.03.2026", Time: "10:00"}},
	}
	for want, spec := range cases {
		if _, err := ev2.e.Create(bg, spec, numbers(1)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
	rs := numbers(2)
	rs[1].Line = 7
	if _, err := ev2.e.Create(bg, Spec{Name: "v7", Channel: "sms-1", Content: Content{Text: "Hi {{first_name}} aus {{city}}"}}, rs); err == nil ||
		!strings.Contains(err.Error(), "+4915112000000") {
		t.Errorf("missing variable names the recipient: %v", err)
	}
	rs[0].Vars["city"] = "Ulm"
	if _, err := ev2.e.Create(bg, Spec{Name: "v8", Channel: "sms-1", Content: Content{Text: "Hi {{first_name}} aus {{city}}"}}, rs); err == nil ||
		!strings.Contains(err.Error(), "+4915112000001 (line 7): no value for {{city}}") {
		t.Errorf("missing variable names the line: %v", err)
	}
}

type catalog map[string]TemplateInfo

func (c catalog) Template(_ context.Context, name, lang string) (TemplateInfo, error) {
	t, ok := c[name+"/"+lang]
	if !ok {
		return t, fmt.Errorf("template not found in the synchronised list")
	}
	return t, nil
}

type sessions struct {
	mu     sync.Mutex
	active map[string]string
	n      int
}

func (s *sessions) OpenSession(_ context.Context, r SessionRequest) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.active[r.Contact]; ok {
		return id, true, nil
	}
	s.n++
	id := fmt.Sprintf("s%d-%s", s.n, r.Target.ID)
	s.active[r.Contact] = id
	return id, false, nil
}

func TestWhatsAppTemplateCampaignWithSessions(t *testing.T) {
	t.Parallel()
	wa := newTestChannel("wa-1", newLedger())
	wa.kind = message.WhatsApp
	cat := catalog{
		"termin/de": {Name: "termin", Language: "de", Status: "APPROVED", Header: "LOCATION", Variables: []string{"1", "2"}, Body: "Hallo {{1}}, Ihr Termin ist am {{2}}."},
		"promo/de":  {Name: "promo", Language: "de", Status: "PAUSED"},
		"bild/de":   {Name: "bild", Language: "de", Status: "APPROVED", Header: "IMAGE"},
	}
	rs := numbers(3)
	ss := &sessions{active: map[string]string{rs[0].Number: "existing-7"}}
	ev := newEnv(t, "", Config{Templates: cat, Sessions: ss}, wa)
	loc, err := ParseMapsURL("https://www.google.com/maps/place/Brandenburger+Tor/@52.5162746,13.3755153,17z/data=!3m1!4b1!4m6!3m5!1s0x0:0x0!8m2!3d52.5162746!4d13.3777041") // netscope: parsed only, never fetched
	if err != nil || loc.Name != "Brandenburger Tor" || loc.Longitude != 13.3777041 {
		t.Fatalf("maps: %+v %v", loc, err)
	}
	loc.Address = "Pariser Platz, 10117 Berlin"
	spec := Spec{Name: "WA", Channel: "wa-1", Mode: Session, Target: Target{Kind: "queue", ID: "q1"}, When: When{Kind: "now"},
		Content: Content{WhatsApp: &WhatsAppContent{Template: "termin", Language: "de",
			Values: map[string]string{"1": "{{first_name}}", "2": "1. April"},
			Header: &Header{Type: "location", Location: &loc}}}}
	bad := spec
	bad.Content = Content{WhatsApp: &WhatsAppContent{Template: "promo", Language: "de"}}
	if _, err := ev.e.Create(bg, bad, rs); err == nil || !strings.Contains(err.Error(), "PAUSED") {
		t.Errorf("paused template: %v", err)
	}
	bad.Content = Content{WhatsApp: &WhatsAppContent{Template: "termin", Language: "de", Values: map[string]string{"1": "x"}, Header: spec.Content.WhatsApp.Header}}
	if _, err := ev.e.Create(bg, bad, rs); err == nil || !strings.Contains(err.Error(), "{{2}}") {
		t.Errorf("missing value: %v", err)
	}
	bad.Content = Content{WhatsApp: &WhatsAppContent{Template: "bild", Language: "de"}}
	if _, err := ev.e.Create(bg, bad, rs); err == nil || !strings.Contains(err.Error(), "upload the image") {
		t.Errorf("missing media: %v", err)
	}
	c, err := ev.e.Create(bg, spec, rs)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitState(c.ID, Completed)
	wa.mu.Lock()
	tm := wa.templates[0]
	wa.mu.Unlock()
	if tm.Params[0].Value != "P0" || tm.Header.Location.Address != "Pariser Platz, 10117 Berlin" {
		t.Errorf("template %+v", tm)
	}
	if s := wa.sends(); s[1].Text != "Hallo P1, Ihr Termin ist am 1. April." {
		t.Errorf("preview text %q", s[1].Text)
	}
	got := ev.recipients(c.ID)
	if got[0].SessionID != "existing-7" || got[1].SessionID != "s1-q1" {
		t.Errorf("sessions %q %q", got[0].SessionID, got[1].SessionID)
	}
}

func TestParseMapsURL(t *testing.T) {
	t.Parallel()
	ok := map[string][2]float64{
		"https://maps.google.com/?q=48.137154,11.576124":                                   {48.137154, 11.576124},     // netscope: parsed only
		"https://www.google.com/maps/search/?api=1&query=-33.8567844,151.2152967":          {-33.8567844, 151.2152967}, // netscope: parsed only
		"https://www.google.de/maps/place/Marienplatz,+München/@48.1373968,11.5732598,17z": {48.1373968, 11.5732598},   // netscope: parsed only
	}
	for u, want := range ok {
		l, err := ParseMapsURL(u)
		if err != nil || l.Latitude != want[0] || l.Longitude != want[1] {
			t.Errorf("%s: %+v %v", u, l, err)
		}
	}
	for _, u := range []string{"https://maps.app.goo.gl/abc", "not a url", "https://example.com/@1,2", "https://www.google.com/maps/place/Nowhere"} { // netscope: parsed and refused, never fetched
		if _, err := ParseMapsURL(u); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
}

func TestExportCSVAndRecipientPages(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(5)
	ch.reject[rs[4].Number] = true
	rs[0].Vars["note"] = "=HYPERLINK(x)"
	ev := newEnv(t, "", Config{}, ch)
	c, _ := ev.e.Create(bg, smsSpec("Export", "sms-1", "now"), rs)
	ev.waitState(c.ID, Completed)
	var buf bytes.Buffer
	if err := ev.e.ExportCSV(bg, c.ID, &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "number,first_name,note,status,reason,code,attempt,sending_at,sent_at,done_at" || len(rows) != 6 {
		t.Fatalf("export %v", rows)
	}
	if rows[1][2] != "'=HYPERLINK(x)" || rows[1][3] != "sent" || !strings.HasSuffix(rows[1][8], "+01:00") {
		t.Errorf("row 1 %v", rows[1])
	}
	if rows[5][3] != "failed" || !strings.Contains(rows[5][4], "barred") {
		t.Errorf("row 5 %v", rows[5])
	}
	p, err := ev.e.Recipients(bg, c.ID, RecipientQuery{Offset: 2, Limit: 2})
	if err != nil || p.Total != 5 || len(p.Items) != 2 || p.Items[0].Seq != 3 {
		t.Errorf("page %+v %v", p, err)
	}
	p, _ = ev.e.Recipients(bg, c.ID, RecipientQuery{Status: RFailed})
	if p.Total != 1 || p.Items[0].Number != rs[4].Number {
		t.Errorf("failed page %+v", p)
	}
}

func TestRetryWaitsBehindRunningCampaignAndUpdateSendsNow(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(2)
	ch.reject[rs[0].Number] = true
	ev := newEnv(t, "", Config{}, ch)
	a, _ := ev.e.Create(bg, smsSpec("A", "sms-1", "now"), rs)
	ev.waitState(a.ID, Completed)
	ch.mu.Lock()
	ch.reject = map[string]bool{}
	ch.blockAt = 2 // B's first message blocks
	ch.mu.Unlock()
	spec := smsSpec("B", "sms-1", "scheduled")
	spec.When.Date, spec.When.Time = "2026-04-01", "10:00"
	b, err := ev.e.Create(bg, spec, numbers(1))
	if err != nil || b.State != Scheduled {
		t.Fatalf("B %v %s", err, b.State)
	}
	spec.When = When{Kind: "now"}
	if b, err = ev.e.Update(bg, b.ID, spec, nil); err != nil || b.State != Running {
		t.Fatalf("update to now: %v %s", err, b.State)
	}
	<-ch.blocked
	a, err = ev.e.RetryFailed(bg, a.ID)
	if err != nil || a.State != Pending || !a.Retry {
		t.Fatalf("retry behind B: %v %s", err, a.State)
	}
	close(ch.unblock)
	ev.waitState(b.ID, Completed)
	a = ev.waitState(a.ID, Completed)
	if got := states(a); !slices.Equal(got, []State{Draft, Running, Completed, Pending, Retrying, Completed}) {
		t.Errorf("history %v", got)
	}
	if a.Counts.Sent != 2 {
		t.Errorf("counts %+v", a.Counts)
	}
}

func TestDeletedDNCListStopsInsteadOfSending(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	ev := newEnv(t, "", Config{}, ch)
	lists := recipients.NewLists(ev.st)
	if _, _, err := lists.Import(bg, "Sperre", strings.NewReader("phone\n+4915199999999\n"), recipients.CSVOptions{Region: "DE"}); err != nil {
		t.Fatal(err)
	}
	spec := smsSpec("Ohne Liste", "sms-1", "draft")
	spec.DNCLists = []string{"Sperre"}
	c, err := ev.e.Create(bg, spec, numbers(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := lists.Delete(bg, "Sperre"); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.e.SendNow(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	c = ev.waitState(c.ID, Stopped)
	if !strings.Contains(c.Reason, `"Sperre"`) || len(ch.sends()) != 0 || c.Counts.Queued != 2 {
		t.Errorf("reason %q, sends %d, counts %+v", c.Reason, len(ch.sends()), c.Counts)
	}
}

func TestScheduledFiresIntoPendingWhenChannelBusy(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	ch.blockAt = 1
	ev := newEnv(t, "", Config{}, ch)
	spec := smsSpec("Später", "sms-1", "scheduled")
	spec.When.Date, spec.When.Time = "2026-03-20", "11:00" // 10:00 UTC, an hour after baseTime
	s, err := ev.e.Create(bg, spec, numbers(1))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ev.e.Create(bg, smsSpec("Jetzt", "sms-1", "now"), numbers(1))
	<-ch.blocked
	ev.clk.Advance(time.Hour)
	got := ev.waitState(s.ID, Pending)
	if !strings.Contains(got.Reason, "scheduled time 2026-03-20 11:00 CET") || !strings.Contains(got.Reason, `waiting for campaign "Jetzt"`) {
		t.Errorf("reason %q", got.Reason)
	}
	close(ch.unblock)
	ev.waitState(r.ID, Completed)
	got = ev.waitState(s.ID, Completed)
	if st := states(got); !slices.Equal(st, []State{Draft, Scheduled, Pending, Running, Completed}) {
		t.Errorf("history %v", st)
	}
}
