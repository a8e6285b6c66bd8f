package modem

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/pbxgate/pbxgate/gateway/sms"
)

// replayPeer answers the driver on a pty with recorded answers
// (testdata/replay, see its README).
type replayPeer struct {
	t      *testing.T
	master *os.File
	slave  *os.File
	mu     sync.Mutex
	exact  map[string][][]string // command → answers, consumed in turn
	prefix []replayEntry         // "AT+CMGS=*" style
	seen   []string              // commands the driver sent
	pdus   []string              // bodies typed after a "> " prompt
	// chunk > 0 writes everything in pieces of that many bytes with a
	// pause between them, as a slow UART delivers it: the driver reads
	// a line end, a prompt and its space each on their own.
	chunk atomic.Int32
	wmu   sync.Mutex // one write (an answer, an unsolicited line) at a time
}

type replayEntry struct {
	prefix  string
	answers [][]string
}

// loadScript parses a transcript into command → answer lines.
func loadScript(t *testing.T, name string) [][2]any {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "replay", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		if strings.HasPrefix(l, "AT") {
			out = append(out, [2]any{l, []string(nil)})
			continue
		}
		if len(out) == 0 {
			t.Fatalf("%s: answer %q before any command", name, l)
		}
		out[len(out)-1][1] = append(out[len(out)-1][1].([]string), l)
	}
	return out
}

func newReplayPeer(t *testing.T, script string) *replayPeer {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Iflag &^= unix.ICRNL | unix.IXON | unix.INLCR | unix.IGNCR
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	p := &replayPeer{t: t, master: master, slave: slave, exact: map[string][][]string{}}
	// The transcript's answers take precedence over base.txt's.
	own := map[string]bool{}
	for _, e := range loadScript(t, script) {
		own[e[0].(string)] = true
		p.add(e[0].(string), e[1].([]string))
	}
	for _, e := range loadScript(t, "base.txt") {
		if !own[e[0].(string)] {
			p.add(e[0].(string), e[1].([]string))
		}
	}
	go p.serve()
	t.Cleanup(func() {
		master.Close()
		slave.Close()
	})
	return p
}

func (p *replayPeer) add(cmd string, answer []string) {
	if strings.HasSuffix(cmd, "*") {
		pre := strings.TrimSuffix(cmd, "*")
		for i := range p.prefix {
			if p.prefix[i].prefix == pre {
				p.prefix[i].answers = append(p.prefix[i].answers, answer)
				return
			}
		}
		p.prefix = append(p.prefix, replayEntry{prefix: pre, answers: [][]string{answer}})
		return
	}
	p.exact[cmd] = append(p.exact[cmd], answer)
}

// answer takes the next answer for cmd ("ERROR" for an unknown one).
func (p *replayPeer) answer(cmd string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, cmd)
	take := func(q *[][]string) []string {
		a := (*q)[0]
		if len(*q) > 1 {
			*q = (*q)[1:]
		}
		return a
	}
	if q, ok := p.exact[cmd]; ok {
		a := take(&q)
		p.exact[cmd] = q
		return a
	}
	best := -1
	for i, e := range p.prefix {
		if strings.HasPrefix(cmd, e.prefix) && (best < 0 || len(e.prefix) > len(p.prefix[best].prefix)) {
			best = i
		}
	}
	if best >= 0 {
		return take(&p.prefix[best].answers)
	}
	return []string{"ERROR"}
}

