package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/sms"
)

// recorder collects what the handlers receive and lets tests wait for it.
type recorder struct {
	mu      sync.Mutex
	pdus    []sms.Deliver
	raw     [][]byte
	reports []sms.StatusReport
	states  []State
	fail    int // fail this many PDU handler calls first
	// failReports fails this many StatusReport handler calls first.
	failReports int
	changed     chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) handlers(t *testing.T) Handlers {
	return Handlers{
		PDU: func(_ context.Context, _ string, pdu []byte) error {
			d, err := sms.DecodeDeliver(pdu)
			if err != nil {
				t.Errorf("handler got undecodable PDU %X: %v", pdu, err)
				return err
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			defer r.notify()
			if r.fail > 0 {
				r.fail--
				return errors.New("store unavailable")
			}
			r.pdus = append(r.pdus, d)
			r.raw = append(r.raw, pdu)
			return nil
		},
		StatusReport: func(_ context.Context, _ string, sr sms.StatusReport) error {
			r.mu.Lock()
			if r.failReports > 0 {
				r.failReports--
				r.mu.Unlock()
				r.notify()
				return errors.New("store unavailable")
			}
			r.reports = append(r.reports, sr)
			r.mu.Unlock()
			r.notify()
			return nil
		},
		State: func(_ string, s State) {
			r.mu.Lock()
			r.states = append(r.states, s)
			r.mu.Unlock()
			r.notify()
		},
	}
}

// wait blocks until cond holds; the timeout only guards against a hang.
func (r *recorder) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard := time.NewTimer(15 * time.Second)
	defer guard.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-guard.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// messages reassembles what the handler received, keyed by sender.
func (r *recorder) texts(t *testing.T) map[string][]string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	groups := map[string][]sms.Deliver{}
	out := map[string][]string{}
	for _, d := range r.pdus {
		if d.Total == 1 {
			out[d.From] = append(out[d.From], d.Text)
			continue
		}
		k := d.ConcatKey()
		groups[k] = append(groups[k], d)
		if len(groups[k]) == d.Total {
			text, err := sms.Join(groups[k])
			if err != nil {
				t.Fatal(err)
			}
			out[d.From] = append(out[d.From], text)
		}
	}
	return out
}

func (r *recorder) sawState(s State) bool {
	for _, x := range r.states {
		if x == s {
			return true
		}
	}
	return false
}

type testRig struct {
	net *modemsim.Network
	sim *modemsim.Modem
	cfg Config
	rec *recorder
}

// newRig starts a simulated modem on a pty and a Config that reaches it
// (through Locate, as its path changes when it reboots).
func newRig(t *testing.T, sc modemsim.Config, opts ...modemsim.NetworkOption) *testRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	net := modemsim.NewNetwork(opts...)
	sim, err := net.AddModem(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		net.Close()
	})
	cfg := Config{
		Name: "gsm1",
		Locate: func(ctx context.Context) (string, error) {
			if p := sim.Path(); p != "" {
				return p, nil
			}
			return sim.WaitPath(ctx, "")
		},
		CommandTimeout:   2 * time.Second,
		InitTimeout:      10 * time.Second,
		SendTimeout:      5 * time.Second,
		PollInterval:     time.Hour,
		DrainInterval:    time.Hour,
		ReopenBackoff:    20 * time.Millisecond,
		MaxReopenBackoff: 200 * time.Millisecond,
		DeliveryReports:  true,
		Logger:           slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return &testRig{net: net, sim: sim, cfg: cfg, rec: newRecorder()}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start opens the modem and runs it until the test ends.
func (r *testRig) start(t *testing.T) *Modem {
	t.Helper()
	m, err := Open(context.Background(), r.cfg, r.rec.handlers(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	r.run(t, m)
	return m
}

// run runs m until the test ends.
func (r *testRig) run(t *testing.T, m *Modem) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		m.Close()
	})
}

