package clicktochat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

func TestWhatsAppLink(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ number, text, want string }{
		{"+43 622 529010", "", "https://wa.me/43622529010"},                                                       // netscope: a link built, not followed
		{"0049 (30) 1234-567", "JOIN NEWS", "https://wa.me/49301234567?text=JOIN%20NEWS"},                         // netscope: a link built, not followed
		{"+4930123456", "Anmelden & Grüße?", "https://wa.me/4930123456?text=Anmelden%20%26%20Gr%C3%BC%C3%9Fe%3F"}, // netscope: a link built, not followed
	} {
		got, err := WhatsApp(c.number, c.text)
		if err != nil || got != c.want {
			t.Errorf("WhatsApp(%q, %q) = %q, %v; want %q", c.number, c.text, got, err, c.want)
			continue
		}
		// What the phone gets back out of the link is the keyword as typed.
		u, _ := url.Parse(got)
		if q := u.Query(); q.Get("text") != c.text {
			t.Errorf("%s: text decodes to %q", got, q.Get("text"))
		}
	}
}

func TestSMSLink(t *testing.T) {
	t.Parallel()
	got, err := SMS("+49 151 2345678", "START NEWS")
	if err != nil || got != "sms:+491512345678?body=START%20NEWS" {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, _ := SMS("+491512345678", ""); got != "sms:+491512345678" {
		t.Errorf("no text: %q", got)
	}
}

func TestLinksRejectBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ number, text, want string }{
		{"030 1234567", "x", "international"},
		{"+49 30 abc", "x", "contains"},
		{"+49", "x", "6 to 15 digits"},
		{"+4930123456", strings.Repeat("x", 301), "under 300"},
		{"+4930123456", "\xff", "UTF-8"},
	} {
		for name, f := range map[string]func(string, string) (string, error){"WhatsApp": WhatsApp, "SMS": SMS} {
			_, err := f(c.number, c.text)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s(%q, %.10q): got %v, want %q", name, c.number, c.text, err, c.want)
			}
		}
	}
}

func decode(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	return res.GetText()
}

func TestPNGDecodesToTheLink(t *testing.T) {
	t.Parallel()
	link, err := WhatsApp("+4930123456", "JOIN Grüße")
	if err != nil {
		t.Fatal(err)
	}
	b, err := PNG(link, Medium, 256)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != 256 || r.Dy() != 256 {
		t.Errorf("size %v", r)
	}
	if got := decode(t, img); got != link {
		t.Errorf("decoded %q, want %q", got, link)
	}
	if _, err := PNG(link, Medium, 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("tiny size: %v", err)
	}
	if _, err := PNG(strings.Repeat("x", 8000), Highest, 256); !errors.Is(err, ErrInvalid) {
		t.Errorf("too much content: %v", err)
	}
}

// TestSVGDecodesToTheLink rasterises the SVG's path (the subset SVG writes:
// M x y h w v1 h-w z) and decodes it.
func TestSVGDecodesToTheLink(t *testing.T) {
	t.Parallel()
	link, err := SMS("+491512345678", "STOP")
	if err != nil {
		t.Fatal(err)
	}
	b, err := SVG(link, High)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	var n int
	if _, err := fmt.Sscanf(doc.ViewBox, "0 0 %d", &n); err != nil || n < 21+8 {
		t.Fatalf("viewBox %q", doc.ViewBox)
	}
	const scale = 8
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for _, cmd := range strings.Split(doc.Path.D, "z") {
		if cmd == "" {
			continue
		}
		var x, y, w, w2 int
		if _, err := fmt.Sscanf(cmd, "M%d %dh%dv1h-%d", &x, &y, &w, &w2); err != nil || w != w2 {
			t.Fatalf("path command %q: %v", cmd, err)
		}
		for py := y * scale; py < (y+1)*scale; py++ {
			for px := x * scale; px < (x+w)*scale; px++ {
				img.SetGray(px, py, color.Gray{})
			}
		}
	}
	if got := decode(t, img); got != link {
		t.Errorf("decoded %q, want %q", got, link)
	}
}

// Telegram deep links (https://core.telegram.org/api/links#bot-links and
// the Bot API's "Deep linking": t.me/<bot>?start=<parameter>, the
// parameter up to 64 characters A-Z, a-z, 0-9, _ and -).
func TestTelegramDeepLink(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ bot, payload, want string }{
		{"pbxgate_demo_bot", "flyer-2026", "https://t.me/pbxgate_demo_bot?start=flyer-2026"}, // netscope: expected link text, never dialled
		{"@ShopBot", "", "https://t.me/ShopBot"},                                             // netscope: expected link text, never dialled
	} {
		got, err := Telegram(c.bot, c.payload)
		if err != nil || got != c.want {
			t.Errorf("Telegram(%q, %q) = %q, %v; want %q", c.bot, c.payload, got, err, c.want)
		}
	}
	for _, c := range []struct{ bot, payload string }{
		{"shop", ""}, {"my shop bot", ""}, {"pbxgate_bot", "has space"}, {"pbxgate_bot", strings.Repeat("a", 65)}, {"pbxgate_bot", "ä"},
	} {
		if _, err := Telegram(c.bot, c.payload); !errors.Is(err, ErrInvalid) {
			t.Errorf("Telegram(%q, %q) accepted: %v", c.bot, c.payload, err)
		}
	}
}
