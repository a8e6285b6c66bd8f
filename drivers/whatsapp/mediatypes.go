package whatsapp

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path/filepath"
	"strings"
)

// MediaType is one file type the Cloud API accepts for upload, with its
// size limit (Meta's "supported media types" table).
type MediaType struct {
	MIME string
	Kind string
	Max  int64
	// Ext are the usual file name extensions, first the preferred one.
	Ext []string
}

const mb = 1 << 20

// MediaTypes are the types Meta accepts at POST /{phone-number-id}/media.
// Stickers: static WebP up to 100 KB, animated up to 500 KB (see
// MediaLimit).
var MediaTypes = []MediaType{
	{"image/jpeg", TypeImage, 5 * mb, []string{".jpg", ".jpeg"}},
	{"image/png", TypeImage, 5 * mb, []string{".png"}},
	{"image/webp", "sticker", 500 << 10, []string{".webp"}},
	{"video/mp4", TypeVideo, 16 * mb, []string{".mp4"}},
	{"video/3gpp", TypeVideo, 16 * mb, []string{".3gp"}},
	{"audio/aac", TypeAudio, 16 * mb, []string{".aac"}},
	{"audio/amr", TypeAudio, 16 * mb, []string{".amr"}},
	{"audio/mpeg", TypeAudio, 16 * mb, []string{".mp3"}},
	{"audio/mp4", TypeAudio, 16 * mb, []string{".m4a"}},
	{"audio/ogg", TypeAudio, 16 * mb, []string{".ogg", ".opus"}},
	{"text/plain", TypeDocument, 100 * mb, []string{".txt"}},
	{"application/pdf", TypeDocument, 100 * mb, []string{".pdf"}},
	{"application/msword", TypeDocument, 100 * mb, []string{".doc"}},
	{"application/vnd.ms-excel", TypeDocument, 100 * mb, []string{".xls"}},
	{"application/vnd.ms-powerpoint", TypeDocument, 100 * mb, []string{".ppt"}},
	{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", TypeDocument, 100 * mb, []string{".docx"}},
	{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", TypeDocument, 100 * mb, []string{".xlsx"}},
	{"application/vnd.openxmlformats-officedocument.presentationml.presentation", TypeDocument, 100 * mb, []string{".pptx"}},
}

// MaxMediaBytes is the largest upload Meta accepts (documents).
const MaxMediaBytes = 100 * mb

// HeaderMediaTypes are the types a template header of the given format
// (IMAGE, VIDEO, DOCUMENT) takes: JPEG/PNG images, MP4/3GPP videos and,
// for documents, PDF only.
func HeaderMediaTypes(format string) []string {
	switch strings.ToUpper(format) {
	case "IMAGE":
		return []string{"image/jpeg", "image/png"}
	case "VIDEO":
		return []string{"video/mp4", "video/3gpp"}
	case "DOCUMENT":
		return []string{"application/pdf"}
	}
	return nil
}

// LookupMediaType finds a supported type by MIME name (parameters and case
// ignored; "video/3gp" is taken as video/3gpp).
func LookupMediaType(mimeType string) (MediaType, bool) {
	mt, _, err := mime.ParseMediaType(mimeType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(mimeType))
	}
	if mt == "video/3gp" {
		mt = "video/3gpp"
	}
	for _, t := range MediaTypes {
		if t.MIME == mt {
			return t, true
		}
	}
	return MediaType{}, false
}

// MediaLimit is the size limit of type t for a file starting with head:
// static WebP stickers have 100 KB, animated ones 500 KB.
func MediaLimit(t MediaType, head []byte) int64 {
	if t.MIME == "image/webp" && !webpAnimated(head) {
		return 100 << 10
	}
	return t.Max
}

func webpAnimated(head []byte) bool {
	// RIFF....WEBPVP8X, flags byte at 20, animation bit 0x02.
	return len(head) > 20 && string(head[12:16]) == "VP8X" && head[20]&0x02 != 0
}

// SniffMedia names the type of a file from its first bytes (512 are
// enough). Office formats share one container each (OLE2 for .doc/.xls/
// .ppt, ZIP for .docx/.xlsx/.pptx); for those the declared type or the
// file name's extension picks the member. It returns "" when the content
// is none of MediaTypes.
func SniffMedia(head []byte, declared, filename string) string {
	has := func(sig string) bool { return bytes.HasPrefix(head, []byte(sig)) }
	switch {
	case has("\xff\xd8\xff"):
		return "image/jpeg"
	case has("\x89PNG\r\n\x1a\n"):
		return "image/png"
	case has("RIFF") && len(head) >= 12 && string(head[8:12]) == "WEBP":
		return "image/webp"
	case has("%PDF-"):
		return "application/pdf"
	case has("#!AMR"):
		return "audio/amr"
	case has("OggS"):
		if bytes.Contains(head, []byte("OpusHead")) {
			return "audio/ogg" // Meta takes Ogg with the Opus codec only
		}
		return ""
	case has("ID3"):
		return "audio/mpeg"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		brand := string(head[8:12])
		switch {
		case strings.HasPrefix(brand, "3gp"):
			return "video/3gpp"
		case brand == "M4A " || brand == "M4B ":
			return "audio/mp4"
		case strings.HasPrefix(brand, "3g2"), brand == "qt  ":
			return "" // 3GPP2 and QuickTime are not accepted
		}
		return "video/mp4"
	case len(head) >= 2 && head[0] == 0xff && head[1]&0xf6 == 0xf0:
		return "audio/aac" // ADTS frame: sync word, layer 00
	case len(head) >= 2 && head[0] == 0xff && head[1]&0xe0 == 0xe0 && head[1]&0x06 != 0:
		return "audio/mpeg" // MPEG audio frame without ID3 tag
	case has("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return officeMember(declared, filename, "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint")
	case has("PK\x03\x04"):
		return officeMember(declared, filename,
			"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
			"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
			"application/vnd.openxmlformats-officedocument.presentationml.presentation")
	}
	if len(head) > 0 && strings.HasPrefix(http.DetectContentType(head), "text/plain") {
		return "text/plain"
	}
	return ""
}

func officeMember(declared, filename string, members ...string) string {
	if t, ok := LookupMediaType(declared); ok {
		for _, m := range members {
			if t.MIME == m {
				return m
			}
		}
	}
	ext := strings.ToLower(filepath.Ext(filename))
	for _, m := range members {
		t, _ := LookupMediaType(m)
		for _, e := range t.Ext {
			if e == ext {
				return m
			}
		}
	}
	return ""
}

// Errors of CheckMedia (uploads; ErrMediaTooLarge is about downloads);
// callers branch on them to explain the refusal.
var (
	ErrMediaType = errors.New("file type not accepted")
	ErrMediaSize = errors.New("file too large")
)

// MediaCheck is what CheckMedia found.
type MediaCheck struct {
	Type MediaType
	// Limit is the size limit for this file (MediaLimit).
	Limit int64
}

// CheckMedia sniffs a file's first bytes and checks its type against
// allowed (nil: every type of MediaTypes) and, when size >= 0, its size
// against the type's limit. The error wraps ErrMediaType or
// ErrMediaSize.
func CheckMedia(head []byte, declared, filename string, size int64, allowed []string) (MediaCheck, error) {
	var mc MediaCheck
	got := SniffMedia(head, declared, filename)
	if got == "" {
		return mc, fmt.Errorf("%w: the content is none of the types WhatsApp accepts", ErrMediaType)
	}
	if allowed != nil && !contains(allowed, got) {
		return mc, fmt.Errorf("%w: %s; allowed here: %s", ErrMediaType, got, strings.Join(allowed, ", "))
	}
	mc.Type, _ = LookupMediaType(got)
	mc.Limit = MediaLimit(mc.Type, head)
	if size > mc.Limit {
		return mc, fmt.Errorf("%w: %d bytes; WhatsApp accepts %s up to %s", ErrMediaSize, size, got, FormatSize(mc.Limit))
	}
	return mc, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FormatSize writes a limit as "5 MB" or "100 KB".
func FormatSize(n int64) string {
	if n >= mb && n%mb == 0 {
		return fmt.Sprintf("%d MB", n/mb)
	}
	if n >= mb {
		return fmt.Sprintf("%.1f MB", float64(n)/mb)
	}
	return fmt.Sprintf("%d KB", (n+1023)>>10)
}