func TestOpenReadsIdentity(t *testing.T) {
	t.Parallel()
	for _, model := range modemsim.Models() {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			rig := newRig(t, modemsim.Config{Model: model, RSSI: 20})
			m, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			in := m.Info()
			if in.IMEI != rig.sim.IMEI() || in.ICCID != rig.sim.ICCID() || in.IMSI != rig.sim.IMSI() || in.Number != rig.sim.Number() {
				t.Fatalf("identity %+v, want IMEI %s ICCID %s IMSI %s number %s", in, rig.sim.IMEI(), rig.sim.ICCID(), rig.sim.IMSI(), rig.sim.Number())
			}
			if in.Manufacturer == "" || in.Model == "" || in.Firmware == "" || strings.HasPrefix(in.Firmware, "Revision") {
				t.Fatalf("manufacturer/model/firmware: %+v", in)
			}
			if in.Operator != "Telekom.de" || in.Registration != "home" || in.CSQ != 20 || in.SignalDBm != -73 || in.SignalBars != 5 {
				t.Fatalf("network info %+v", in)
			}
			if m.State() != StateOnline {
				t.Fatalf("state %s", m.State())
			}
			if in.StorageTotal != 20 || in.StorageUsed != 0 {
				t.Fatalf("storage %d/%d, want 0/20", in.StorageUsed, in.StorageTotal)
			}
		})
	}
}

func TestIMEIBinding(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25"})
	other, err := rig.net.AddModem(context.Background(), modemsim.Config{Model: "SIM7600"})
	if err != nil {
		t.Fatal(err)
	}
	rig.cfg.IMEI = other.IMEI()
	if _, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t)); !errors.Is(err, ErrWrongModem) {
		t.Fatalf("Open on another modem's port = %v, want ErrWrongModem", err)
	}

	// From the daemon configuration: the configured path is kept while it
	// answers with the configured IMEI.
	mods := config.Modems{Discover: true, CommandTimeout: 2 * time.Second, InitTimeout: 10 * time.Second, PollInterval: time.Hour}
	cfg := ConfigFor(mods, config.ModemDevice{Name: "gsm2", Device: other.Path(), IMEI: other.IMEI(), PIN: "", DeliveryReports: true}, nil, nil)
	if cfg.Name != "gsm2" || !cfg.DeliveryReports || cfg.CommandTimeout != 2*time.Second || cfg.Locate == nil {
		t.Fatalf("ConfigFor = %+v", cfg)
	}
	m, err := Open(context.Background(), cfg, Handlers{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Info().IMEI != other.IMEI() || m.Info().Device != other.Path() {
		t.Fatalf("bound to %+v", m.Info())
	}
	// The path now leads to another modem: discovery is asked instead
	// (and finds no USB modem on a test machine).
	moved := ConfigFor(mods, config.ModemDevice{Name: "gsm3", Device: rig.sim.Path(), IMEI: other.IMEI()}, nil, nil)
	if p, err := moved.Locate(context.Background()); err == nil || p == rig.sim.Path() {
		t.Fatalf("Locate = %q, %v: must not return a port with another IMEI", p, err)
	}
}

func TestSendEncodings(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25"})
	m := rig.start(t)
	texts := []string{
		"Hello from pbxgate @ £5",
		"Extension: € [ ] { } ~ ^ \\ |",
		"Grüße aus Köln, Ελληνικά, русский, 中文",
		"Emoji 🎉👍🏽 and more",
		strings.Repeat("0123456789", 160),                   // 1,600 GSM-7 characters
		strings.Repeat("😀", 800) + strings.Repeat("ж", 800), // 1,600 UCS-2 characters
	}
	var refs []int
	for i, text := range texts {
		to := fmt.Sprintf("+4917000000%02d", i)
		res, err := m.Send(context.Background(), to, text, false)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		plan, _ := sms.PlanText(text)
		if len(res.Parts) != plan.Parts || res.Encoding != plan.Encoding {
			t.Fatalf("send %d: %d parts %s, plan %+v", i, len(res.Parts), res.Encoding, plan)
		}
		if plan.Parts > 1 {
			refs = append(refs, res.Ref)
		}
		sent := rig.sim.Sent()
		got := sent[len(sent)-1]
		if got.To != to || got.Text != text || !got.Complete || len(got.Parts) != plan.Parts {
			t.Fatalf("send %d: modem sent %q to %s (%d parts, complete %v), want %q", i, got.Text, got.To, len(got.Parts), got.Complete, text)
		}
		for j, p := range got.Parts {
			if p.MR != res.Parts[j].MR {
				t.Fatalf("send %d part %d: MR %d, modem says %d", i, j, res.Parts[j].MR, p.MR)
			}
			if p.StatusReportRequested {
				t.Fatalf("status report requested though not asked")
			}
		}
	}
	if len(refs) != 2 || refs[0] == refs[1] {
		t.Fatalf("concatenation refs %v: want a fresh one per message", refs)
	}
	if m.LastConcatRef() != uint8(refs[1]) {
		t.Fatalf("LastConcatRef %d, want %d", m.LastConcatRef(), refs[1])
	}
}

func TestSendRejectsBadInput(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{})
	m := rig.start(t)
	for _, tc := range []struct{ to, text string }{
		{"+49 170", "hi"},
		{"+4917012345", ""},
		{"+4917012345", strings.Repeat("a", 1601)},
	} {
		_, err := m.Send(context.Background(), tc.to, tc.text, false)
		var se *SendError
		if !errors.As(err, &se) || se.Retryable {
			t.Fatalf("Send(%q, %d chars) = %v, want permanent SendError", tc.to, len(tc.text), err)
		}
		if se.ReasonCode.Code != "modem.encode" || len(se.ReasonCode.Args) != 1 || se.ReasonCode.Args[0] != se.Reason {
			t.Fatalf("Send(%q, %d chars): reason code %+v for %q", tc.to, len(tc.text), se.ReasonCode, se.Reason)
		}
	}
	if n := len(rig.sim.Sent()); n != 0 {
		t.Fatalf("modem sent %d messages", n)
	}
}

