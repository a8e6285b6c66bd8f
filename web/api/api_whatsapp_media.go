package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

// APIUploadMedia takes POST /api/v1/whatsapp/media: the file as the raw
// body (Content-Type, optional ?filename=) or as multipart field "file".
// Optional ?header=IMAGE|VIDEO|DOCUMENT restricts it to what that template
// header takes. The file is streamed to Meta; the answer's id goes into a
// campaign's header (whatsapp.header.media_id).
func (s *API) APIUploadMedia(c *gin.Context) {
	if s.D.MediaUploader == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", app.ErrMediaUnavailable.Error(), "")
		return
	}
	var allowed []string
	if h := c.Query("header"); h != "" {
		if allowed = whatsapp.HeaderMediaTypes(h); allowed == nil {
			app.APIError(c, http.StatusBadRequest, "invalid", "header must be IMAGE, VIDEO or DOCUMENT", "header")
			return
		}
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, whatsapp.MaxMediaBytes+1<<20)
	var (
		r        io.Reader = c.Request.Body
		declared           = c.ContentType()
		filename           = c.Query("filename")
		size     int64     = c.Request.ContentLength
	)
	if strings.HasPrefix(declared, "multipart/") {
		mr, err := c.Request.MultipartReader()
		if err != nil {
			app.APIError(c, http.StatusBadRequest, "invalid", "unreadable multipart body: "+err.Error(), "file")
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				app.APIError(c, http.StatusBadRequest, "invalid", `multipart body has no part named "file"`, "file")
				return
			}
			if p.FormName() == "file" {
				r, declared, size = p, p.Header.Get("Content-Type"), -1
				if filename == "" {
					filename = p.FileName()
				}
				break
			}
			p.Close()
		}
	} else if filename == "" {
		if _, params, err := mime.ParseMediaType(c.GetHeader("Content-Disposition")); err == nil {
			filename = params["filename"]
		}
	}
	um, err := s.UploadMedia(c.Request.Context(), r, declared, filename, size, allowed)
	var refused *app.MediaRefused
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		s.Log.Info("WhatsApp media uploaded", "id", um.ID, "type", um.MimeType, "size", um.Size, "user", app.CurrentUser(c).Name)
		c.JSON(http.StatusOK, um)
	case errors.Is(err, whatsapp.ErrMediaType):
		list := allowed
		if list == nil {
			for _, t := range whatsapp.MediaTypes {
				list = append(list, t.MIME)
			}
		}
		app.APIError(c, http.StatusUnsupportedMediaType, "media_type",
			"the file's content is not a type accepted here ("+strings.Join(list, ", ")+")", "file")
	case errors.Is(err, whatsapp.ErrMediaSize), errors.As(err, &tooBig):
		app.APIError(c, http.StatusRequestEntityTooLarge, "too_large", err.Error(), "file")
	case errors.Is(err, app.ErrMediaRead):
		app.APIError(c, http.StatusBadRequest, "invalid", err.Error(), "file")
	case errors.As(err, &refused):
		s.Log.Warn("WhatsApp media upload refused", "err", err)
		app.APIError(c, http.StatusBadGateway, "whatsapp_refused", err.Error(), "file")
	default:
		app.APIError(c, http.StatusInternalServerError, "internal", err.Error(), "")
	}
}
