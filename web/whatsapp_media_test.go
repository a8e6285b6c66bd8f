package web

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// realWhatsApp is the drivers/whatsapp channel against the Cloud API
// emulator on loopback, as the daemon runs it with whatsapp.emulate.
func realWhatsApp(t *testing.T) (*whatsapp.Channel, *waemu.Server) {
	t.Helper()
	emu := waemu.New(waemu.Options{})
	srv := httptest.NewServer(emu)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	eo := emu.Options()
	ch, err := whatsapp.New(whatsapp.Options{BaseURL: srv.URL, APIVersion: "v23.0",
		PhoneNumberID: eo.PhoneNumberID, BusinessAccountID: eo.WABAID, Token: eo.Token, AppSecret: eo.AppSecret,
		VerifyToken: "verify", RequestTimeout: 30 * time.Second, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { emu.Run(ctx); done <- struct{}{} }()
	go func() { ch.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		srv.Close()
		st.Close()
	})
	return ch, emu
}

func pngBytes(t *testing.T, w, h int, noise bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	if noise {
		r := rand.New(rand.NewPCG(1, 2))
		for i := range img.Pix {
			img.Pix[i] = byte(r.Uint32())
		}
	} else {
		for x := range w {
			img.Set(x, x%h, color.NRGBA{R: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type upFile struct {
	field, name, ctype string
	data               []byte
}

func (c *client) postFiles(path string, fields map[string]string, files ...upFile) resp {
	c.env.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	for _, f := range files {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="` + f.field + `"; filename="` + f.name + `"`}
		h["Content-Type"] = []string{f.ctype}
		fw, _ := w.CreatePart(h)
		fw.Write(f.data)
	}
	w.Close()
	return c.do("POST", path, &buf, map[string]string{"Content-Type": w.FormDataContentType()})
}

// fieldErr is the error shown right after the input named field.
func fieldErr(body, field string) string {
	re := regexp.MustCompile(`(?s)<input id="` + regexp.QuoteMeta(html.EscapeString(field)) + `"[^>]*>\s*<p class="hint">[^<]*</p>\s*<p class="err" role="alert">([^<]*)</p>`)
	if m := re.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func formValue(body, name string) string {
	re := regexp.MustCompile(`name="` + regexp.QuoteMeta(html.EscapeString(name)) + `" value="([^"]*)"`)
	if m := re.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	re = regexp.MustCompile(`id="` + regexp.QuoteMeta(html.EscapeString(name)) + `" name="[^"]*" value="([^"]*)"`)
	if m := re.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// TestCampaignHeaderMediaUpload: a template header's file is uploaded with
// the campaign form through the real WhatsApp client to the Cloud API
// emulator; wrong types, oversized files and Meta's refusals are explained
// at the field in German; the campaign sends the returned media id.
func TestCampaignHeaderMediaUpload(t *testing.T) {
	t.Parallel()
	wa, emu := realWhatsApp(t)
	tpls := templateList{
		{Name: "flyer", Language: "de", Status: "APPROVED", Category: "MARKETING", Header: "IMAGE", Body: "Unser Angebot der Woche"},
		{Name: "katalog", Language: "de", Status: "APPROVED", Category: "MARKETING", Header: "DOCUMENT", Body: "Der neue Katalog"},
	}
	ch := &waChannel{}
	var eng *campaign.Engine
	env := newEnv(t, func(d *app.Deps) {
		eng = startEngine(t, d, map[string]campaign.Channel{"wa": ch}, campaign.Config{Templates: tpls})
		ch.eng = eng
		d.Templates = tpls
		d.MediaUploader = wa
	})
	c := env.client()
	c.setup("admin password")
	c.lang = "de"
	c.get("/lang/de")
	tok := c.csrf("/campaigns/new")
	const fileField, refField = "mediafile|flyer|de", "media|flyer|de"
	mustContain(t, c.body, `name="`+html.EscapeString(fileField)+`" type="file"`, "Datei hochladen", `id="media-preview"`)
	base := map[string]string{"csrf_token": tok, "name": "Flyer", "sender": "wa|", "numbers": "+4915123456789",
		"send": "now", "template": "flyer|de"}
	small := pngBytes(t, 24, 16, false)

	// A GIF claimed as PNG: the content decides.
	var gifBuf bytes.Buffer
	gif.Encode(&gifBuf, image.NewPaletted(image.Rect(0, 0, 4, 4), []color.Color{color.Black, color.White}), nil)
	r := c.postFiles("/campaigns/new", base, upFile{fileField, "bild.png", "image/png", gifBuf.Bytes()})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("GIF: %d", r.code)
	}
	if got := fieldErr(r.body, fileField); !strings.Contains(got, "Dieser Dateityp geht hier nicht. Erlaubt: JPG, PNG") {
		t.Errorf("GIF error at the field = %q", got)
	}
	// Over WhatsApp's 5 MB for images.
	big := pngBytes(t, 1200, 1200, true)
	r = c.postFiles("/campaigns/new", base, upFile{fileField, "gross.png", "image/png", big})
	if got := fieldErr(r.body, fileField); r.code != http.StatusUnprocessableEntity || !strings.Contains(got, "Die Datei ist zu groß (erlaubt: PNG ≤ 5 MB)") {
		t.Errorf("big PNG (%d bytes): %d, error %q", len(big), r.code, got)
	}
	// Meta refuses.
	emu.FailUploads(131053)
	r = c.postFiles("/campaigns/new", base, upFile{fileField, "angebot.png", "image/png", small})
	if got := fieldErr(r.body, fileField); !strings.Contains(got, "Meta hat die Datei abgelehnt: WhatsApp error 131053") {
		t.Errorf("refused upload: error %q", got)
	}
	if n := emu.MediaCount(); n != 0 {
		t.Fatalf("emulator holds %d media after refusals", n)
	}

	// Accepted, but the form has another error: the media id stays in the
	// URL/ID field and the preview names the file.
	noName := copyMap(base, "name", "")
	r = c.postFiles("/campaigns/new", noName, upFile{fileField, "C:\\Bilder\\angebot.png", "application/octet-stream", small})
	if r.code != http.StatusUnprocessableEntity || fieldErr(r.body, fileField) != "" {
		t.Fatalf("upload with missing name: %d %q", r.code, fieldErr(r.body, fileField))
	}
	id := formValue(r.body, refField)
	m, ok := emu.Media(id)
	if !ok || !bytes.Equal(m.Data, small) || m.MimeType != "image/png" || m.Filename != "angebot.png" {
		t.Fatalf("emulator has %q: %v %q %q %d bytes", id, ok, m.MimeType, m.Filename, len(m.Data))
	}
	mustContain(t, r.body, "Datei: angebot.png")
	f := copyMap(base, refField, id, "mediaref|flyer|de", formValue(r.body, "mediaref|flyer|de"),
		"medianame|flyer|de", formValue(r.body, "medianame|flyer|de"))
	r = c.postFiles("/campaigns/new", f)
	mm := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || mm == nil {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	if n := emu.MediaCount(); n != 1 {
		t.Errorf("the file was uploaded %d times", n)
	}
	camp := waitState(t, eng, mm[1], campaign.Completed)
	if h := camp.Spec.Content.WhatsApp.Header; h == nil || h.Type != "image" || h.MediaID != id || h.MediaURL != "" {
		t.Fatalf("campaign header = %+v", h)
	}
	ch.mu.Lock()
	sent := append([]campaign.TemplateMessage(nil), ch.sent...)
	ch.mu.Unlock()
	if len(sent) != 1 || sent[0].Header == nil || sent[0].Header.MediaID != id {
		t.Fatalf("sent = %+v", sent)
	}

	// A document header takes PDFs and keeps the file name for Meta.
	pdf := []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	f = copyMap(base, "template", "katalog|de", "name", "Katalog")
	r = c.postFiles("/campaigns/new", f, upFile{"mediafile|katalog|de", "katalog.png", "image/png", small})
	if got := fieldErr(r.body, "mediafile|katalog|de"); !strings.Contains(got, "Erlaubt: PDF") {
		t.Errorf("PNG as document: %q", got)
	}
	r = c.postFiles("/campaigns/new", f, upFile{"mediafile|katalog|de", "Katalog 2026.pdf", "application/pdf", pdf})
	mm = idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || mm == nil {
		t.Fatalf("create with PDF: %d %q", r.code, regexp.MustCompile(`class="err"[^>]*>[^<]*`).FindAllString(r.body, -1))
	}
	camp = waitState(t, eng, mm[1], campaign.Completed)
	if h := camp.Spec.Content.WhatsApp.Header; h == nil || h.Type != "document" || h.Filename != "Katalog 2026.pdf" {
		t.Fatalf("document header = %+v", h)
	} else if m, ok := emu.Media(h.MediaID); !ok || !bytes.Equal(m.Data, pdf) || m.MimeType != "application/pdf" {
		t.Errorf("emulator has the PDF as %v %q", ok, m.MimeType)
	}
}

// TestAPIUploadMedia: POST /api/v1/whatsapp/media streams raw and
// multipart uploads to the emulator and refuses by content and size.
func TestAPIUploadMedia(t *testing.T) {
	t.Parallel()
	wa, emu := realWhatsApp(t)
	env := newEnv(t, func(d *app.Deps) { d.MediaUploader = wa })
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/campaigns")
	hdr := func(ct string) map[string]string { return map[string]string{"Content-Type": ct, "X-CSRF-Token": tok} }
	small := pngBytes(t, 8, 8, false)
	decode := func(r resp) (out struct {
		ID, MimeType, Filename string
		Size                   int64
		Error                  struct{ Code, Message string }
	}) {
		t.Helper()
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
			t.Fatalf("answer %d %q: %v", r.code, r.body, err)
		}
		json.Unmarshal([]byte(r.body), &out)
		json.Unmarshal(raw["mime_type"], &out.MimeType)
		return out
	}

	r := c.do("POST", "/api/v1/whatsapp/media?filename=a.png", bytes.NewReader(small), hdr("application/octet-stream"))
	up := decode(r)
	if m, ok := emu.Media(up.ID); r.code != 200 || !ok || !bytes.Equal(m.Data, small) || m.Filename != "a.png" || up.MimeType != "image/png" || up.Size != int64(len(small)) {
		t.Fatalf("raw upload: %d %s", r.code, r.body)
	}

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "b.png")
	fw.Write(small)
	mw.Close()
	r = c.do("POST", "/api/v1/whatsapp/media?header=IMAGE", &buf, hdr(mw.FormDataContentType()))
	if up := decode(r); r.code != 200 || up.Filename != "b.png" {
		t.Fatalf("multipart upload: %d %s", r.code, r.body)
	}
	n := emu.MediaCount()

	r = c.do("POST", "/api/v1/whatsapp/media?header=DOCUMENT", bytes.NewReader(small), hdr("application/pdf"))
	if up := decode(r); r.code != http.StatusUnsupportedMediaType || up.Error.Code != "media_type" {
		t.Errorf("PNG as document: %d %s", r.code, r.body)
	}
	r = c.do("POST", "/api/v1/whatsapp/media", strings.NewReader("MZ\x90\x00 not a document"), hdr("application/pdf"))
	if r.code != http.StatusUnsupportedMediaType {
		t.Errorf("executable: %d %s", r.code, r.body)
	}
	// Too large, streamed as multipart (no length known up front): cut off
	// at the limit, nothing stored at Meta.
	big := append(pngBytes(t, 8, 8, false), make([]byte, 5<<20)...)
	buf.Reset()
	mw = multipart.NewWriter(&buf)
	fw, _ = mw.CreateFormFile("file", "big.png")
	fw.Write(big)
	mw.Close()
	r = c.do("POST", "/api/v1/whatsapp/media", &buf, hdr(mw.FormDataContentType()))
	if up := decode(r); r.code != http.StatusRequestEntityTooLarge || up.Error.Code != "too_large" {
		t.Errorf("big multipart: %d %s", r.code, r.body)
	}
	emu.FailUploads(131053)
	r = c.do("POST", "/api/v1/whatsapp/media", bytes.NewReader(small), hdr("image/png"))
	if up := decode(r); r.code != http.StatusBadGateway || up.Error.Code != "whatsapp_refused" || !strings.Contains(up.Error.Message, "131053") {
		t.Errorf("refused: %d %s", r.code, r.body)
	}
	if emu.MediaCount() != n {
		t.Errorf("refused uploads stored: %d media, want %d", emu.MediaCount(), n)
	}

	// Without a WhatsApp channel the endpoint says so.
	env2 := newEnv(t)
	c2 := env2.client()
	c2.setup("admin password")
	tok2 := c2.csrf("/campaigns")
	r = c2.do("POST", "/api/v1/whatsapp/media", bytes.NewReader(small), map[string]string{"Content-Type": "image/png", "X-CSRF-Token": tok2})
	if r.code != http.StatusServiceUnavailable {
		t.Errorf("no channel: %d %s", r.code, r.body)
	}
}
