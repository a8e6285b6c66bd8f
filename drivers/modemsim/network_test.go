package modemsim

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warthog618/modem/at"
	"github.com/warthog618/sms/encoding/tpdu"
)

// cmglPDUs parses a PDU-mode +CMGL answer into index -> TPDU.
func cmglPDUs(t *testing.T, info []string) map[int]*tpdu.TPDU {
	t.Helper()
	out := map[int]*tpdu.TPDU{}
	for i := 0; i < len(info); i++ {
		rest, ok := strings.CutPrefix(info[i], "+CMGL: ")
		if !ok {
			continue
		}
		idx, err := strconv.Atoi(strings.Split(rest, ",")[0])
		if err != nil || i+1 >= len(info) {
			t.Fatalf("bad CMGL line %q", info[i])
		}
		out[idx] = decodePDU(t, info[i+1])
		i++
	}
	return out
}

func TestStorageFullThenDrain(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800", StorageCapacity: 3})
	// nobody has the port open: 5 messages for 3 slots
	for i := 0; i < 5; i++ {
		if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4989" + strconv.Itoa(i), Text: "msg " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "SIM full", func() bool { st := m.Status(); return st.Storage["SM"].Used == 3 && st.Pending == 2 })
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	var texts []string
	for round := 0; round < 2; round++ {
		got := cmglPDUs(t, mustCmd(t, a, "+CMGL=4"))
		if len(got) == 0 {
			t.Fatalf("round %d: nothing stored", round)
		}
		for idx, p := range got {
			texts = append(texts, decodeText(t, p))
			mustCmd(t, a, "+CMGD="+strconv.Itoa(idx))
		}
		if round == 0 {
			waitFor(t, "pending delivered after delete", func() bool { st := m.Status(); return st.Pending == 0 && st.Storage["SM"].Used == 2 })
		}
	}
	sort.Strings(texts)
	if strings.Join(texts, ",") != "msg 0,msg 1,msg 2,msg 3,msg 4" {
		t.Fatalf("drained %q", texts)
	}
}

func TestStorageFullFault(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25"})
	m.SetFault(Fault{StorageFull: true})
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4989", Text: "later"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "held", func() bool { return m.Status().Pending == 1 })
	m.SetFault(Fault{})
	waitFor(t, "stored", func() bool { return m.Status().Storage["SM"].Used == 1 })
}

func TestModemToModemWithReports(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	sender := addModem(t, n, Config{Model: "EC25", DeliveryReportDelay: 10 * time.Millisecond})
	recv := addModem(t, n, Config{Model: "SIM7600"})

	cmt := make(lineCh, 8)
	r, _ := openAT(t, recv.Path(), at.WithIndication("+CMT:", cmt.handler, at.WithTrailingLine))
	initAT(t, r)
	mustCmd(t, r, "+CMGF=0")
	mustCmd(t, r, "+CNMI=2,2,0,0,0")

	cdsi := make(lineCh, 8)
	s, _ := openAT(t, sender.Path(), at.WithIndication("+CDSI:", cdsi.handler))
	initAT(t, s)
	mustCmd(t, s, "+CMGF=0")
	mustCmd(t, s, "+CNMI=2,1,0,2,0")

	text := strings.Repeat("Lange Nachricht mit Erweiterung [€]. ", 6)
	pdus := submitPDUs(t, recv.Number(), text, 9, true)
	mrs := map[int]bool{}
	for _, p := range pdus {
		mr, err := sendPDU(s, p)
		if err != nil {
			t.Fatal(err)
		}
		mrs[mr] = true
	}
	// the receiver gets routed DELIVERs it can reassemble
	parts := map[int]*tpdu.TPDU{}
	for range pdus {
		l := cmt.wait(t, "+CMT")
		d := decodePDU(t, l[1])
		if d.OA.Number() != sender.Number() {
			t.Fatalf("OA %s, want %s", d.OA.Number(), sender.Number())
		}
		_, seq, _, _ := d.ConcatInfo()
		parts[seq] = d
	}
	ordered := make([]*tpdu.TPDU, 0, len(parts))
	for i := 1; i <= len(parts); i++ {
		ordered = append(ordered, parts[i])
	}
	if got := decodeText(t, ordered...); got != text {
		t.Fatalf("received %q, want %q", got, text)
	}
	// EC25: reports stored in SR but announced as "SM"
	for range pdus {
		mem, idx := indexOf(t, cdsi.wait(t, "+CDSI")[0])
		if mem != "SM" {
			t.Fatalf("CDSI memory %q, want the EC25 quirk SM", mem)
		}
		mustCmd(t, s, `+CPMS="SR"`)
		info := mustCmd(t, s, "+CMGR="+strconv.Itoa(idx))
		if len(info) != 2 {
			t.Fatalf("CMGR in SR = %q", info)
		}
		sr := decodePDU(t, info[1])
		if sr.SmsType() != tpdu.SmsStatusReport || sr.RA.Number() != recv.Number() || sr.ST != 0 || !mrs[int(sr.MR)] {
			t.Fatalf("status report %+v", sr)
		}
		delete(mrs, int(sr.MR))
		mustCmd(t, s, "+CMGD="+strconv.Itoa(idx))
		mustCmd(t, s, `+CPMS="SM"`)
	}
	if sent := sender.Sent(); len(sent) != 1 || !sent[0].Complete || sent[0].Text != text || !sent[0].Parts[0].StatusReportRequested {
		t.Fatalf("sender Sent() = %+v", sent)
	}
}

func TestRoutedStatusReport(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800"})
	cds := make(lineCh, 2)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CDS:", cds.handler, at.WithTrailingLine))
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	mustCmd(t, a, "+CNMI=2,1,0,1,0")
	mr, err := sendPDU(a, submitPDUs(t, "+3312345678", "bonjour", 1, true)[0])
	if err != nil {
		t.Fatal(err)
	}
	l := cds.wait(t, "+CDS")
	if !strings.HasPrefix(l[0], "+CDS: ") {
		t.Fatalf("CDS line %q", l[0])
	}
	sr := decodePDU(t, l[1])
	if int(sr.MR) != mr || sr.RA.Number() != "+3312345678" {
		t.Fatalf("report mr %d ra %s, want %d +3312345678", sr.MR, sr.RA.Number(), mr)
	}
}

func TestInjectOutOfOrderForcedParts(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "E3372"})
	cmti := make(lineCh, 8)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CMTI:", cmti.handler))
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	mustCmd(t, a, "+CNMI=2,1,0,0,0")
	text := "Kurz, aber in drei Teilen 😀"
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "Amazon", Text: text, UCS2: true, Parts: 3, Order: []int{2, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	// at runs indication handlers in goroutines, so +CMTI order is lost;
	// slots fill lowest first, so slot order is delivery order.
	var idxs []int
	for i := 0; i < 3; i++ {
		_, idx := indexOf(t, cmti.wait(t, "+CMTI")[0])
		idxs = append(idxs, idx)
	}
	sort.Ints(idxs)
	var seqs []int
	parts := map[int]*tpdu.TPDU{}
	for i, idx := range idxs {
		info := mustCmd(t, a, "+CMGR="+strconv.Itoa(idx))
		d := decodePDU(t, info[1])
		total, seq, _, ok := d.ConcatInfo()
		if !ok || total != 3 || d.OA.Number() != "Amazon" {
			t.Fatalf("part %d: concat %v total %d from %q", i, ok, total, d.OA.Number())
		}
		if a, _ := d.Alphabet(); a != tpdu.AlphaUCS2 {
			t.Fatalf("alphabet %v, want UCS2", a)
		}
		seqs = append(seqs, seq)
		parts[seq] = d
	}
	if seqs[0] != 3 || seqs[1] != 1 || seqs[2] != 2 {
		t.Fatalf("delivery order %v, want [3 1 2]", seqs)
	}
	if got := decodeText(t, parts[1], parts[2], parts[3]); got != text {
		t.Fatalf("text %q, want %q", got, text)
	}
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "x", Text: "ab", Parts: 3}); err == nil {
		t.Fatal("2 characters in 3 parts must fail")
	}
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "x", Text: "abc", Parts: 3, Order: []int{0, 0, 1}}); err == nil {
		t.Fatal("order that is no permutation must fail")
	}
	if err := n.Inject(t.Context(), "+1555", InboundSMS{From: "x", Text: "abc"}); err == nil {
		t.Fatal("unknown number must fail")
	}
}