func TestCMSErrors(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{})
	m := rig.start(t)
	for _, tc := range []struct {
		code             int
		retryable, fault bool
	}{
		{21, false, false}, // rejected
		{28, false, false}, // unidentified subscriber
		{38, true, true},   // network out of order
		{42, true, false},  // congestion
		{500, true, true},  // unknown
	} {
		rig.sim.SetFault(modemsim.Fault{CMSErrors: map[int]float64{tc.code: 1}})
		_, err := m.Send(context.Background(), "+4917012345", "hello", false)
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("CMS %d: err = %v", tc.code, err)
		}
		if se.CMS != tc.code || se.Retryable != tc.retryable || se.ModemFault != tc.fault || se.Reason == "" || se.MaybeSent {
			t.Fatalf("CMS %d: %+v", tc.code, se)
		}
		// The portal translates the reason by its code.
		if want := fmt.Sprintf("cms.%d", tc.code); se.ReasonCode.Code != want || len(se.ReasonCode.Args) != 0 {
			t.Fatalf("CMS %d: reason code %+v, want %s", tc.code, se.ReasonCode, want)
		}
		// The pool classifies through methods, not types.
		var code interface{ CMSCode() int }
		var perm interface{ Permanent() bool }
		if !errors.As(err, &code) || code.CMSCode() != tc.code || !errors.As(err, &perm) || perm.Permanent() == tc.retryable {
			t.Fatalf("CMS %d: methods do not classify %v", tc.code, err)
		}
	}
	rig.sim.SetFault(modemsim.Fault{})
	if _, err := m.Send(context.Background(), "+4917012345", "hello", false); err != nil {
		t.Fatalf("after errors: %v", err)
	}
	if m.State() != StateOnline {
		t.Fatalf("CMS errors changed the state to %s", m.State())
	}
}

func TestReceiveStoredAndRouted(t *testing.T) {
	t.Parallel()
	for _, route := range []bool{false, true} {
		t.Run(fmt.Sprintf("route=%v", route), func(t *testing.T) {
			t.Parallel()
			rig := newRig(t, modemsim.Config{Model: "SIM7600"})
			rig.cfg.RouteDirect = route
			m := rig.start(t)
			_ = m
			long := strings.Repeat("Lorem ipsum € ", 60)
			emoji := strings.Repeat("Grüße 😀 ", 40)
			msgs := []modemsim.InboundSMS{
				{From: "+4915112345678", Text: "short one"},
				{From: "+4915187654321", Text: long, Order: []int{5, 0, 3, 1, 4, 2}},
				{From: "+4916011111111", Text: emoji, UCS2: true, Order: []int{2, 1, 0, 4, 3, 5}},
			}
			for _, msg := range msgs {
				if err := rig.net.Inject(context.Background(), rig.sim.Number(), msg); err != nil {
					t.Fatal(err)
				}
			}
			rig.rec.wait(t, "all parts", func() bool { return len(rig.rec.pdus) == 1+6+6 })
			got := rig.rec.texts(t)
			for _, msg := range msgs {
				if len(got[msg.From]) != 1 || got[msg.From][0] != msg.Text {
					t.Fatalf("from %s got %q, want %q", msg.From, got[msg.From], msg.Text)
				}
			}
			if !route {
				waitStorageEmpty(t, rig)
			}
		})
	}
}

