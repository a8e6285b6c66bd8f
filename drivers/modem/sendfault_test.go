package modem

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

// A modem whose SMS stack is stuck answers AT+CMGS with neither the "> "
// prompt nor an error (3GPP TS 27.005 §3.5.1: the PDU is typed only after
// the prompt). The send ends after command_timeout, not send_timeout, as
// "not sent"; the modem is marked hung at once so nothing more is handed
// to it; once the fault is gone it sends again.
func TestNoPromptIsNotSent(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM7600"})
	rig.cfg.CommandTimeout = time.Second
	rig.cfg.SendTimeout = time.Hour // must not be what ends the wait
	m, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	rig.sim.SetFault(modemsim.Fault{NoPrompt: true})
	done := make(chan error, 1)
	go func() {
		_, err := m.Send(context.Background(), "+4917012345678", "stuck stack", false)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second): // guard only; the prompt wait is 1s
		t.Fatal("send waited for the send timeout instead of the command timeout")
	}
	var se *SendError
	if !errors.As(err, &se) || se.MaybeSent || !errors.Is(err, ErrNotSent) || !se.ModemFault || !se.Retryable {
		t.Fatalf("send without prompt: %v (%+v)", err, se)
	}
	if se.ReasonCode.Code != "modem.no_prompt" {
		t.Fatalf("reason code %+v", se.ReasonCode)
	}
	if m.Ready() || m.State() != StateHung {
		t.Fatalf("after a missing prompt the modem is %s, want hung (not ready)", m.State())
	}
	if n := len(rig.sim.Sent()); n != 0 {
		t.Fatalf("simulator sent %d messages", n)
	}
	// The aborted AT+CMGS left nothing behind: the next command answers.
	rig.sim.SetFault(modemsim.Fault{})
	rig.run(t, m)
	rig.rec.wait(t, "online again", func() bool { return rig.rec.states[len(rig.rec.states)-1] == StateOnline })
	if _, err := m.Send(context.Background(), "+4917012345678", "after the fault", false); err != nil {
		t.Fatalf("send after recovery: %v", err)
	}
	if sent := rig.sim.Sent(); len(sent) != 1 || sent[0].Text != "after the fault" || len(sent[0].Duplicates) != 0 {
		t.Fatalf("sent %+v", sent)
	}
}

// A modem that hangs after it took the PDU may have sent the message (here
// it did): the outcome is unknown, never "not sent", so it is not sent
// again by another SIM.
func TestHangAfterPDUIsUnknown(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25"})
	rig.cfg.CommandTimeout = time.Second
	rig.cfg.SendTimeout = 2 * time.Second
	m := rig.start(t)
	rig.sim.SetFault(modemsim.Fault{HangAfterPDU: true, HangMode: modemsim.HangUntilReopen})
	_, err := m.Send(context.Background(), "+4917012345678", "gone into the void", false)
	var se *SendError
	if !errors.As(err, &se) || !se.MaybeSent || errors.Is(err, ErrNotSent) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("send with hang after the PDU: %v (%+v)", err, se)
	}
	if se.ReasonCode.Code != "modem.no_answer" {
		t.Fatalf("reason code %+v", se.ReasonCode)
	}
	if sent := rig.sim.Sent(); len(sent) != 1 || sent[0].Text != "gone into the void" {
		t.Fatalf("simulator sent %+v", sent)
	}
	rig.rec.wait(t, "recovery", func() bool {
		return rig.rec.sawState(StateHung) && rig.rec.states[len(rig.rec.states)-1] == StateOnline
	})
	if _, err := m.Send(context.Background(), "+4917012345678", "after the hang", false); err != nil {
		t.Fatalf("send after recovery: %v", err)
	}
}