func TestUSSD(t *testing.T) {
	t.Parallel()
	n := newNet(t, WithUSSD("*102#", "Tarif: Flat"))
	m := addModem(t, n, Config{Model: "EC25"})
	cusd := make(lineCh, 2)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CUSD:", cusd.handler))
	initAT(t, a)
	mustCmd(t, a, `+CUSD=1,"*100#",15`)
	if got := cusd.wait(t, "+CUSD")[0]; got != `+CUSD: 0,"Ihr Guthaben beträgt 12,34 EUR",15` {
		t.Fatalf("CUSD = %q", got)
	}
	mustCmd(t, a, `+CUSD=1,"*102#",15`)
	if got := cusd.wait(t, "+CUSD")[0]; got != `+CUSD: 0,"Tarif: Flat",15` {
		t.Fatalf("CUSD = %q", got)
	}
	mustCmd(t, a, `+CUSD=1,"*999#",15`)
	if got := cusd.wait(t, "+CUSD")[0]; got != `+CUSD: 4` {
		t.Fatalf("unknown code CUSD = %q", got)
	}
}

func TestRebootPathAndCallback(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	paths := make(chan string, 4)
	m := addModem(t, n, Config{Model: "EC25", OnPathChange: func(p string) { paths <- p }})
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	m.Reboot(20 * time.Millisecond)
	select {
	case <-a.Closed():
	case <-time.After(guard):
		t.Fatal("port still open after Reboot")
	}
	select {
	case p := <-paths:
		if p != "" {
			t.Fatalf("first callback %q, want \"\" (gone)", p)
		}
	case <-time.After(guard):
		t.Fatal("no callback for the port going away")
	}
	var back string
	select {
	case back = <-paths:
	case <-time.After(guard):
		t.Fatal("no path after reboot")
	}
	if back == "" || back != m.Path() {
		t.Fatalf("callback path %q, Path() %q", back, m.Path())
	}
	b, _ := openAT(t, back)
	initAT(t, b)
	if got := mustCmd(t, b, "+CFUN?"); got[0] != "+CFUN: 1" {
		t.Fatalf("CFUN? = %q", got)
	}
}