// waitStorageEmpty checks every message was deleted after being handled.
func waitStorageEmpty(t *testing.T, rig *testRig) {
	t.Helper()
	// Deletion follows the handler's return; poll the simulator's view
	// with a guard.
	deadline := time.Now().Add(10 * time.Second)
	for {
		used := 0
		for _, u := range rig.sim.Status().Storage {
			used += u.Used
		}
		if used == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("storage still holds %d messages: %+v", used, rig.sim.Status().Storage)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDrainAfterStorageFullWhileDown(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", StorageCapacity: 4})
	// pbxgate is down: the modem stores what it can (SIM storage "SM" at
	// power-on), the network holds the rest.
	for i := range 7 {
		if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000099", Text: fmt.Sprintf("message %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for rig.sim.Status().Storage["SM"].Used < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("simulator did not fill its storage: %+v", rig.sim.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rig.start(t)
	rig.rec.wait(t, "7 messages", func() bool { return len(rig.rec.pdus) == 7 })
	seen := map[string]bool{}
	for _, d := range rig.rec.pdus {
		seen[d.Text] = true
	}
	for i := range 7 {
		if !seen[fmt.Sprintf("message %d", i)] {
			t.Fatalf("message %d lost; got %v", i, seen)
		}
	}
	waitStorageEmpty(t, rig)
}

func TestHandlerFailureKeepsMessage(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM800"})
	rig.cfg.DrainInterval = 50 * time.Millisecond
	rig.rec.fail = 1
	rig.start(t)
	if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000001", Text: "keep me"}); err != nil {
		t.Fatal(err)
	}
	// The first hand-over fails (store down); the message stays on the
	// modem and the next drain hands it over again.
	rig.rec.wait(t, "redelivery", func() bool { return len(rig.rec.pdus) == 1 })
	if rig.rec.pdus[0].Text != "keep me" {
		t.Fatalf("got %q", rig.rec.pdus[0].Text)
	}
	waitStorageEmpty(t, rig)
}

func TestDeliveryReports(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"EC25", "SIM7600", "E3372"} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			rig := newRig(t, modemsim.Config{Model: model, DeliveryReportDelay: 10 * time.Millisecond})
			m := rig.start(t)
			res, err := m.Send(context.Background(), "+4917099999999", strings.Repeat("report me ", 20), true)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Parts) != 2 {
				t.Fatalf("parts %d", len(res.Parts))
			}
			rig.rec.wait(t, "2 reports", func() bool { return len(rig.rec.reports) == 2 })
			mrs := map[int]bool{}
			for _, sr := range rig.rec.reports {
				if sr.Recipient != "+4917099999999" || sr.Outcome != sms.Delivered {
					t.Fatalf("report %+v", sr)
				}
				mrs[sr.MR] = true
			}
			for _, p := range res.Parts {
				if !mrs[p.MR] {
					t.Fatalf("no report for MR %d: %+v", p.MR, rig.rec.reports)
				}
			}
			waitStorageEmpty(t, rig)
			if len(rig.rec.pdus) != 0 {
				t.Fatalf("reports handed over as messages: %+v", rig.rec.pdus)
			}
		})
	}
}

func TestURCsInTheMiddleOfCommands(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25"})
	// Held-back indications only come out inside command answers; polling
	// keeps commands flowing.
	rig.cfg.PollInterval = 20 * time.Millisecond
	m := rig.start(t)
	rig.sim.SetFault(modemsim.Fault{URCMidCommand: true, MidCommandURC: "RING"})
	for i := range 3 {
		if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000002", Text: fmt.Sprintf("mid %d", i)}); err != nil {
			t.Fatal(err)
		}
		res, err := m.Send(context.Background(), "+4917012345678", "while receiving", false)
		if err != nil || len(res.Parts) != 1 || res.Parts[0].MR < 0 {
			t.Fatalf("send %d: %+v %v", i, res, err)
		}
	}
	rig.rec.wait(t, "3 messages", func() bool { return len(rig.rec.pdus) == 3 })
	for i, d := range rig.rec.pdus {
		if !strings.HasPrefix(d.Text, "mid ") {
			t.Fatalf("message %d: %q", i, d.Text)
		}
	}
}

func TestUSSD(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"EC25", "SIM7600", "E3372"} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			testUSSD(t, model)
		})
	}
}