func (p *replayPeer) write(s string) {
	n := int(p.chunk.Load())
	if n <= 0 {
		n = len(s)
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for i := 0; i < len(s); i += n {
		if i > 0 {
			time.Sleep(200 * time.Microsecond)
		}
		if _, err := p.master.Write([]byte(s[i:min(i+n, len(s))])); err != nil {
			if !errors.Is(err, os.ErrClosed) {
				p.t.Logf("replay peer write: %v", err)
			}
			return
		}
	}
}

// urc sends an unsolicited line.
func (p *replayPeer) urc(line string) { p.write("\r\n" + line + "\r\n") }

func (p *replayPeer) serve() {
	r := bufio.NewReader(p.master)
	var line []byte
	var pending []string // answer lines after a "> " prompt
	inPDU := false
	for {
		c, err := r.ReadByte()
		if err != nil {
			return
		}
		if inPDU {
			switch c {
			case 0x1a:
				p.mu.Lock()
				p.pdus = append(p.pdus, string(line))
				p.mu.Unlock()
				line, inPDU = line[:0], false
				p.reply(pending)
			case 0x1b:
				line, inPDU = line[:0], false
				p.write("\r\nOK\r\n")
			default:
				line = append(line, c)
			}
			continue
		}
		switch c {
		case '\r':
			cmd := strings.TrimSpace(string(line))
			line = line[:0]
			if len(cmd) < 2 || !strings.EqualFold(cmd[:2], "AT") {
				continue
			}
			ans := p.answer(cmd)
			for i, l := range ans {
				if l == "> " || l == ">" {
					p.reply(ans[:i])
					p.write("\r\n> ")
					pending, inPDU = ans[i+1:], true
					break
				}
			}
			if !inPDU {
				p.reply(ans)
			}
		case '\n', 0x1b:
			line = line[:0]
		default:
			line = append(line, c)
		}
	}
}

func (p *replayPeer) reply(lines []string) {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\r\n" + l + "\r\n")
	}
	if b.Len() > 0 {
		p.write(b.String())
	}
}

