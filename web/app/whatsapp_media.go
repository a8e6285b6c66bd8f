package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"path/filepath"
	"strings"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

// MediaUploader uploads a file to Meta's media endpoint and returns the
// media id to send it by (*whatsapp.Channel through the daemon's adapter).
// r is read once, as a stream; when it can seek, its size is known.
type MediaUploader interface {
	UploadMedia(ctx context.Context, filename, mimeType string, r io.Reader) (id string, err error)
}

// uploadedMedia is a file Meta took.
type uploadedMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

var (
	ErrMediaUnavailable = errors.New("media upload is not available: the WhatsApp channel is not configured")
	// ErrMediaRead: the file could not be read from the client (broken
	// upload), not Meta's fault.
	ErrMediaRead = errors.New("reading the uploaded file failed")
)

// MediaRefused is Meta's (or the transport's) refusal of an upload.
type MediaRefused struct{ err error }

func (e *MediaRefused) Error() string { return "WhatsApp media upload: " + e.err.Error() }

func (e *MediaRefused) Unwrap() error { return e.err }

// sizeLimitReader fails once more than limit bytes were read, so a stream
// of unknown length cannot exceed the type's limit at Meta.
type sizeLimitReader struct {
	r     io.Reader
	limit int64
	n     int64
	kind  string
}

func (l *sizeLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n, fmt.Errorf("%w: more than %d bytes; WhatsApp accepts %s up to %s", whatsapp.ErrMediaSize, l.limit, l.kind, whatsapp.FormatSize(l.limit))
	}
	return n, err
}

// UploadMedia checks a file by its content (not the sender's claim) and
// size against WhatsApp's rules — allowed restricts the types (nil: all
// WhatsApp accepts) — and streams it to Meta. size < 0 means unknown: the
// stream is cut off at the type's limit. Errors wrap whatsapp.ErrMediaType,
// whatsapp.ErrMediaSize, errMediaRead, errMediaUnavailable or are
// *mediaRefused.
func (s *Server) UploadMedia(ctx context.Context, r io.Reader, declared, filename string, size int64, allowed []string) (uploadedMedia, error) {
	var um uploadedMedia
	if s.D.MediaUploader == nil {
		return um, ErrMediaUnavailable
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return um, fmt.Errorf("%w: %w", ErrMediaRead, err)
	}
	head = head[:n]
	if n == 0 {
		return um, fmt.Errorf("%w: the file is empty", whatsapp.ErrMediaType)
	}
	check := size
	if check < 0 {
		check = int64(n)
	}
	mc, err := whatsapp.CheckMedia(head, declared, filename, check, allowed)
	if err != nil {
		return um, err
	}
	filename = cleanFilename(filename, mc.Type)
	var body io.Reader
	if rs, ok := r.(io.ReadSeeker); ok && size >= 0 {
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			return um, fmt.Errorf("%w: %w", ErrMediaRead, err)
		}
		body = rs
	} else {
		body = &sizeLimitReader{r: io.MultiReader(bytes.NewReader(head), r), limit: mc.Limit, kind: mc.Type.MIME}
	}
	counted := &countReader{r: body}
	id, err := s.D.MediaUploader.UploadMedia(ctx, filename, mc.Type.MIME, counted)
	switch {
	case errors.Is(err, whatsapp.ErrMediaSize):
		return um, err
	case err != nil && counted.err != nil:
		return um, fmt.Errorf("%w: %w", ErrMediaRead, counted.err)
	case err != nil:
		return um, &MediaRefused{err}
	}
	return uploadedMedia{ID: id, MimeType: mc.Type.MIME, Filename: filename, Size: counted.n}, nil
}

// countReader counts what the upload read and keeps a read error.
type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// cleanFilename keeps the base name (browsers may send paths) and gives a
// nameless file one with the type's extension.
func cleanFilename(name string, t whatsapp.MediaType) string {
	name = strings.TrimSpace(filepath.Base(strings.ReplaceAll(name, "\\", "/")))
	if name == "" || name == "." || name == "/" {
		name = "upload" + t.Ext[0]
	}
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	return name
}

// mediaShortNames lists types as administrators know them ("JPG, PNG").
func mediaShortNames(types []string) string {
	var out []string
	for _, m := range types {
		if t, ok := whatsapp.LookupMediaType(m); ok {
			out = append(out, strings.ToUpper(strings.TrimPrefix(t.Ext[0], ".")))
		}
	}
	return strings.Join(out, ", ")
}

// MediaErrorText explains a failed upload in the user's language.
func (s *Server) MediaErrorText(v *View, err error, allowed []string) string {
	var refused *MediaRefused
	switch {
	case errors.Is(err, ErrMediaUnavailable):
		return v.T("media.err.unavailable")
	case errors.Is(err, whatsapp.ErrMediaType):
		if allowed == nil {
			return v.T("media.err.type_any")
		}
		return v.T("media.err.type", mediaShortNames(allowed))
	case errors.Is(err, whatsapp.ErrMediaSize):
		return v.T("media.err.too_large", sizeDetail(err))
	case errors.Is(err, ErrMediaRead):
		return v.T("media.err.read")
	case errors.As(err, &refused):
		var ae *whatsapp.APIError
		if errors.As(err, &ae) {
			return v.T("media.err.refused", ae.Error())
		}
		return v.T("media.err.failed", refused.err.Error())
	}
	return v.T("error.internal")
}

// sizeDetail is the "type up to limit" part of a size error.
func sizeDetail(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "WhatsApp accepts "); i >= 0 {
		rest := strings.TrimPrefix(msg[i:], "WhatsApp accepts ")
		if typ, lim, ok := strings.Cut(rest, " up to "); ok {
			if t, ok := whatsapp.LookupMediaType(typ); ok {
				typ = mediaShortNames([]string{t.MIME})
			}
			return typ + " ≤ " + lim
		}
	}
	return ""
}

// HeaderMediaUpload uploads the file chosen for a template header (IMAGE,
// VIDEO, DOCUMENT) in the campaign form.
func (s *Server) HeaderMediaUpload(ctx context.Context, format string, fh *multipart.FileHeader) (uploadedMedia, error) {
	f, err := fh.Open()
	if err != nil {
		return uploadedMedia{}, fmt.Errorf("%w: %w", ErrMediaRead, err)
	}
	defer f.Close()
	return s.UploadMedia(ctx, f, fh.Header.Get("Content-Type"), fh.Filename, fh.Size, whatsapp.HeaderMediaTypes(format))
}