func testUSSD(t *testing.T, model string) {
	rig := newRig(t, modemsim.Config{Model: model}, modemsim.WithUSSD("*102#", "Ваш баланс 5 руб"))
	m := rig.start(t)
	got, err := m.USSD(context.Background(), "*100#")
	if err != nil || got != "Ihr Guthaben beträgt 12,34 EUR" {
		t.Fatalf("USSD *100# = %q, %v", got, err)
	}
	if model == "E3372" {
		// Huawei answers travel packed; the simulator packs them with
		// warthog618's Pack7BitUSSD, which corrupts the last character of
		// the *101# answer's length and cannot carry Cyrillic.
		return
	}
	got, err = m.USSD(context.Background(), "*101#")
	if err != nil || got != "Ihre Rufnummer: "+rig.sim.Number() {
		t.Fatalf("USSD *101# = %q, %v", got, err)
	}
	got, err = m.USSD(context.Background(), "*102#")
	if err != nil || got != "Ваш баланс 5 руб" {
		t.Fatalf("USSD *102# = %q, %v", got, err)
	}
	if _, err := m.USSD(context.Background(), "*999#"); !errors.Is(err, ErrUSSD) {
		t.Fatalf("unknown code: %v", err)
	}
	if _, err := m.USSD(context.Background(), `*1"#`); !errors.Is(err, ErrUSSD) {
		t.Fatalf("bad code: %v", err)
	}
}

func TestWrongPINNotRetried(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", PIN: "1234"})
	rig.cfg.PIN = "9999"
	m := New(rig.cfg, rig.rec.handlers(t))
	defer m.Close()
	err := m.Connect(context.Background())
	if !errors.Is(err, ErrWrongPIN) || m.State() != StatePINRequired {
		t.Fatalf("Connect = %v, state %s; want ErrWrongPIN, pin_required", err, m.State())
	}
	// Neither a second Connect nor Run may enter it again.
	if err := m.Connect(context.Background()); !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("second Connect = %v", err)
	}
	if err := m.Run(context.Background()); !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("Run = %v, want ErrWrongPIN", err)
	}
	// Exactly one attempt was used: the SIM has 2 of 3 left.
	if tries := simPINTries(t, rig); tries != 2 {
		t.Fatalf("SIM has %d PIN tries left, want 2 (exactly one attempt)", tries)
	}
}

func TestPIN(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM7600", PIN: "1234"})
	m, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
	if !errors.Is(err, ErrPINRequired) || m != nil {
		t.Fatalf("no PIN configured: %v", err)
	}
	rig.cfg.PIN = "1234"
	m, err = Open(context.Background(), rig.cfg, rig.rec.handlers(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.State() != StateOnline {
		t.Fatalf("state %s", m.State())
	}
}

// pinTriesLeft asks the simulated modem through its port, optionally
// entering wrong PINs first.
func simPINTries(t *testing.T, rig *testRig, wrong ...string) int {
	t.Helper()
	m := New(rig.cfg, Handlers{})
	defer m.Close()
	c, err := m.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	run := func(cmd string) ([]string, error) { return c.cmd(cmd, 2*time.Second) }
	if _, err := run("E0"); err != nil {
		t.Fatal(err)
	}
	for _, pin := range wrong {
		if _, err := run(`+CPIN="` + pin + `"`); err == nil {
			t.Fatalf("PIN %s accepted", pin)
		}
	}
	mf, _ := run("+CGMI")
	n, ok := pinTriesLeft(run, firstAnswer(mf))
	if !ok {
		t.Fatal("no PIN counter")
	}
	return n
}

func TestPINNotRiskedOnLastTry(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"EC25", "SIM7600", "E3372"} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			rig := newRig(t, modemsim.Config{Model: model, PIN: "1234"})
			if left := simPINTries(t, rig, "0000", "1111"); left != 1 {
				t.Fatalf("%d tries left after 2 wrong PINs", left)
			}
			rig.cfg.PIN = "1234" // even the right one is not risked
			_, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
			if !errors.Is(err, ErrPINRequired) || !strings.Contains(err.Error(), "only 1") {
				t.Fatalf("Open = %v", err)
			}
			if left := simPINTries(t, rig); left != 1 {
				t.Fatalf("%d tries left, want 1 (no attempt)", left)
			}
		})
	}
}

func TestNotRegistered(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM800"})
	rig.sim.SetFault(modemsim.Fault{Deregistered: true})
	rig.cfg.InitTimeout = 2 * time.Second
	_, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
	if !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Open = %v, want ErrNotRegistered", err)
	}
}