func (p *replayPeer) sent(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.seen {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// replayModem opens the driver on the peer's pty.
func replayModem(t *testing.T, p *replayPeer, rec *recorder, opts ...func(*Config)) *Modem {
	t.Helper()
	cfg := Config{
		Name: "replay", Device: p.slave.Name(),
		CommandTimeout: 2 * time.Second, InitTimeout: 10 * time.Second, SendTimeout: 5 * time.Second,
		PollInterval: time.Hour, DrainInterval: time.Hour, DeliveryReports: true,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := Open(context.Background(), cfg, rec.handlers(t))
	if err != nil {
		t.Fatalf("Open on the replayed modem: %v", err)
	}
	(&testRig{rec: rec}).run(t, m)
	return m
}

// Quectel M26 (warthog618/modem#17): identity as the modem gave it,
// registration 5 (roaming, 27.007 §7.2), storage ME chosen from a list
// without SR.
func TestReplayQuectelM26Init(t *testing.T) {
	t.Parallel()
	p := newReplayPeer(t, "quectel-m26-init.txt")
	rec := newRecorder()
	m := replayModem(t, p, rec)
	in := m.Info()
	if in.Manufacturer != "FOXCOM MODEM" || in.Model != "Quectel_M26" || in.IMEI != "012345678912345" || in.IMSI != "510019568278473" {
		t.Fatalf("identity %+v", in)
	}
	if in.Registration != "roaming" || in.CSQ != 28 {
		t.Fatalf("registration %q, CSQ %d", in.Registration, in.CSQ)
	}
	if d := m.dialectNow(); d.storage != "ME" || !d.cpms3 {
		t.Fatalf("storage %q (three memories %v)", d.storage, d.cpms3)
	}
}

// Brovi/Huawei E3372-325 (gammu#829): AT+CPMS="SM" alone is refused; the
// driver names all three memories to read a message announced in SM
// (+CMTI, 27.005 §3.4.1) and hands over the recorded SMS-DELIVER.
func TestReplayE3372StorageNeedsThreeMemories(t *testing.T) {
	t.Parallel()
	p := newReplayPeer(t, "huawei-e3372-325-storage.txt")
	rec := newRecorder()
	replayModem(t, p, rec)
	p.urc(`+CMTI: "SM",1`)
	rec.wait(t, "the message", func() bool { return len(rec.pdus) == 1 })
	if d := rec.pdus[0]; d.From != "+919884280026" || d.Text != "Ok sir" {
		t.Fatalf("message %+v", d)
	}
	if p.sent(`AT+CPMS="SM","ME","ME"`) == 0 {
		t.Fatal("the SM memory was not selected with three memories")
	}
}

// Quectel EC25 (asterisk-chan-quectel#75): the report is announced as
// +CDSI: "SM",0 and AT+CMGR=0 on SM answers an empty OK; the driver reads
// SR index 0 and hands over the report (a recorded SMS-STATUS-REPORT,
// 3GPP TS 23.040 §9.2.2.3).
func TestReplayEC25ReportAnnouncedInSM(t *testing.T) {
	t.Parallel()
	p := newReplayPeer(t, "quectel-ec25-cdsi-sm.txt")
	rec := newRecorder()
	m := replayModem(t, p, rec)
	res, err := m.Send(context.Background(), "+61439012244", "report me", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) != 1 || res.Parts[0].MR != 78 {
		t.Fatalf("result %+v, want MR 78 as recorded", res)
	}
	p.mu.Lock()
	typed := len(p.pdus)
	p.mu.Unlock()
	if typed != 1 {
		t.Fatalf("%d PDUs typed, want 1", typed)
	}
	p.urc(`+CDSI: "SM",0`)
	rec.wait(t, "the report", func() bool { return len(rec.reports) == 1 })
	if sr := rec.reports[0]; sr.MR != 6 || sr.Recipient != "+61439012244" || sr.Outcome != sms.Delivered {
		t.Fatalf("report %+v", sr)
	}
	if len(rec.pdus) != 0 {
		t.Fatalf("a report was handed over as a message: %+v", rec.pdus)
	}
}

// Huawei (gammu#438) refuses a send with +CMS ERROR: 500 (27.005 §3.2.5
// "unknown error"): a modem fault, retryable on another SIM, not unknown.
func TestReplayCMS500(t *testing.T) {
	t.Parallel()
	p := newReplayPeer(t, "huawei-cms500.txt")
	rec := newRecorder()
	m := replayModem(t, p, rec)
	_, err := m.Send(context.Background(), "+4917012345678", "refused", false)
	var se *SendError
	if !errors.As(err, &se) || se.CMS != 500 || !se.Retryable || !se.ModemFault || se.MaybeSent {
		t.Fatalf("send: %v (%+v)", err, se)
	}
	if !m.Ready() {
		t.Fatalf("a CMS error is an answer, not a hang: state %s", m.State())
	}
}

// SIMCom SIM800L (gammu#137, python-gsmmodem#60 and #44): AT+CNMI <ds>=2 is
// refused in both modes, the driver falls back to <ds>=1 (3GPP TS 27.005
// §3.4.1: reports routed as +CDS); a message announced in SM is read and
// handed over as recorded; a send gets the recorded MR 64 and the routed
// report for it (an SMS-STATUS-REPORT, TS 23.040 §9.2.2.3) settles it.
func TestReplaySIM800LReportsRouted(t *testing.T) {
	t.Parallel()
	replaySIM800LReportsRouted(t, newReplayPeer(t, "simcom-sim800l-cds.txt"))
}

// The same with the modem's answers arriving a byte at a time (each
// "\r\n" of the V.250 framing, the "> " prompt and its space in reads of
// their own): the driver's input path (the tap, which drops blank lines
// before the AT engine) keeps every line whole.
func TestReplaySIM800LByteByByte(t *testing.T) {
	t.Parallel()
	p := newReplayPeer(t, "simcom-sim800l-cds.txt")
	p.chunk.Store(1)
	replaySIM800LReportsRouted(t, p)
}

func replaySIM800LReportsRouted(t *testing.T, p *replayPeer) {
	rec := newRecorder()
	m := replayModem(t, p, rec)
	if in := m.Info(); in.Model != "SIMCOM_SIM800L" {
		t.Fatalf("model %q", in.Model)
	}
	if d := m.dialectNow(); d.ds != 1 || p.sent("AT+CNMI=2,1,0,1,0") != 1 || p.sent("AT+CNMI=2,1,0,2,0") != 1 {
		t.Fatalf("CNMI: ds %d, commands %v", d.ds, p.seen)
	}
	p.urc(`+CMTI: "SM",7`)
	rec.wait(t, "the message", func() bool { return len(rec.pdus) == 1 })
	// Decoded by hand from the recorded PDU: OA 0C91 197909913764, DCS 0,
	// 11 septets C8B4421174CFD175D014.
	if d := rec.pdus[0]; d.From != "+919790197346" || d.Text != "Hi\n\nAnshu S" {
		t.Fatalf("message %+v", d)
	}
	res, err := m.Send(context.Background(), "+919790197346", "report me", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) != 1 || res.Parts[0].MR != 64 {
		t.Fatalf("result %+v, want MR 64 as recorded", res)
	}
	p.write("\r\n+CDS: 25\r\n079119890400202306400C91197909913764511090718384225110907183252200\r\n")
	rec.wait(t, "the report", func() bool { return len(rec.reports) == 1 })
	if sr := rec.reports[0]; sr.MR != 64 || sr.Recipient != "+919790197346" || sr.Outcome != sms.Delivered {
		t.Fatalf("report %+v", sr)
	}
}

// SIMCom SIM7600G-H (simcom_wwan-setup, esp-protocols#789, LilyGo#340): the
// identity as the module gives it; after its start-up lines (RDY, +CPIN:
// READY, SMS DONE, unsolicited per 27.007 §8.3) the probe finds AT+CMEE at
// its power-on value 2 and the driver runs the whole setup again (PDU mode,
// indications), staying usable.
func TestReplaySIM7600Restart(t *testing.T) {
	t.Parallel()
	p := newReplayPeer(t, "simcom-sim7600-restart.txt")
	rec := newRecorder()
	m := replayModem(t, p, rec)
	in := m.Info()
	if in.Manufacturer != "SIMCOM INCORPORATED" || in.Model != "SIMCOM_SIM7600G-H" || in.IMEI != "868822040061788" || in.Firmware != "SIM7600M22_V2.0" {
		t.Fatalf("identity %+v", in)
	}
	if n := p.sent("AT+CMGF=0"); n != 1 {
		t.Fatalf("AT+CMGF=0 sent %d times before the restart", n)
	}
	for _, l := range []string{"RDY", "+CPIN: READY", "SMS DONE"} {
		p.urc(l)
	}
	rec.wait(t, "setup restored", func() bool { return p.sent("AT+CMGF=0") == 2 && p.sent("AT+CNMI=") >= 2 && m.Ready() })
	if p.sent("AT+CMEE?") == 0 {
		t.Fatal("the restart was not probed (AT+CMEE?)")
	}
	// Usable again: the AT console gets the recorded identity.
	res, err := m.Console(context.Background(), "AT+CGMM", 0, false)
	if err != nil || res.Final != "OK" || len(res.Lines) != 1 || res.Lines[0] != "SIMCOM_SIM7600G-H" {
		t.Fatalf("console after the restart: %+v %v", res, err)
	}
}

// SIMCom SIM7600G-H (jestson_STT_and_SMS_server, smstools3 log): the
// prompt comes, the PDU is written, no answer follows. The message may
// have gone out, so it is "maybe sent" — not handed to another SIM, not
// written again — and the modem is taken out of service as hung.
func TestReplaySIM7600HangAfterPDU(t *testing.T) {
	t.Parallel()
	p := newReplayPeer(t, "simcom-sim7600-hang-after-pdu.txt")
	rec := newRecorder()
	m := replayModem(t, p, rec, func(c *Config) { c.SendTimeout = time.Second })
	if in := m.Info(); in.Model != "SIMCOM_SIM7600G-H" || in.Firmware != "SIM7600G_V2.0.2" || in.IMEI != "862636055891897" {
		t.Fatalf("identity %+v", in)
	}
	_, err := m.Send(context.Background(), "+447504128961", "Ora curentă este 14:30. Cu ce vă pot ajuta?", false)
	var se *SendError
	if !errors.As(err, &se) || !se.MaybeSent || errors.Is(err, ErrNotSent) {
		t.Fatalf("send: %v (%+v), want maybe sent", err, se)
	}
	p.mu.Lock()
	typed := len(p.pdus)
	p.mu.Unlock()
	if typed != 1 || p.sent("AT+CMGS=") != 1 {
		t.Fatalf("%d PDUs typed, %d AT+CMGS; want the one attempt only", typed, p.sent("AT+CMGS="))
	}
	rec.wait(t, "hung", func() bool { return rec.sawState(StateHung) })
}