func TestTextMode(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800"})
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	mustCmd(t, a, "+CMGF=1")
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4930111", Text: "Hallo Welt"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stored", func() bool { return m.Status().Storage["SM"].Used == 1 })
	info := mustCmd(t, a, `+CMGL="ALL"`)
	if len(info) != 2 || !strings.HasPrefix(info[0], `+CMGL: 1,"REC UNREAD","+4930111",,"`) || info[1] != "Hallo Welt" {
		t.Fatalf("CMGL text = %q", info)
	}
	info, err := a.SMSCommand(`+CMGS="+4930222"`, "Antwort")
	if err != nil || len(info) != 1 || !strings.HasPrefix(info[0], "+CMGS: ") {
		t.Fatalf("text CMGS = %q %v", info, err)
	}
	if s := m.Sent(); len(s) != 1 || s[0].Text != "Antwort" || s[0].To != "+4930222" {
		t.Fatalf("Sent = %+v", s)
	}
}

func TestUSSDHuaweiPacked(t *testing.T) {
	t.Parallel()
	n := newNet(t, WithUSSD("*100#", "Guthaben 5,00 EUR"))
	m := addModem(t, n, Config{Model: "E3372"})
	cusd := make(lineCh, 2)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CUSD:", cusd.handler))
	initAT(t, a)
	if err := cmdErr(a, `+CUSD=1,"*100#",15`); err == nil {
		t.Fatal("E3372 must reject a plain-text USSD string")
	}
	mustCmd(t, a, `+CUSD=1,"`+packUSSD("*100#")+`",15`)
	line := cusd.wait(t, "+CUSD")[0]
	hexText := strings.TrimSuffix(strings.TrimPrefix(line, `+CUSD: 0,"`), `",15`)
	if got, ok := unpackUSSD(hexText); !ok || got != "Guthaben 5,00 EUR" {
		t.Fatalf("CUSD %q decodes to %q", line, got)
	}
}

func TestBootURCs(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800", BootURCs: true})
	boots := m.Boots()
	m.Reboot(time.Millisecond)
	p, err := serialOpen(waitBoot(t, m, boots))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got := readUntil(t, p, "SMS Ready\r\n")
	if got != "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n" {
		t.Fatalf("boot lines %q", got)
	}
}

