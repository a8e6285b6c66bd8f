package mms

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // decoder
	"image/jpeg"
	_ "image/png" // decoder
	"math"
	"net/http"
	"path"
	"strings"
)

// Overhead is what an m-send-req adds around the media: headers, the
// text part and the part headers. Fit leaves room for it.
const Overhead = 2 * 1024

// MinImageSide is the smallest longer side Fit scales an image to; below
// it a picture is no longer worth sending.
const MinImageSide = 160

// FitError says why a file cannot be sent as MMS. Code is stable for
// translations: "unsupported_type", "too_large" (a file that cannot be
// recompressed) or "cannot_fit" (an image too large even scaled down).
type FitError struct {
	Code        string
	ContentType string
	Size, Limit int
}

func (e *FitError) Error() string {
	switch e.Code {
	case "unsupported_type":
		return fmt.Sprintf("%s cannot be sent as MMS (images, audio, video, vCard and PDF can)", e.ContentType)
	case "too_large":
		return fmt.Sprintf("the %s file has %d KB; the carrier takes at most %d KB per MMS and only images can be made smaller", e.ContentType, kb(e.Size), kb(e.Limit))
	default:
		return fmt.Sprintf("the image does not fit into %d KB even at %d pixels and low quality", kb(e.Limit), MinImageSide)
	}
}

// ErrCannotFit is wrapped by every FitError.
var ErrCannotFit = errors.New("file does not fit into an MMS")

func (e *FitError) Unwrap() error { return ErrCannotFit }

func kb(n int) int { return (n + 1023) / 1024 }

// Fitted is a file ready for an MMS and what was done to it.
type Fitted struct {
	Data         []byte
	ContentType  string
	Name         string
	OriginalSize int
	// Scaled: the image was scaled and/or recompressed to fit.
	Scaled                bool
	FromWidth, FromHeight int
	Width, Height         int
	Quality               int // JPEG quality used when re-encoded
}

var sendable = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/gif": true,
	"audio/amr": true, "audio/mpeg": true, "audio/mp4": true, "audio/ogg": true,
	"video/3gpp": true, "video/mp4": true,
	"text/vcard": true, "text/x-vcard": true, "application/pdf": true,
}

var byExt = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".amr": "audio/amr", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".ogg": "audio/ogg",
	".3gp": "video/3gpp", ".mp4": "video/mp4", ".vcf": "text/vcard", ".pdf": "application/pdf",
}

// DetectType returns the media type of a file from its content, with the
// file name's extension deciding where content sniffing cannot (vCard,
// AMR, 3GPP).
func DetectType(name string, data []byte) string {
	ct := http.DetectContentType(data)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if sendable[ct] {
		return ct
	}
	if t, ok := byExt[strings.ToLower(path.Ext(name))]; ok {
		// Content sniffing knows no vCard or AMR: trust the name only
		// where the content is not recognisably something else.
		if ct == "text/plain" || ct == "application/octet-stream" || strings.HasPrefix(t, "video/") || strings.HasPrefix(t, "audio/") {
			return t
		}
	}
	return ct
}

// Fit makes a file fit into an MMS of at most limit bytes (the carrier's
// limit; Overhead is kept free). Images too large are scaled down and
// re-encoded as JPEG; other files too large are refused with a FitError.
func Fit(name string, data []byte, limit int) (Fitted, error) {
	ct := DetectType(name, data)
	f := Fitted{Data: data, ContentType: ct, Name: path.Base(name), OriginalSize: len(data)}
	if !sendable[ct] {
		return f, &FitError{Code: "unsupported_type", ContentType: ct, Size: len(data), Limit: limit}
	}
	budget := limit - Overhead
	if len(data) <= budget {
		return f, nil
	}
	if !strings.HasPrefix(ct, "image/") {
		return f, &FitError{Code: "too_large", ContentType: ct, Size: len(data), Limit: limit}
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return f, fmt.Errorf("%w: %s is not a readable image: %w", ErrCannotFit, f.Name, err)
	}
	b := img.Bounds()
	f.FromWidth, f.FromHeight = b.Dx(), b.Dy()
	long := max(b.Dx(), b.Dy())
	// JPEG size grows roughly with the pixel count: start near the scale
	// the ratio suggests, then step down.
	floor := math.Min(1, float64(MinImageSide)/float64(long))
	scale := math.Max(floor, math.Min(1, math.Sqrt(float64(budget)/float64(len(data)))*1.2))
	for {
		w := max(1, int(float64(b.Dx())*scale))
		h := max(1, int(float64(b.Dy())*scale))
		scaled := img
		if scale < 1 {
			scaled = Resize(img, w, h)
		} else {
			w, h = b.Dx(), b.Dy()
		}
		for _, q := range []int{85, 70, 55, 40} {
			var out bytes.Buffer
			if err := jpeg.Encode(&out, flatten(scaled), &jpeg.Options{Quality: q}); err != nil {
				return f, fmt.Errorf("mms: encode JPEG: %w", err)
			}
			if out.Len() <= budget {
				f.Data, f.ContentType, f.Scaled = out.Bytes(), "image/jpeg", true
				f.Width, f.Height, f.Quality = w, h, q
				f.Name = strings.TrimSuffix(f.Name, path.Ext(f.Name)) + ".jpg"
				return f, nil
			}
		}
		if scale <= floor {
			return f, &FitError{Code: "cannot_fit", ContentType: ct, Size: len(data), Limit: limit}
		}
		scale = math.Max(scale*0.7, floor)
	}
}

// flatten puts an image with transparency on white (JPEG has no alpha).
func flatten(img image.Image) image.Image {
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return img
	}
	dst := image.NewRGBA(img.Bounds())
	draw.Draw(dst, dst.Bounds(), &image.Uniform{C: color.White}, image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), img, img.Bounds().Min, draw.Over)
	return dst
}

// Resize scales img to w×h by averaging the source pixels each target
// pixel covers (a box filter: good for shrinking, which is all Fit does).
func Resize(img image.Image, w, h int) *image.RGBA {
	src := image.NewRGBA(img.Bounds())
	draw.Draw(src, src.Bounds(), img, img.Bounds().Min, draw.Src)
	sb := src.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		y0, y1 := y*sh/h, max((y+1)*sh/h, y*sh/h+1)
		for x := 0; x < w; x++ {
			x0, x1 := x*sw/w, max((x+1)*sw/w, x*sw/w+1)
			var r, g, bl, a, n uint32
			for yy := y0; yy < y1; yy++ {
				row := src.Pix[yy*src.Stride:]
				for xx := x0; xx < x1; xx++ {
					p := row[xx*4 : xx*4+4]
					r += uint32(p[0])
					g += uint32(p[1])
					bl += uint32(p[2])
					a += uint32(p[3])
					n++
				}
			}
			d := dst.Pix[y*dst.Stride+x*4:]
			d[0], d[1], d[2], d[3] = uint8(r/n), uint8(g/n), uint8(bl/n), uint8(a/n)
		}
	}
	return dst
}