func TestHangRecovered(t *testing.T) {
	t.Parallel()
	for _, mode := range []modemsim.HangMode{modemsim.HangUntilReset, modemsim.HangUntilReopen} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			rig := newRig(t, modemsim.Config{Model: "EC25"})
			rig.cfg.CommandTimeout = time.Second
			rig.cfg.SendTimeout = time.Second
			m, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
			if err != nil {
				t.Fatal(err)
			}
			// Hang before Run starts so the send is the first command
			// that meets the hang.
			rig.sim.SetFault(modemsim.Fault{Hang: true, HangMode: mode})
			_, err = m.Send(context.Background(), "+4917012345678", "into the void", false)
			// A hung modem gives no "> " prompt: the PDU was never written,
			// so the message certainly did not go out.
			var se *SendError
			if !errors.As(err, &se) || se.MaybeSent || !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrNotSent) || !se.Retryable || !se.ModemFault {
				t.Fatalf("send to hung modem: %v (%+v)", err, se)
			}
			if se.ReasonCode.Code != "modem.no_prompt" {
				t.Fatalf("send to hung modem: reason code %+v", se.ReasonCode)
			}
			var code interface{ CMSCode() int }
			if errors.As(err, &code) {
				t.Fatalf("a timeout must not look like a CMS error: %v", err)
			}
			rig.run(t, m)
			rig.rec.wait(t, "recovery", func() bool {
				return rig.rec.sawState(StateHung) && rig.rec.states[len(rig.rec.states)-1] == StateOnline
			})
			if mode == modemsim.HangUntilReset && !rig.rec.sawState(StateResetting) {
				t.Fatalf("states %v: no reset", rig.rec.states)
			}
			if _, err := m.Send(context.Background(), "+4917012345678", "back again", false); err != nil {
				t.Fatalf("send after recovery: %v", err)
			}
			sent := rig.sim.Sent()
			if sent[len(sent)-1].Text != "back again" {
				t.Fatalf("last sent %q", sent[len(sent)-1].Text)
			}
		})
	}
}

func TestUnplugAndReturn(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM7600"})
	m := rig.start(t)
	rig.sim.Reboot(100 * time.Millisecond)
	rig.rec.wait(t, "offline", func() bool { return rig.rec.sawState(StateOffline) })
	rig.rec.wait(t, "online again", func() bool { return rig.rec.states[len(rig.rec.states)-1] == StateOnline })
	// The port came back (ptys may reuse the old name): the modem must be
	// on the simulator's current one.
	if m.Info().Device != rig.sim.Path() {
		t.Fatalf("device %s, simulator serves %s", m.Info().Device, rig.sim.Path())
	}
	if _, err := m.Send(context.Background(), "+4917012345678", "after replug", false); err != nil {
		t.Fatal(err)
	}
}

// Two modems on one network: 1,600 characters each way, reassembled from
// their parts, with a delivery report for every part once delivered.
func TestModemToModem(t *testing.T) {
	t.Parallel()
	a := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 5 * time.Millisecond})
	sb, err := a.net.AddModem(context.Background(), modemsim.Config{Model: "SIM7600"})
	if err != nil {
		t.Fatal(err)
	}
	b := &testRig{net: a.net, sim: sb, cfg: a.cfg, rec: newRecorder()}
	b.cfg.Name = "gsm2"
	b.cfg.Locate = func(context.Context) (string, error) { return sb.Path(), nil }
	ma, mb := a.start(t), b.start(t)

	texts := []struct {
		from, to *Modem
		rx       *testRig
		text     string
		sim      *modemsim.Modem
	}{
		{ma, mb, b, strings.Repeat("Grüße 😀 ж ", 160), a.sim},           // 1,600 UCS-2 characters
		{mb, ma, a, strings.Repeat("A long € text ", 114) + "1234", sb}, // 1,600 GSM-7 characters
	}
	for _, tc := range texts {
		if n := len([]rune(tc.text)); n != 1600 {
			t.Fatalf("test text has %d characters", n)
		}
		res, err := tc.from.Send(context.Background(), tc.rx.sim.Number(), tc.text, true)
		if err != nil {
			t.Fatal(err)
		}
		plan, _ := sms.PlanText(tc.text)
		tc.rx.rec.wait(t, "all parts", func() bool { return len(tc.rx.rec.pdus) == plan.Parts })
		got := tc.rx.rec.texts(t)[tc.sim.Number()]
		if len(got) != 1 || got[0] != tc.text {
			t.Fatalf("received %d messages, want the 1,600-character text", len(got))
		}
		sender := a
		if tc.from == mb {
			sender = b
		}
		sender.rec.wait(t, "delivery reports", func() bool { return len(sender.rec.reports) == len(res.Parts) })
		for _, sr := range sender.rec.reports {
			if sr.Outcome != sms.Delivered || sr.Recipient != tc.rx.sim.Number() {
				t.Fatalf("report %+v", sr)
			}
		}
	}
}