func TestCNMAAcknowledgement(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25", AckTimeout: 100 * time.Millisecond})
	cmt := make(lineCh, 4)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CMT:", cmt.handler, at.WithTrailingLine))
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	mustCmd(t, a, "+CSMS=1")
	mustCmd(t, a, "+CNMI=2,2,0,0,0")
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4930", Text: "acked"}); err != nil {
		t.Fatal(err)
	}
	cmt.wait(t, "+CMT")
	mustCmd(t, a, "+CNMA")
	if err := cmdErr(a, "+CNMA"); err != at.CMSError("340") {
		t.Fatalf("CNMA without pending message: %v, want CMS 340", err)
	}
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4930", Text: "not acked"}); err != nil {
		t.Fatal(err)
	}
	cmt.wait(t, "+CMT")
	// no AT+CNMA: the network retries, the modem stops routing and stores it
	waitFor(t, "stored after missing ack", func() bool { return m.Status().Storage["SM"].Used == 1 })
	if got := mustCmd(t, a, "+CNMI?"); got[0] != "+CNMI: 2,0,0,0,0" {
		t.Fatalf("CNMI after ack timeout = %q", got)
	}
	if st := m.Stored(); len(st) != 1 || st[0].Text != "not acked" {
		t.Fatalf("Stored = %+v", st)
	}
}

func TestFailedStatusReport(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM7600"})
	m.SetFault(Fault{ReportStatus: 0x46})
	cdsi := make(lineCh, 2)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CDSI:", cdsi.handler))
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	mustCmd(t, a, "+CNMI=2,1,0,2,0")
	mr, err := sendPDU(a, submitPDUs(t, "+4940123", "expire", 1, true)[0])
	if err != nil {
		t.Fatal(err)
	}
	mem, idx := indexOf(t, cdsi.wait(t, "+CDSI")[0])
	if mem != "SR" {
		t.Fatalf("SIM7600 announces %q, want SR", mem)
	}
	st := m.Stored()
	if len(st) != 1 || st[0].Type != "status-report" || st[0].Index != idx || st[0].MR != mr || st[0].ST != 0x46 || st[0].Recipient != "+4940123" {
		t.Fatalf("Stored = %+v (mr %d, idx %d)", st, mr, idx)
	}
}

func TestLongRoutedMessage(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25"})
	cmt := make(lineCh, 32)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CMT:", cmt.handler, at.WithTrailingLine))
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	mustCmd(t, a, "+CNMI=2,2,0,0,0")
	text := strings.Repeat("Preis: 10€ [Rabatt] ", 80) // 1,600 characters, 240 of them need an escape
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4930", Text: text}); err != nil {
		t.Fatal(err)
	}
	parts := map[int]*tpdu.TPDU{}
	total := -1
	for total < 0 || len(parts) < total {
		d := decodePDU(t, cmt.wait(t, "+CMT")[1])
		tot, seq, _, ok := d.ConcatInfo()
		if !ok {
			t.Fatal("long message part without concatenation header")
		}
		total = tot
		parts[seq] = d
	}
	ordered := make([]*tpdu.TPDU, 0, total)
	for i := 1; i <= total; i++ {
		ordered = append(ordered, parts[i])
	}
	if got := decodeText(t, ordered...); got != text {
		t.Fatalf("reassembled %d chars, want %d", len([]rune(got)), len([]rune(text)))
	}
	if total != 13 { // 80 × 23 septets = 1,840 septets, 153 per part
		t.Fatalf("%d parts, want 13", total)
	}
}

func TestStableLink(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	link := t.TempDir() + "/ttyUSB2"
	m := addModem(t, n, Config{Model: "EC25", Link: link})
	a, _ := openAT(t, link)
	initAT(t, a)
	boots := m.Boots()
	mustCmd(t, a, "+CFUN=1,1")
	path := waitBoot(t, m, boots)
	if target, err := os.Readlink(link); err != nil || target != path {
		t.Fatalf("link -> %q (%v), want %q", target, err, path)
	}
	b, _ := openAT(t, link)
	initAT(t, b)
	m.Close()
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("link left behind after Close: %v", err)
	}
}

func TestInjectPartsInTwoGoes(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800"})
	text := strings.Repeat("0123456789", 40) // 400 characters: 3 parts
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4930", Text: text, Ref: 200, Order: []int{1}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first part", func() bool { return len(m.Stored()) == 1 })
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4930", Text: text, Ref: 200, Order: []int{2, 0}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all parts", func() bool { return len(m.Stored()) == 3 })
	var got [4]string
	for _, st := range m.Stored() {
		if st.ConcatRef != 200 || st.Total != 3 {
			t.Fatalf("part %+v", st)
		}
		got[st.Seq] = st.Text
	}
	if got[1]+got[2]+got[3] != text {
		t.Fatalf("parts do not make up the text: %q", got)
	}
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4930", Text: "x", Ref: 256}); err == nil {
		t.Fatal("ref 256 accepted")
	}
}

