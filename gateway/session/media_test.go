package session

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/mms"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// mmsOutbox is an SMS channel whose SIMs can (or cannot) send MMS.
type mmsOutbox struct {
	*outbox
	sim   string
	limit int
	why   string
	ok    bool
	asked []string
}

func (o *mmsOutbox) MMSRoute(_ context.Context, sender string) (string, int, string, bool) {
	o.asked = append(o.asked, sender)
	return o.sim, o.limit, o.why, o.ok
}

func mediaHarness(t *testing.T, route *mmsOutbox) *harness {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	route.outbox = h.out
	h.cfg.Channels[0].Sender = route
	h.cfg.MediaDir = filepath.Join(t.TempDir(), "replies")
	h.st.Close()
	h.open()
	return h
}

func noisyPNG(w, hgt int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, hgt))
	r := rand.New(rand.NewSource(1))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// A portal user's reply with a picture on an SMS session: the picture is
// fitted to the limit of the SIM the channel names for the session's
// sender, stored, and handed to the channel as an interactive MMS through
// that SIM; the log entry carries the file and what fitting did.
func TestReplyWithFileFittedToTheSessionsSIM(t *testing.T) {
	route := &mmsOutbox{sim: "sim1", limit: 60 * 1024, ok: true}
	h := mediaHarness(t, route)
	h.inbound("sms", alice, "Foto bitte")
	s := h.only("")
	att, err := h.m.ReplyWithFile(context.Background(), s.ID, "portal:alice", "", "plan.png", noisyPNG(600, 400))
	if err != nil {
		t.Fatal(err)
	}
	if !att.Scaled || att.ContentType != "image/jpeg" || att.Size > 60*1024-mms.Overhead || att.SIM != "sim1" || att.Limit != 60*1024 || att.Name != "plan.jpg" {
		t.Fatalf("attachment %+v", att)
	}
	if len(route.asked) != 1 || route.asked[0] != "sim1" {
		t.Fatalf("the route was asked for %v, want the session's sender sim1", route.asked)
	}
	sent := h.out.all()
	if len(sent) != 1 {
		t.Fatalf("sent %d", len(sent))
	}
	out := sent[0]
	if out.Media == nil || out.Sender != "sim1" || out.Class != message.Interactive || out.To != alice || out.Media.Size != att.Size {
		t.Fatalf("outbound %+v media %+v", out, out.Media)
	}
	data, err := os.ReadFile(out.Media.Path)
	if err != nil || len(data) != att.Size {
		t.Fatalf("stored file: %d bytes, %v", len(data), err)
	}
	log, err := h.m.Log(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	e := log[len(log)-1]
	if e.Dir != Out || e.Attachment == nil || e.MediaType != "image/jpeg" || e.By != "portal:alice" {
		t.Fatalf("entry %+v", e)
	}
	if p, ok := h.m.MediaPath(e.MediaID); !ok || p != out.Media.Path {
		t.Fatalf("MediaPath(%q) = %q %v, want %q", e.MediaID, p, ok, out.Media.Path)
	}
	for _, bad := range []string{"mmsout-../x", "mmsout-", "mms-1", "mmsout-.hidden", "mmsout-a/b"} {
		if _, ok := h.m.MediaPath(bad); ok {
			t.Errorf("MediaPath(%q) accepted", bad)
		}
	}
}

// What cannot be sent is refused with its reason, and nothing is stored
// or sent: a file over the limit that is not a picture, a channel none of
// whose SIMs can send MMS, and a WhatsApp session.
func TestReplyWithFileRefusals(t *testing.T) {
	route := &mmsOutbox{limit: 300 * 1024, ok: true}
	h := mediaHarness(t, route)
	h.inbound("sms", alice, "Katalog?")
	s := h.only("")
	before, _ := h.m.Log(s.ID)
	ctx := context.Background()

	pdf := append([]byte("%PDF-1.4\n"), make([]byte, 400*1024)...)
	_, err := h.m.ReplyWithFile(ctx, s.ID, "portal:alice", "Katalog", "k.pdf", pdf)
	if rc := message.ReasonOf(err); !errors.Is(err, ErrMediaRefused) || rc.Code != "campaign.mms_too_large" || rc.Args[2] != "300" {
		t.Fatalf("PDF over the limit: %v %+v", err, rc)
	}
	route.ok, route.why = false, "sim1: no MMS commands"
	_, err = h.m.ReplyWithFile(ctx, s.ID, "portal:alice", "", "a.png", noisyPNG(10, 10))
	if rc := message.ReasonOf(err); !errors.Is(err, ErrMediaRefused) || rc.Code != "session.mms_no_sim" || rc.Args[1] != "sim1: no MMS commands" {
		t.Fatalf("no capable SIM: %v %+v", err, rc)
	}
	if _, err := h.m.MediaOffer(ctx, s.ID); !errors.Is(err, ErrMediaRefused) {
		t.Fatalf("offer without a capable SIM: %v", err)
	}
	after, _ := h.m.Log(s.ID)
	if len(after) != len(before) || len(h.out.all()) != 0 {
		t.Fatalf("refused files left %d entries and %d sends", len(after)-len(before), len(h.out.all()))
	}

	h.inbound("wa", bob, "Hallo")
	var wa Session
	ss, _ := h.m.List(true, 0)
	for _, x := range ss {
		if x.Kind == message.WhatsApp {
			wa = x
		}
	}
	_, err = h.m.ReplyWithFile(ctx, wa.ID, "portal:alice", "", "a.png", noisyPNG(10, 10))
	if rc := message.ReasonOf(err); !errors.Is(err, ErrMediaRefused) || rc.Code != "session.mms_not_sms" {
		t.Fatalf("WhatsApp session: %v %+v", err, rc)
	}
	if _, err := h.m.ReplyWithFile(ctx, "nope", "portal:alice", "", "a.png", noisyPNG(10, 10)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
}

// BenchmarkReplyWithFile is one portal reply with a 1600×1200 noise photo
// (the worst case: noise does not compress) on an SMS session: fitting to
// 300 KB, storing the entry in Badger and handing it to the channel. The
// fitted file is content-addressed, so only the first iteration writes
// it; the later ones find it stored.
func BenchmarkReplyWithFile(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir(), Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	route := &mmsOutbox{outbox: &outbox{}, sim: "sim1", limit: 300 * 1024, ok: true}
	m, err := New(Config{Store: st, Deliverer: newPhones(), Logger: testLogger(), MediaDir: filepath.Join(b.TempDir(), "replies"),
		Channels: []Channel{{Name: "sms", Kind: message.SMS, Sender: route, Route: Target{Kind: ToExtension, ID: "201"}}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Inbound(context.Background(), message.Inbound{ID: "in-b", Kind: message.SMS, Channel: "sms", Receiver: "sim1",
		From: alice, Text: "Foto bitte", At: time.Now()}); err != nil {
		b.Fatal(err)
	}
	ss, _ := m.List(true, 0)
	id := ss[0].ID
	img := image.NewRGBA(image.Rect(0, 0, 1600, 1200))
	r := rand.New(rand.NewSource(2))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	var photo bytes.Buffer
	_ = jpeg.Encode(&photo, img, &jpeg.Options{Quality: 95})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := m.ReplyWithFile(context.Background(), id, "portal:alice", "", "foto.jpg", photo.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