// A modem that restarts behind an open port comes back in text mode with
// indications off; polling notices and initialises it again.
func TestSettingsLostAreRestored(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM800"})
	rig.cfg.PollInterval = 30 * time.Millisecond
	m := rig.start(t)
	c, err := m.current()
	if err != nil {
		t.Fatal(err)
	}
	m.opMu.Lock()
	for _, cmd := range []string{"+CMGF=1", "+CNMI=0,0,0,0,0"} {
		if _, err := c.cmd(cmd, time.Second); err != nil {
			m.opMu.Unlock()
			t.Fatal(err)
		}
	}
	m.opMu.Unlock()
	rig.rec.wait(t, "re-initialisation", func() bool {
		return rig.rec.sawState(StateRegistering) && rig.rec.states[len(rig.rec.states)-1] == StateOnline && len(rig.rec.states) >= 4
	})
	if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000003", Text: "after restart"}); err != nil {
		t.Fatal(err)
	}
	rig.rec.wait(t, "message", func() bool { return len(rig.rec.pdus) == 1 })
	if _, err := m.Send(context.Background(), "+4917012345678", "PDU mode again", false); err != nil {
		t.Fatal(err)
	}
}

// A routed message the store could not take is refused with AT+CNMA=2
// (RP-ERROR, 27.005 §3.4.4): the network delivers it again later, routing
// stays on, and pbxgate stores it then. (One left unanswered past the
// network's timeout goes to storage instead: TestCNMAAcknowledgement in
// drivers/modemsim, TestLateAcknowledgementRestoresRouting.) The ack
// timeout is long here: an AT+CNMA=2 that arrives after it would answer
// the next routed copy instead (27.005 ties AT+CNMA to no message).
func TestRoutedNotAcknowledgedIsRedelivered(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", AckTimeout: 5 * time.Second, RetryDelay: 50 * time.Millisecond})
	rig.cfg.RouteDirect = true
	rig.cfg.PollInterval = 30 * time.Millisecond
	rig.cfg.DrainInterval = 50 * time.Millisecond
	rig.rec.fail = 1
	m := rig.start(t)
	if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000004", Text: "try again"}); err != nil {
		t.Fatal(err)
	}
	rig.rec.wait(t, "redelivery", func() bool { return len(rig.rec.pdus) == 1 })
	if rig.rec.pdus[0].Text != "try again" {
		t.Fatalf("got %q", rig.rec.pdus[0].Text)
	}
	waitStorageEmpty(t, rig)
	nacks := 0
	for _, l := range outLines(m) {
		if l == "AT+CNMA=2" {
			nacks++
		}
	}
	if nacks != 1 {
		t.Fatalf("%d AT+CNMA=2, want 1", nacks)
	}
	// Routing works again for the next message.
	if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000004", Text: "second"}); err != nil {
		t.Fatal(err)
	}
	rig.rec.wait(t, "second message", func() bool { return len(rig.rec.pdus) == 2 })
	if rig.rec.pdus[1].Text != "second" {
		t.Fatalf("got %q", rig.rec.pdus[1].Text)
	}
}

func TestFailedDeliveryReport(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 5 * time.Millisecond})
	m := rig.start(t)
	rig.sim.SetFault(modemsim.Fault{ReportStatus: 0x46})
	res, err := m.Send(context.Background(), "+4917099999999", "expires", true)
	if err != nil {
		t.Fatal(err)
	}
	rig.rec.wait(t, "report", func() bool { return len(rig.rec.reports) == 1 })
	sr := rig.rec.reports[0]
	if sr.MR != res.Parts[0].MR || sr.Outcome != sms.Failed || sr.Status != 0x46 || !strings.Contains(sr.Reason, "validity") {
		t.Fatalf("report %+v", sr)
	}
}
