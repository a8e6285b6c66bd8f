package modemsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warthog618/modem/at"
	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"
)

// lineCh collects indication lines from at handlers.
type lineCh chan []string

func (c lineCh) handler(lines []string) { c <- lines }

func (c lineCh) wait(t *testing.T, what string) []string {
	t.Helper()
	select {
	case l := <-c:
		return l
	case <-time.After(guard):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

// decodePDU parses a PDU-mode hex line the way a driver does.
func decodePDU(t *testing.T, line string) *tpdu.TPDU {
	t.Helper()
	p, err := pdumode.UnmarshalHexString(line)
	if err != nil {
		t.Fatalf("PDU %q: %v", line, err)
	}
	tp, err := sms.Unmarshal(p.TPDU)
	if err != nil {
		t.Fatalf("TPDU %q: %v", line, err)
	}
	return tp
}

func decodeText(t *testing.T, ts ...*tpdu.TPDU) string {
	t.Helper()
	b, err := sms.Decode(ts)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return string(b)
}

// indexOf parses `+CMTI: "SM",3` into ("SM", 3).
func indexOf(t *testing.T, line string) (string, int) {
	t.Helper()
	_, rest, _ := strings.Cut(line, ": ")
	mem, idx, ok := strings.Cut(rest, ",")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil {
		t.Fatalf("bad indication %q", line)
	}
	return strings.Trim(mem, `"`), i
}

// submitPDUs encodes text as SMS-SUBMITs like a driver would.
func submitPDUs(t testing.TB, to, text string, ref int, srr bool) []string {
	t.Helper()
	e := sms.NewEncoder(sms.AsSubmit, sms.To(to))
	c := &sms.Counter{}
	for i := 1; i < ref; i++ {
		c.Count()
	}
	e.ConcatRef = c
	ts, err := e.Encode([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range ts {
		if srr {
			ts[i].FirstOctet |= tpdu.FoSRR
		}
		ts[i].MR = 0
		b, err := ts[i].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		p := pdumode.PDU{TPDU: b}
		h, err := p.MarshalHexString()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d:%s", len(b), h))
	}
	return out
}

func sendPDU(a *at.AT, lenAndHex string) (int, error) {
	l, h, _ := strings.Cut(lenAndHex, ":")
	info, err := a.SMSCommand("+CMGS="+l, h)
	if err != nil {
		return -1, err
	}
	for _, line := range info {
		if v, ok := strings.CutPrefix(line, "+CMGS: "); ok {
			return strconv.Atoi(v)
		}
	}
	return -1, fmt.Errorf("no +CMGS in %q", info)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInboundStoredReadDelete(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25"})
	cmti := make(lineCh, 4)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CMTI:", cmti.handler))
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	mustCmd(t, a, "+CNMI=2,1,0,2,0")
	text := "Grüße aus Köln – 10€ {ok}"
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4917012345678", Text: text}); err != nil {
		t.Fatal(err)
	}
	mem, idx := indexOf(t, cmti.wait(t, "+CMTI")[0])
	if mem != "SM" || idx != 0 {
		t.Fatalf("CMTI = %s,%d, want SM,0 (EC25 counts from 0)", mem, idx)
	}
	info := mustCmd(t, a, "+CMGR="+strconv.Itoa(idx))
	if len(info) != 2 || !strings.HasPrefix(info[0], "+CMGR: 0,,") {
		t.Fatalf("CMGR = %q", info)
	}
	d := decodePDU(t, info[1])
	if d.SmsType() != tpdu.SmsDeliver || d.OA.Number() != "+4917012345678" {
		t.Fatalf("got %v from %s", d.SmsType(), d.OA.Number())
	}
	if got := decodeText(t, d); got != text {
		t.Fatalf("text = %q, want %q", got, text)
	}
	if info := mustCmd(t, a, "+CMGR=0"); !strings.HasPrefix(info[0], "+CMGR: 1,,") {
		t.Fatalf("second read should be REC READ: %q", info)
	}
	mustCmd(t, a, "+CMGD=0")
	if info := mustCmd(t, a, "+CPMS?"); info[0] != `+CPMS: "SM",0,20,"SM",0,20,"SM",0,20` {
		t.Fatalf("CPMS after delete = %q", info)
	}
}

func TestSubmitMultipartUCS2(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM7600", SendLatency: time.Millisecond, SendJitter: time.Millisecond})
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	text := strings.Repeat("Привет 👋 мир! ", 12) // 168 chars, UCS-2 with surrogates: 3 parts
	pdus := submitPDUs(t, "+491701111111", text, 77, false)
	if len(pdus) < 3 {
		t.Fatalf("test text should need 3 parts, got %d", len(pdus))
	}
	for i, p := range pdus {
		mr, err := sendPDU(a, p)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if mr != i {
			t.Fatalf("part %d: +CMGS mr %d, want %d", i, mr, i)
		}
	}
	sent := m.Sent()
	if len(sent) != 1 {
		t.Fatalf("Sent() = %d messages, want 1", len(sent))
	}
	s := sent[0]
	if !s.Complete || s.Text != text || s.To != "+491701111111" {
		t.Fatalf("sent %+v\nwant text %q", s, text)
	}
	for i, p := range s.Parts {
		if p.Seq != i+1 || p.Total != len(pdus) || p.ConcatRef != 77 || p.Encoding != EncodingUCS2 || p.MR != i {
			t.Errorf("part %d = %+v", i, p)
		}
	}
	// a part sent twice is visible, not silently merged
	if _, err := sendPDU(a, pdus[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := sendPDU(a, pdus[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := sendPDU(a, pdus[0]); err != nil {
		t.Fatal(err)
	}
	sent = m.Sent()
	if len(sent) != 2 || sent[1].Complete || len(sent[1].Parts) != 2 || len(sent[1].Duplicates) != 1 || sent[1].Duplicates[0].Seq != 1 {
		t.Fatalf("resent parts: %+v", sent[1:])
	}
	// a wrong length is rejected like a real modem does
	l, h, _ := strings.Cut(pdus[0], ":")
	n2, _ := strconv.Atoi(l)
	_, err := a.SMSCommand("+CMGS="+strconv.Itoa(n2-1), h)
	var cmsErr at.CMSError
	if !errors.As(err, &cmsErr) || cmsErr != "304" {
		t.Fatalf("wrong length: err = %v, want CMS 304", err)
	}
}
