package pbx

import (
	"strings"
	"testing"
)

// A transfer from the phone (/transfer 202) through Kamailio: 202 gets the
// note first — from the gateway's identity ("pbxgate" <sip:gw@…>), not
// the customer's URI — then the backlog from the customer; 201 is told
// the transfer went through, also from the gateway.
func TestE2ETransferNoteFirstAndConfirmation(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{})
	p201 := newPhone(t, "201", "127.0.0.1", r.k.addr)
	p201.register(60)
	p202 := newPhone(t, "202", "127.0.0.1", r.k.addr)
	p202.register(60)
	r.sms(customer, "Ich brauche Hilfe", false)
	if got := p201.nextFrom(customer, "the customer's message"); got.Body != "Ich brauche Hilfe" {
		t.Fatalf("201 got %+v", got)
	}
	if res, err := p201.send(r.k.addr, customer, "/transfer 202"); err != nil || res.StatusCode != 202 {
		t.Fatalf("/transfer 202: %s", codeOf(res, err))
	}
	note := p202.next("transfer note")
	if note.From != "gw" || note.Display != "pbxgate" || !strings.Contains(note.Body, "transferred to you by 201") {
		t.Fatalf("202's first message %+v, want the note from the gateway", note)
	}
	if got := p202.next("backlog"); got.From != customer || got.Body != "Ich brauche Hilfe" {
		t.Fatalf("202's second message %+v, want the customer's backlog", got)
	}
	conf := p201.next("confirmation")
	if conf.From != "gw" || conf.Display != "pbxgate" || !strings.Contains(conf.Body, "was transferred to 202") || !strings.Contains(conf.Body, customer) {
		t.Fatalf("201 was told %+v, want a confirmation from the gateway naming 202 and the customer", conf)
	}
	if res, err := p202.send(r.k.addr, customer, "Hier ist 202"); err != nil || res.StatusCode != 202 {
		t.Fatalf("202's reply: %s", codeOf(res, err))
	}
	r.waitSent(customer, "Hier ist 202")
}