// Routed status reports with AT+CSMS=1 follow 3GPP TS 27.005 §3.4.4 as the
// Quectel EC25&EC21 AT Commands Manual (AT+CNMA) and Siemens' MC35/MC55
// manuals word it: the TA sends no further +CDS before the previous one is
// acknowledged; AT+CNMA=2 (PDU mode only) sends RP-ERROR, so the network
// delivers the report again later (Config.RetryDelay) while routing stays
// on and the next one may follow at once; an AT+CNMA with nothing to
// acknowledge answers +CMS ERROR: 340.
func TestRoutedReportsAcknowledgedOneAtATime(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25", DeliveryReportDelay: time.Millisecond, RetryDelay: 50 * time.Millisecond})
	cds := make(lineCh, 8)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CDS:", cds.handler, at.WithTrailingLine))
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	mustCmd(t, a, "+CSMS=1")
	mustCmd(t, a, "+CNMI=2,1,0,1,0")
	var mrs []int
	for i, text := range []string{"one", "two"} {
		mr, err := sendPDU(a, submitPDUs(t, "+4940123", text, i+1, true)[0])
		if err != nil {
			t.Fatal(err)
		}
		mrs = append(mrs, mr)
	}
	mrOf := func(lines []string) int {
		t.Helper()
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "+CDS: ") {
			t.Fatalf("+CDS lines %q", lines)
		}
		return int(decodePDU(t, lines[1]).MR)
	}
	first := mrOf(cds.wait(t, "the first +CDS"))
	select {
	case l := <-cds:
		t.Fatalf("a second +CDS before AT+CNMA: %q", l)
	case <-time.After(200 * time.Millisecond):
	}
	mustCmd(t, a, "+CNMA=2") // refused: the next one may follow, this one comes again later
	second := mrOf(cds.wait(t, "the second +CDS"))
	if got := []int{first, second}; !(got[0] == mrs[0] && got[1] == mrs[1]) && !(got[0] == mrs[1] && got[1] == mrs[0]) {
		t.Fatalf("reports for MRs %v, sent %v", got, mrs)
	}
	mustCmd(t, a, "+CNMA")
	again := mrOf(cds.wait(t, "the refused +CDS again"))
	if again != first {
		t.Fatalf("redelivered MR %d, want %d", again, first)
	}
	mustCmd(t, a, "+CNMA=1")
	if err := cmdErr(a, "+CNMA"); err != at.CMSError("340") {
		t.Fatalf("AT+CNMA with nothing to acknowledge: %v, want +CMS ERROR: 340", err)
	}
	if got := mustCmd(t, a, "+CNMI?"); got[0] != "+CNMI: 2,1,0,1,0" {
		t.Fatalf("routing after acknowledgements: %q", got)
	}
	mustCmd(t, a, "+CMGF=1")
	if err := cmdErr(a, "+CNMA=2"); err != at.CMSError("302") {
		t.Fatalf("AT+CNMA=2 in text mode: %v, want +CMS ERROR: 302", err)
	}
	if st := m.Stored(); len(st) != 0 {
		t.Fatalf("routed reports were stored: %+v", st)
	}
}

// With AT+CSMS=0 the modem acknowledges a routed report itself (27.005
// §3.2.1 <service> 0; Telit: "sent to network immediately"): AT+CNMA has
// nothing to acknowledge and routing stays on.
func TestRoutedReportPhase2(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800", DeliveryReportDelay: time.Millisecond, AckTimeout: 50 * time.Millisecond})
	cds := make(lineCh, 4)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CDS:", cds.handler, at.WithTrailingLine))
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	mustCmd(t, a, "+CNMI=2,1,0,1,0")
	for i := range 2 {
		if _, err := sendPDU(a, submitPDUs(t, "+4940123", "x", i+1, true)[0]); err != nil {
			t.Fatal(err)
		}
	}
	cds.wait(t, "the first +CDS")
	cds.wait(t, "the second +CDS, unacknowledged")
	if err := cmdErr(a, "+CNMA"); err != at.CMSError("340") {
		t.Fatalf("AT+CNMA with AT+CSMS=0: %v, want +CMS ERROR: 340", err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := mustCmd(t, a, "+CNMI?"); got[0] != "+CNMI: 2,1,0,1,0" {
		t.Fatalf("routing: %q", got)
	}
}
