package modem

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/mms"
)

// MMS through real ptys against the simulator's EC25 and SIM7600
// dialects. The command sequences follow Quectel's "LTE Standard MMS
// Application Note" V1.1 (AT+QMMSCFG, AT+QFUPL … CONNECT … +QFUPL,
// AT+QMMSEDIT=1/4/5, AT+QMMSEND → +QMMSEND: 0,200) and SIMCom's MMS
// application notes (AT+CMMSCURL, AT+CMMSEDIT=1, AT+CMMSDOWN … CONNECT,
// AT+CMMSRECP, AT+CMMSSEND → +CMMSSEND: 0; AT+CMMSRECV="<url>" →
// +CMMSRECV: 0, AT+CMMSVIEW, AT+CMMSREAD). The MMSC on loopback decodes
// the m-send-req the modem built (OMA-MMS-ENC) and answers m-send-conf.

func photo(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(2))
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

type mmsRig struct {
	*testRig
	mmsc *modemsim.MMSC
	m    *Modem

	mu  sync.Mutex
	got []InboundMMS
}

func newMMSRig(t *testing.T, model string, limit int) *mmsRig {
	t.Helper()
	rig := newRig(t, modemsim.Config{Model: model, Number: "+4915110000001"})
	rig.cfg.SendTimeout = 10 * time.Second
	c, err := rig.net.StartMMSC(limit)
	if err != nil {
		t.Fatal(err)
	}
	r := &mmsRig{testRig: rig, mmsc: c}
	h := rig.rec.handlers(t)
	h.MMS = func(_ context.Context, _ string, in InboundMMS) error {
		r.mu.Lock()
		r.got = append(r.got, in)
		r.mu.Unlock()
		rig.rec.notify()
		return nil
	}
	m, err := Open(context.Background(), rig.cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	rig.run(t, m)
	r.m = m
	// Proxy as a carrier preset names it; the simulator records it.
	m.SetMMSSettings(MMSSettings{APN: "mms.example", MMSC: c.URL(), Proxy: "10.0.0.1", ProxyPort: 8080, MaxSize: limit}) // netscope: the simulator records the proxy, nothing dials it
	return r
}

func TestMMSSendFittedPhoto(t *testing.T) {
	for _, model := range []string{"EC25", "SIM7600", "SIM800"} {
		t.Run(model, func(t *testing.T) {
			r := newMMSRig(t, model, 300*1024)
			ctx := context.Background()
			sup, err := r.m.MMSCapability(ctx)
			if err != nil || !sup.Send {
				t.Fatalf("capability %+v %v", sup, err)
			}
			if want := model != "EC25"; sup.Receive != want {
				t.Fatalf("receive=%v for %s", sup.Receive, model)
			}
			orig := photo(t, 1600, 1200)
			f, err := mms.Fit("Urlaub 2026.jpeg", orig, 300*1024)
			if err != nil || !f.Scaled {
				t.Fatalf("fit: %v scaled=%v", err, f.Scaled)
			}
			res, err := r.m.SendMMS(ctx, "+4917012345678", "Angebot", "Nur heute: 20 % Rabatt", f)
			if err != nil {
				t.Fatalf("SendMMS: %v (trace %v)", err, r.m.Trace())
			}
			if res.Dialect != map[string]string{"EC25": "quectel", "SIM7600": "simcom", "SIM800": "simcom"}[model] {
				t.Fatalf("dialect %q", res.Dialect)
			}
			got := r.mmsc.Received()
			if len(got) != 1 {
				t.Fatalf("MMSC received %d messages", len(got))
			}
			p := got[0].PDU
			if len(p.To) != 1 || p.To[0] != "+4917012345678" || p.Subject != "Angebot" || p.Text() != "Nur heute: 20 % Rabatt" {
				t.Fatalf("m-send-req to %v subject %q text %q", p.To, p.Subject, p.Text())
			}
			media := p.Media()
			if len(media) != 1 || !bytes.Equal(media[0].Data, f.Data) || media[0].ContentType != "image/jpeg" {
				t.Fatalf("media: %d parts", len(media))
			}
			if got[0].Size > 300*1024 {
				t.Fatalf("PDU of %d bytes over the limit", got[0].Size)
			}
			// A second MMS on the same modem: the edit buffer was cleared.
			if _, err := r.m.SendMMS(ctx, "+4917012345679", "", "", f); err != nil {
				t.Fatal(err)
			}
			if p := r.mmsc.Received()[1].PDU; len(p.To) != 1 || p.To[0] != "+4917012345679" || p.Subject != "" || len(p.Media()) != 1 {
				t.Fatalf("second MMS carried the first one's fields: to %v subject %q media %d", p.To, p.Subject, len(p.Media()))
			}
		})
	}
}

func TestMMSRefusedAndMMSCFailures(t *testing.T) {
	for _, model := range []string{"EC25", "SIM7600"} {
		t.Run(model, func(t *testing.T) {
			r := newMMSRig(t, model, 100*1024)
			ctx := context.Background()
			// Fitting refuses audio over the limit before the modem is asked.
			if _, err := mms.Fit("voice.amr", append([]byte("#!AMR\n"), make([]byte, 200*1024)...), 100*1024); !errors.Is(err, mms.ErrCannotFit) {
				t.Fatalf("fit: %v", err)
			}
			small := mms.Fitted{Data: photo(t, 80, 60), ContentType: "image/jpeg", Name: "a.jpg"}
			// The MMSC refuses what is over its limit (a SIM set to a larger
			// limit than the carrier's): m-send-conf Error-permanent-content-not-accepted.
			r.m.SetMMSSettings(MMSSettings{MMSC: r.mmsc.URL()})
			big := mms.Fitted{Data: photo(t, 400, 300), ContentType: "image/jpeg", Name: "b.jpg"}
			if len(big.Data) <= 100*1024 {
				t.Fatalf("test picture has only %d bytes", len(big.Data))
			}
			if _, err := r.m.SendMMS(ctx, "+4917012345678", "", "", big); !errors.Is(err, ErrMMSCRejected) {
				t.Fatalf("over the MMSC limit: %v\n%v", err, r.m.Trace())
			}
			for _, mode := range []modemsim.MMSCFailure{"http", "status"} {
				r.mmsc.SetFailure(mode)
				_, err := r.m.SendMMS(ctx, "+4917012345678", "", "x", small)
				if !errors.Is(err, ErrMMSCRejected) {
					t.Fatalf("MMSC failure %q: %v", mode, err)
				}
			}
			if n := len(r.mmsc.Received()); n != 0 {
				t.Fatalf("MMSC accepted %d messages", n)
			}
			r.mmsc.SetFailure("")
			if _, err := r.m.SendMMS(ctx, "+4917012345678", "", "x", small); err != nil {
				t.Fatalf("after the MMSC recovered: %v", err)
			}
		})
	}
}

func TestMMSNotOnHuawei(t *testing.T) {
	r := newMMSRig(t, "E3372", 300*1024)
	sup, err := r.m.MMSCapability(context.Background())
	if err != nil || sup.Send || sup.Receive || sup.Reason == "" {
		t.Fatalf("%+v %v", sup, err)
	}
	_, err = r.m.SendMMS(context.Background(), "+4917012345678", "", "x", mms.Fitted{Data: []byte{1}, ContentType: "image/jpeg", Name: "a.jpg"})
	if !errors.Is(err, ErrNoMMS) {
		t.Fatalf("err %v", err)
	}
}

func TestMMSReceive(t *testing.T) {
	pic := photo(t, 64, 48)
	for _, model := range []string{"SIM7600", "EC25"} {
		t.Run(model, func(t *testing.T) {
			r := newMMSRig(t, model, 300*1024)
			err := r.net.DeliverMMS("+4915110000001", "+436641234567", "Foto", "Schau mal", []mms.Part{{ContentType: "image/jpeg", Name: "bild.jpg", Data: pic}})
			if err != nil {
				t.Fatal(err)
			}
			r.rec.wait(t, "an MMS", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) > 0 })
			r.mu.Lock()
			in := r.got[0]
			r.mu.Unlock()
			if in.From != "+436641234567" || in.Subject != "Foto" || !strings.Contains(in.Location, "127.0.0.1") || in.Size <= len(pic) {
				t.Fatalf("notification %+v", in)
			}
			if model == "EC25" {
				if in.Retrieved || !strings.Contains(in.Reason, "not retrievable") {
					t.Fatalf("EC25 cannot fetch: %+v", in)
				}
				return
			}
			if !in.Retrieved || in.Text != "Schau mal" || len(in.Media) != 1 || !bytes.Equal(in.Media[0].Data, pic) || in.Media[0].Name != "bild.jpg" {
				t.Fatalf("retrieved=%v reason %q text %q media %d", in.Retrieved, in.Reason, in.Text, len(in.Media))
			}
			// The push SMS is not handed over as a text message as well.
			r.rec.mu.Lock()
			n := len(r.rec.pdus)
			r.rec.mu.Unlock()
			if n != 0 {
				t.Fatalf("%d SMS handed over", n)
			}
		})
	}
}
