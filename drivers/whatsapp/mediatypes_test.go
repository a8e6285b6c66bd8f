package whatsapp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

func TestCheckMedia(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	mp4 := []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
	gp3 := []byte("\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x00")
	ole := []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00")
	zip := []byte("PK\x03\x04\x14\x00\x06\x00")
	static := []byte("RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00\x00")
	cases := []struct {
		head               []byte
		declared, filename string
		size               int64
		allowed            []string
		want               string
		err                error
	}{
		{png, "application/octet-stream", "a.png", 100, nil, "image/png", nil},
		{png, "", "", 5<<20 + 1, nil, "", whatsapp.ErrMediaSize},
		{png, "", "", 5 << 20, whatsapp.HeaderMediaTypes("IMAGE"), "image/png", nil},
		{png, "image/png", "a.png", 10, whatsapp.HeaderMediaTypes("DOCUMENT"), "", whatsapp.ErrMediaType},
		{[]byte("\xff\xd8\xff\xe0\x00\x10JFIF"), "", "", 10, nil, "image/jpeg", nil},
		{[]byte("%PDF-1.7\n"), "image/png", "x.png", 100 << 20, whatsapp.HeaderMediaTypes("DOCUMENT"), "application/pdf", nil},
		{mp4, "", "", 16 << 20, whatsapp.HeaderMediaTypes("VIDEO"), "video/mp4", nil},
		{gp3, "", "", 17 << 20, nil, "", whatsapp.ErrMediaSize},
		{gp3, "", "", 1, nil, "video/3gpp", nil},
		{[]byte("OggS\x00\x02" + strings.Repeat("\x00", 22) + "OpusHead"), "", "", 1, nil, "audio/ogg", nil},
		{[]byte("OggS\x00\x02" + strings.Repeat("\x00", 22) + "\x01vorbis"), "", "", 1, nil, "", whatsapp.ErrMediaType},
		{[]byte("GIF89a\x01\x00"), "image/gif", "a.gif", 1, nil, "", whatsapp.ErrMediaType},
		{[]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), "image/png", "a.png", 1, nil, "", whatsapp.ErrMediaType},
		{ole, "application/octet-stream", "Preise.XLS", 1, nil, "application/vnd.ms-excel", nil},
		{zip, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "x", 1, nil,
			"application/vnd.openxmlformats-officedocument.wordprocessingml.document", nil},
		{zip, "application/zip", "archive.zip", 1, nil, "", whatsapp.ErrMediaType},
		{[]byte("Hallo Welt\n"), "", "a.txt", 1, nil, "text/plain", nil},
		{static, "", "", 100 << 10, nil, "image/webp", nil},
		{static, "", "", 100<<10 + 1, nil, "", whatsapp.ErrMediaSize},
	}
	for i, c := range cases {
		mc, err := whatsapp.CheckMedia(c.head, c.declared, c.filename, c.size, c.allowed)
		switch {
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%d: err %v, want %v", i, err, c.err)
		case c.err == nil && (err != nil || mc.Type.MIME != c.want):
			t.Errorf("%d: %q %v, want %q", i, mc.Type.MIME, err, c.want)
		}
	}
	if s := whatsapp.FormatSize(100 << 10); s != "100 KB" {
		t.Errorf("FormatSize = %q", s)
	}
}

// TestUploadMediaStreams: the client uploads from a reader it cannot seek
// (no Content-Length) and from one it can, byte for byte; a file that
// cannot be read fails as such and leaves nothing at Meta.
func TestUploadMediaStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	data := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("pixel"), 300_000)...)
	for name, r := range map[string]io.Reader{
		"stream.png": io.MultiReader(bytes.NewReader(data)), // hides Seek
		"seek.png":   bytes.NewReader(data),
	} {
		id, err := e.ch.UploadMedia(ctx, "/some/dir/"+name, "image/png", r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, ok := e.emu.Media(id)
		if !ok || !bytes.Equal(m.Data, data) || m.Filename != name || m.MimeType != "image/png" {
			t.Errorf("%s: emulator has %v %q %q %d bytes", name, ok, m.Filename, m.MimeType, len(m.Data))
		}
	}
	n := e.emu.MediaCount()
	broken := io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(errors.New("disk gone")))
	if _, err := e.ch.UploadMedia(ctx, "x.png", "image/png", broken); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("broken file: %v", err)
	}
	if e.emu.MediaCount() != n {
		t.Error("a broken upload was stored")
	}
	e.emu.FailUploads(131053)
	_, err := e.ch.UploadMedia(ctx, "x.png", "image/png", bytes.NewReader(data))
	var ae *whatsapp.APIError
	if !errors.As(err, &ae) || ae.Code != 131053 {
		t.Errorf("refused upload: %v", err)
	}
}
