package waemu_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

// upload posts one file as Meta's media endpoint expects it.
func (h *harness) upload(typ, name string, data []byte) (int, map[string]any) {
	h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("messaging_product", "whatsapp")
	if typ != "" {
		mw.WriteField("type", typ)
	}
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/media", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer emu-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestMediaUploadRules: the emulator takes Meta's types within each type's
// size limit and refuses the rest with Meta's codes.
func TestMediaUploadRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, waemu.Options{})
	animated := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02"), make([]byte, 200<<10)...)
	cases := []struct {
		name, typ string
		size      int
		data      []byte
		code      int // 0: accepted
	}{
		{"photo.png", "image/png", 5 << 20, nil, 0},
		{"photo.png", "image/png", 5<<20 + 1, nil, 131053},
		{"photo.jpg", "image/jpeg; charset=binary", 1000, nil, 0},
		{"clip.mp4", "video/mp4", 16<<20 + 1, nil, 131053},
		{"clip.3gp", "video/3gpp", 1000, nil, 0},
		{"doc.pdf", "application/pdf", 17 << 20, nil, 0},
		{"setup.exe", "application/octet-stream", 1000, nil, 100},
		{"anim.gif", "image/gif", 1000, nil, 100},
		{"static.webp", "image/webp", 150 << 10, nil, 131053},
		{"anim.webp", "image/webp", 0, animated, 0},
		{"empty.pdf", "application/pdf", 0, []byte{}, 131053},
		{"notype.bin", "", 10, nil, 0}, // the part's Content-Type (application/octet-stream) is not accepted → below
	}
	cases[len(cases)-1].code = 100
	for _, c := range cases {
		data := c.data
		if data == nil {
			data = bytes.Repeat([]byte{'x'}, c.size)
		}
		st, out := h.upload(c.typ, c.name, data)
		if got := code(out); got != c.code {
			t.Errorf("%s (%s, %d bytes): HTTP %d code %d, want %d: %v", c.name, c.typ, len(data), st, got, c.code, out)
			continue
		}
		if c.code != 0 {
			continue
		}
		id, _ := out["id"].(string)
		m, ok := h.emu.Media(id)
		if !ok || m.Filename != c.name || len(m.Data) != len(data) || !strings.HasPrefix(c.typ, m.MimeType) {
			t.Errorf("%s: stored %v %q %q %d bytes", c.name, ok, m.MimeType, m.Filename, len(m.Data))
		}
	}
	_, out := h.upload("image/gif", "a.gif", []byte("GIF89a"))
	if msg := out["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "Received file of type 'image/gif'") {
		t.Errorf("type refusal: %q", msg)
	}
	h.emu.FailUploads(131053)
	n := h.emu.MediaCount()
	if _, out := h.upload("image/png", "a.png", []byte("x")); code(out) != 131053 {
		t.Errorf("injected failure: %v", out)
	}
	if _, out := h.upload("image/png", "a.png", []byte("x")); code(out) != 0 || h.emu.MediaCount() != n+1 {
		t.Errorf("upload after the injected failure: %v", out)
	}
}
