package pbx

import (
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/session"
)

// Text blocks from the phone (issue: "Textblöcke", seed
// 002_1b660700659137a7.txt): "#1" and "/t <name>" send the admin's block
// with the placeholders filled in; an unknown block is refused with 400
// and a notice naming the blocks there are; "#hashtag" (no such block)
// goes as written. Through Kamailio, SMS through a simulated modem.
func TestE2ETextBlocksFromThePhone(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{blocks: []session.TextBlock{
		{Name: "opening-hours", Text: "Hallo {name}, wir sind Mo–Fr 9–17 Uhr da. Ihr Team (Durchwahl {agent})"},
		{Name: "thanks", Text: "Danke für Ihre Nachricht an {number}!"},
	}})
	p := newPhone(t, "201", "127.0.0.1", r.k.addr)
	p.register(60)
	r.sms(customer, "Wann habt ihr offen?", false)
	p.nextFrom(customer, "the customer's question")

	if res, err := p.send(r.k.addr, customer, "#1"); err != nil || res.StatusCode != 202 {
		t.Fatalf("#1: %s", codeOf(res, err))
	}
	r.waitSent(customer, "Hallo "+customer+", wir sind Mo–Fr 9–17 Uhr da. Ihr Team (Durchwahl 201)")
	if res, err := p.send(r.k.addr, customer, "/t THANKS"); err != nil || res.StatusCode != 202 {
		t.Fatalf("/t THANKS: %s", codeOf(res, err))
	}
	r.waitSent(customer, "Danke für Ihre Nachricht an "+customer+"!")

	res, err := p.send(r.k.addr, customer, "/t preise")
	if err != nil || res.StatusCode != 400 {
		t.Fatalf("/t preise: %s, want 400", codeOf(res, err))
	}
	n := p.next("notice about the unknown block")
	if n.From != customer || !strings.Contains(n.Body, `no text block "preise"`) || !strings.Contains(n.Body, "1 opening-hours, 2 thanks") {
		t.Fatalf("notice %+v, want the blocks listed", n)
	}
	if sentText(r.sims[0], customer, "/t preise") {
		t.Fatal("the unknown block's command reached the customer")
	}
	if res, err := p.send(r.k.addr, customer, "#hashtag"); err != nil || res.StatusCode != 202 {
		t.Fatalf("#hashtag: %s", codeOf(res, err))
	}
	r.waitSent(customer, "#hashtag")
}
