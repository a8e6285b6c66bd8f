package smspool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// MMS campaigns through the pool, the drivers and the simulator on real
// ptys: SIM "a" is an EC25 (Quectel's MMS commands, "LTE Standard MMS
// Application Note" V1.1: AT+QFUPL … AT+QMMSEND → +QMMSEND: 0,200), SIM "b"
// a Huawei E3372, which has no MMS commands. The simulator's MMSC on
// loopback decodes each m-send-req the modem built (OMA-MMS-ENC), so the
// test sees what went over the air per recipient.

type mmsCampRig struct {
	*schedRig
	mmsc *modemsim.MMSC
	dir  string
}

func newMMSCampRig(t *testing.T) *mmsCampRig {
	t.Helper()
	sink := &engineSink{ev: newEvents()}
	h := newHarness(t, Config{Sink: sink, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}}})
	h.ev = sink.ev
	r := newSimRig(t, h, []string{"a", "b"}, simOpts{models: []string{"EC25", "E3372"}, timeout: 30 * time.Second})
	c, err := r.net.StartMMSC(300 * 1024)
	if err != nil {
		t.Fatal(err)
	}
	r.modems["a"].SetMMSSettings(modem.MMSSettings{APN: "mms.example", MMSC: c.URL(), MaxSize: 300 * 1024})
	ch, err := h.pool.Channel("main")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "mms", "campaigns")
	eng, err := campaign.New(campaign.Config{Store: h.st, Channels: map[string]campaign.Channel{"main": ch}, Region: "DE",
		Logger: testkit.Logger(), MediaDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sink.eng.Store(eng)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	r.attachAll()
	h.run()
	return &mmsCampRig{schedRig: &schedRig{t: t, h: h, r: r, eng: eng, ch: ch}, mmsc: c, dir: dir}
}

func noisyPhoto(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(3))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func three(prefix string) []recipients.Recipient {
	rs := make([]recipients.Recipient, 3)
	for i := range rs {
		rs[i] = recipients.Recipient{Number: fmt.Sprintf("+49151%s%06d", prefix, i), Vars: map[string]string{"first_name": fmt.Sprint("Kunde", i)}}
	}
	return rs
}

func TestMMSCampaignOnlyCapableSIM(t *testing.T) {
	s := newMMSCampRig(t)
	ctx := context.Background()
	orig := noisyPhoto(t, 1600, 1200)
	md, err := s.eng.FitMedia(ctx, "main", "Angebot.jpeg", orig)
	if err != nil {
		t.Fatalf("FitMedia: %v", err)
	}
	if !md.Scaled || md.Size > 300*1024 || md.OriginalSize != len(orig) || md.FromWidth != 1600 || md.Width >= 1600 || md.ContentType != "image/jpeg" {
		t.Fatalf("fitting result %+v", md)
	}
	if filepath.Dir(md.Path) != s.dir {
		t.Fatalf("stored at %s, not under %s", md.Path, s.dir)
	}
	c, err := s.eng.Create(ctx, campaign.Spec{Name: "mms", Channel: "main",
		Content: campaign.Content{Text: "Hallo {{first_name}}", Media: &md}, When: campaign.When{Kind: "now"}}, three("77"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	c = s.waitCampaign(c.ID, "3 sent", func(c campaign.Campaign) bool { return c.Counts.Sent+c.Counts.Delivered == 3 })
	got := s.mmsc.Received()
	if len(got) != 3 {
		t.Fatalf("MMSC received %d MMS, want 3", len(got))
	}
	stored, err := os.ReadFile(md.Path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, g := range got {
		if len(g.PDU.To) != 1 {
			t.Fatalf("m-send-req to %v", g.PDU.To)
		}
		seen[g.PDU.To[0]]++
		media := g.PDU.Media()
		if len(media) != 1 || !bytes.Equal(media[0].Data, stored) || !strings.HasPrefix(g.PDU.Text(), "Hallo Kunde") {
			t.Fatalf("MMS to %s: %d media parts, text %q", g.PDU.To[0], len(media), g.PDU.Text())
		}
	}
	for _, r := range three("77") {
		if seen[r.Number] != 1 {
			t.Fatalf("recipient %s got %d MMS (all: %v)", r.Number, seen[r.Number], seen)
		}
	}
	// The E3372 sent nothing: no SMS, no MMS.
	if n := len(s.r.sims["b"].Sent()); n != 0 {
		t.Fatalf("the SIM without MMS sent %d messages", n)
	}
	rs, err := s.eng.Recipients(ctx, c.ID, campaign.RecipientQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Items {
		// Handed to SIM a only, at the first attempt: the E3372 was never
		// offered the MMS (not tried and failed over).
		m, err := s.h.pool.Status(r.MsgID)
		if err != nil || m.SIM != "a" || m.Attempts != 1 || m.Media == nil {
			t.Fatalf("recipient %s: pool record %+v %v", r.Number, m, err)
		}
	}
}

func TestMMSCampaignRefusedAtSave(t *testing.T) {
	s := newMMSCampRig(t)
	ctx := context.Background()
	// A PDF over the limit cannot be made smaller (only pictures can).
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 400*1024)...)
	_, err := s.eng.FitMedia(ctx, "main", "Katalog.pdf", pdf)
	if !errors.Is(err, campaign.ErrInvalid) || message.ReasonOf(err).Code != "campaign.mms_too_large" {
		t.Fatalf("oversize PDF: %v (reason %+v)", err, message.ReasonOf(err))
	}
	if args := message.ReasonOf(err).Args; len(args) != 3 || args[0] != "application/pdf" || args[2] != "300" {
		t.Fatalf("reason args %v", args)
	}
	if ents, _ := os.ReadDir(s.dir); len(ents) != 0 {
		t.Fatalf("a refused file was stored: %v", ents)
	}
	// A spec naming a file pbxgate did not store is refused too.
	bad := campaign.Media{Path: "/etc/passwd", Fitting: campaign.Fitting{Name: "passwd", ContentType: "text/plain", Size: 10}}
	if _, err := s.eng.Create(ctx, campaign.Spec{Name: "x", Channel: "main", Content: campaign.Content{Media: &bad},
		When: campaign.When{Kind: "draft"}}, three("78")); !errors.Is(err, campaign.ErrInvalid) {
		t.Fatalf("foreign file accepted: %v", err)
	}
}

func TestMMSCampaignNoCapableSIM(t *testing.T) {
	sink := &engineSink{ev: newEvents()}
	h := newHarness(t, Config{Sink: sink, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"b"}}}})
	r := newSimRig(t, h, []string{"b"}, simOpts{models: []string{"E3372"}, timeout: 30 * time.Second})
	r.attachAll()
	h.run()
	ch, err := h.pool.Channel("main")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := campaign.New(campaign.Config{Store: h.st, Channels: map[string]campaign.Channel{"main": ch}, Region: "DE",
		Logger: testkit.Logger(), MediaDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The modem must be up before it can say it has no MMS.
	deadline := time.Now().Add(30 * time.Second)
	for !r.modems["b"].Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, err = eng.FitMedia(context.Background(), "main", "a.jpg", noisyPhoto(t, 40, 40))
	rc := message.ReasonOf(err)
	if !errors.Is(err, campaign.ErrInvalid) || rc.Code != "campaign.mms_no_sim" || len(rc.Args) != 2 || !strings.Contains(rc.Args[1], "b: ") {
		t.Fatalf("channel without MMS: %v (%+v)", err, rc)
	}
}

func TestMMSCampaignMMSCFailureIsReason(t *testing.T) {
	s := newMMSCampRig(t)
	ctx := context.Background()
	md, err := s.eng.FitMedia(ctx, "main", "Karte.vcf", []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Muster GmbH\r\nTEL:+4930123456\r\nEND:VCARD\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if md.ContentType != "text/vcard" || md.Scaled {
		t.Fatalf("vCard fitted as %+v", md)
	}
	s.mmsc.SetFailure("status")
	c, err := s.eng.Create(ctx, campaign.Spec{Name: "fail", Channel: "main",
		Content: campaign.Content{Media: &md}, When: campaign.When{Kind: "now"}}, three("79")[:1])
	if err != nil {
		t.Fatal(err)
	}
	s.waitCampaign(c.ID, "1 failed", func(c campaign.Campaign) bool { return c.Counts.Failed == 1 })
	rs, err := s.eng.Recipients(ctx, c.ID, campaign.RecipientQuery{})
	if err != nil || len(rs.Items) != 1 {
		t.Fatalf("recipients %v %v", rs, err)
	}
	rc := rs.Items[0].ReasonCode
	if !strings.Contains(rs.Items[0].Reason, "MMSC refused") || !strings.Contains(rs.Items[0].Reason, "+QMMSEND:") || !strings.Contains(fmt.Sprint(rc), "mms.mmsc_rejected") {
		t.Fatalf("reason %q code %+v", rs.Items[0].Reason, rc)
	}
	if n := len(s.r.sims["b"].Sent()); n != 0 {
		t.Fatalf("the SIM without MMS sent %d messages", n)
	}
}

func TestMMSCampaignPinnedToSIMWithoutMMS(t *testing.T) {
	s := newMMSCampRig(t)
	ctx := context.Background()
	md, err := s.eng.FitMedia(ctx, "main", "a.png", noisyPhoto(t, 64, 64))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.eng.Create(ctx, campaign.Spec{Name: "pin", Channel: "main", Sender: "b", Content: campaign.Content{Media: &md},
		When: campaign.When{Kind: "draft"}}, three("80"))
	if rc := message.ReasonOf(err); !errors.Is(err, campaign.ErrInvalid) || rc.Code != "campaign.mms_sender" || rc.Args[1] != "a" {
		t.Fatalf("pinned to the E3372: %v (%+v)", err, rc)
	}
}
