// netscope:file real carriers' WAP push notifications (MuditaOS' public tests): their MMSC URLs are decoded and compared, never fetched.
package mms

import (
	"bytes"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand"
	"testing"
	"time"
)

// Real MMS notifications as Polish carriers pushed them, from MuditaOS's
// PDU parser tests (github.com/mudita/MuditaOS,
// module-services/service-cellular/tests/unittest_pdu.cpp): the WSP push
// (TID, 0x06, headers) and the m-notification-ind inside. They were not
// produced by this package, so decoding them checks it against the wire.
func TestDecodePushFromRealCarriers(t *testing.T) {
	cases := []struct{ name, hex, from, location string }{
		{"Play (content type as text)",
			"0006226170706C69636174696F6E2F766E642E7761702E6D6D732D6D65737361676500AF848C82983132333435363738008D918A80" +
				"8E0302BF5F8805810303F47F83687474703A2F2F6D6D73632E706C61792E706C2F6D6D732F776170656E632F313233343536373800" +
				"8918802B34383938373635343332312F545950453D504C4D4E00",
			"+48987654321", "http://mmsc.play.pl/mms/wapenc/12345678"},
		{"T-Mobile",
			"C50603BEAF848C829831383261316237323931643835663230644070322E6D6D73632E742D6D6F62696C652E706C008D918A80" +
				"8E0285C288048102A8BE83687474703A2F2F31302E3234322E3234332E34303A393830302F6D6D313F69643D32323038313531" +
				"3832613162373238313932366630356262008918802B34383530353035303530352F545950453D504C4D4E009600",
			"+48505050505", "http://10.242.243.40:9800/mm1?id=220815182a1b7281926f05bb"},
		{"Plus (extra push headers)",
			"000607BE8DE9AF84B4808C8298303130322D67616B32346E326E643679393230008D908918802B34383738323738323738322F" +
				"545950453D504C4D4E008A808E0302211C88058103093A7E83687474703A2F2F6D6D733372783A383030322F303130322D6761" +
				"6B32346E326E64367939323000",
			"+48782782782", "http://mms3rx:8002/0102-gak24n2nd6y920"},
		{"Orange",
			"000607BEAF848DDBB4818C8298416263646566676869008D928918802B34383132333435363738392F545950453D504C4D4E008681" +
				"8A808E0285AE88048102A8BF83687474703A2F2F67656F6D323A383030322F6D6D73632F633F41626364656667686900",
			"+48123456789", "http://geom2:8002/mmsc/c?Abcdefghi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := hex.DecodeString(c.hex)
			if err != nil {
				t.Fatal(err)
			}
			m, err := DecodePush(b)
			if err != nil {
				t.Fatal(err)
			}
			if m.From != c.from || m.ContentLocation != c.location {
				t.Fatalf("from %q location %q, want %q %q", m.From, m.ContentLocation, c.from, c.location)
			}
			if m.MessageSize <= 0 || m.Expiry <= 0 {
				t.Fatalf("size %d expiry %s: both are mandatory in m-notification-ind", m.MessageSize, m.Expiry)
			}
		})
	}
	// The same source's negative cases: not a push, another application.
	for name, h := range map[string]string{
		"PDU type != push":    "000507BEAF848DDBB4818C8298416263646566676869008D928918802B34383132333435363738392F545950453D504C4D4E0086818A808E0285AE88048102A8BF83687474703A2F2F67656F6D323A383030322F6D6D73632F633F41626364656667686900",
		"other application":   "000607BEAF838DDBB4818C8298416263646566676869008D928918802B34383132333435363738392F545950453D504C4D4E0086818A808E0285AE88048102A8BF83687474703A2F2F67656F6D323A383030322F6D6D73632F633F41626364656667686900",
		"no application id":   "000605BE8DDBB4818C8298416263646566676869008D928918802B34383132333435363738392F545950453D504C4D4E0086818A808E0285AE88048102A8BF83687474703A2F2F67656F6D323A383030322F6D6D73632F633F41626364656667686900",
		"not a notification":  "000607BEAF848DDBB4818C8198416263646566676869008D928918802B34383132333435363738392F545950453D504C4D4E0086818A808E0285AE88048102A8BF83687474703A2F2F67656F6D323A383030322F6D6D73632F633F41626364656667686900",
		"truncated From":      "C50603BEAF848C829831383261316237323931643835663230644070322E6D6D73632E742D6D6F62696C652E706C008D918A808E0285C288048102A8BE83687474703A2F2F31302E3234322E3234332E34303A393830302F6D6D313F69643D323230383135313832613162373238313932366630356262008918802B34383530",
		"missing PDU content": "000608BEAF848DDBB481",
	} {
		b, _ := hex.DecodeString(h)
		if _, err := DecodePush(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestNotificationPushRoundTrip(t *testing.T) {
	n := Message{Type: TypeNotificationInd, TransactionID: "T1", From: "+491701234567", Subject: "Grüße",
		MessageSize: 123456, Expiry: 72 * time.Hour, ContentLocation: "http://127.0.0.1:8002/mms/1"}
	b, err := Encode(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePush(EncodePush(7, b))
	if err != nil {
		t.Fatal(err)
	}
	if got.From != n.From || got.Subject != n.Subject || got.MessageSize != n.MessageSize ||
		got.Expiry != n.Expiry || got.ContentLocation != n.ContentLocation || got.TransactionID != "T1" {
		t.Fatalf("got %+v", got)
	}
}

func TestSendReqRoundTrip(t *testing.T) {
	img := bytes.Repeat([]byte{0xFF, 0xD8, 0x00, 0x7F, 0x80}, 20000) // 100 KB: uintvar lengths of 3 octets
	m := Compose("tid-1", "", []string{"+4917012345678", "+436641234567"}, "Angebot", "Heute 20 % Rabatt – nur bis 18 Uhr", []Part{{ContentType: "image/jpeg", Name: "offer.jpg", Data: img}})
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	// OMA-MMS-ENC §7.3: the first header is X-Mms-Message-Type (0x8C) with m-send-req (0x80),
	// then X-Mms-Transaction-ID (0x98).
	if b[0] != 0x8C || b[1] != 0x80 || b[2] != 0x98 {
		t.Fatalf("PDU starts % X", b[:3])
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != TypeSendReq || got.TransactionID != "tid-1" || got.Subject != "Angebot" || len(got.To) != 2 || got.To[1] != "+436641234567" {
		t.Fatalf("headers %+v", got)
	}
	if got.ContentType != "application/vnd.wap.multipart.related" || got.Start != "smil" {
		t.Fatalf("content type %q start %q", got.ContentType, got.Start)
	}
	if got.Text() != "Heute 20 % Rabatt – nur bis 18 Uhr" {
		t.Fatalf("text %q", got.Text())
	}
	media := got.Media()
	if len(media) != 1 || media[0].Name != "offer.jpg" || media[0].ContentType != "image/jpeg" || !bytes.Equal(media[0].Data, img) {
		t.Fatalf("media %d parts", len(media))
	}
	// Every truncation is an error, never a panic or a silently short message.
	for _, n := range []int{1, 3, 10, len(b) / 2, len(b) - 1} {
		if _, err := Decode(b[:n]); err == nil {
			t.Errorf("decoding %d of %d bytes succeeded", n, len(b))
		}
	}
}

func TestSendConfStatus(t *testing.T) {
	b, _ := Encode(Message{Type: TypeSendConf, TransactionID: "x", ResponseStatus: StatusPermanentContentRejected, ResponseText: "Message too large"})
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.ResponseStatus != 0xE5 || m.ResponseText != "Message too large" || StatusText(m.ResponseStatus) != "Error-permanent-content-not-accepted" {
		t.Fatalf("%+v", m)
	}
}

// noisyJPEG is a photo-like image: noise does not compress, so the file is large.
func noisyJPEG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(1))
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

func TestFitScalesLargeImage(t *testing.T) {
	data := noisyJPEG(t, 1600, 1200)
	limit := 300 * 1024
	if len(data) <= limit {
		t.Fatalf("test image has only %d bytes", len(data))
	}
	f, err := Fit("photo.jpeg", data, limit)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Scaled || len(f.Data)+Overhead > limit || f.ContentType != "image/jpeg" || f.Name != "photo.jpg" {
		t.Fatalf("scaled=%v size %d type %s name %s", f.Scaled, len(f.Data), f.ContentType, f.Name)
	}
	img, err := jpeg.Decode(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != f.Width || f.Width >= 1600 || f.FromWidth != 1600 {
		t.Fatalf("width %d (reported %d, from %d)", img.Bounds().Dx(), f.Width, f.FromWidth)
	}
	// Aspect ratio kept within a pixel.
	if d := f.Width*1200 - f.Height*1600; d > 1600 || d < -1600 {
		t.Fatalf("%dx%d lost the 4:3 aspect", f.Width, f.Height)
	}
}

func TestFitKeepsSmallFileAndFlattensPNG(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	img.Set(1, 1, color.NRGBA{R: 255, A: 255})
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	f, err := Fit("logo.png", b.Bytes(), 300*1024)
	if err != nil || f.Scaled || !bytes.Equal(f.Data, b.Bytes()) || f.ContentType != "image/png" {
		t.Fatalf("small PNG changed: %v scaled=%v type=%s", err, f.Scaled, f.ContentType)
	}
}

func TestFitRefuses(t *testing.T) {
	// Audio cannot be recompressed: too large is refused with the sizes.
	amr := append([]byte("#!AMR\n"), bytes.Repeat([]byte{0x3c}, 400*1024)...)
	_, err := Fit("voice.amr", amr, 300*1024)
	var fe *FitError
	if !errors.As(err, &fe) || fe.Code != "too_large" || fe.ContentType != "audio/amr" || !errors.Is(err, ErrCannotFit) {
		t.Fatalf("err %v", err)
	}
	// An executable is no MMS content.
	_, err = Fit("setup.exe", append([]byte("MZ"), make([]byte, 100)...), 300*1024)
	if !errors.As(err, &fe) || fe.Code != "unsupported_type" {
		t.Fatalf("err %v", err)
	}
	// A noisy picture cannot get under 3 KB at 160 px.
	_, err = Fit("big.jpg", noisyJPEG(t, 320, 320), 3*1024+Overhead)
	if !errors.As(err, &fe) || fe.Code != "cannot_fit" {
		t.Fatalf("err %v", err)
	}
}

func BenchmarkFitPhoto2MP(b *testing.B) {
	data := noisyJPEG(b, 1600, 1200)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fit("p.jpg", data, 300*1024); err != nil {
			b.Fatal(err)
		}
	}
}
