package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// MMS through the modems (docs/mms.md): capability per modem, carrier
// presets, fitting a file, sending one MMS.

func (s *API) mmsAvailable(c *gin.Context) bool {
	if s.D.MMS == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", "MMS is not available: no SMS modems are configured", "")
		return false
	}
	return true
}

// APIMMSModems serves GET /api/v1/mms/modems.
func (s *API) APIMMSModems(c *gin.Context) {
	if !s.mmsAvailable(c) {
		return
	}
	list := s.D.MMS.MMSModems(c.Request.Context())
	c.JSON(http.StatusOK, app.Page[app.MMSModem]{Items: list, Total: len(list), Limit: len(list)})
}

// APIMMSPresets serves GET /api/v1/mms/presets.
func (s *API) APIMMSPresets(c *gin.Context) {
	if !s.mmsAvailable(c) {
		return
	}
	list := s.D.MMS.MMSPresets()
	c.JSON(http.StatusOK, app.Page[app.MMSPreset]{Items: list, Total: len(list), Limit: len(list)})
}

// mmsFile reads the multipart form's "file" (at most app.MaxMMSUpload)
// and its text fields.
func mmsFile(c *gin.Context) (name string, data []byte, ok bool) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxMMSUpload+1<<20)
	fh, err := c.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			app.APIError(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the upload is larger than %d MB", app.MaxMMSUpload>>20), "file")
			return "", nil, false
		}
		app.APIError(c, http.StatusBadRequest, "invalid", `send the file as multipart/form-data field "file"`, "file")
		return "", nil, false
	}
	if fh.Size > app.MaxMMSUpload {
		app.APIError(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the file is larger than %d MB", app.MaxMMSUpload>>20), "file")
		return "", nil, false
	}
	f, err := fh.Open()
	if err != nil {
		app.APIError(c, http.StatusBadRequest, "invalid", "unreadable file: "+err.Error(), "file")
		return "", nil, false
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, app.MaxMMSUpload+1))
	if err != nil {
		app.APIError(c, http.StatusBadRequest, "invalid", "unreadable file: "+err.Error(), "file")
		return "", nil, false
	}
	return fh.Filename, data, true
}

// mmsError answers an error of the MMS service.
func mmsError(c *gin.Context, err error) {
	var fe *app.MMSFitError
	switch {
	case errors.As(err, &fe):
		body := app.APIErrorBody("mms_"+fe.Code, fe.Msg, "file")
		e := body["error"].(gin.H)
		e["content_type"], e["size_kb"], e["limit_kb"] = fe.ContentType, fe.SizeKB, fe.LimitKB
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, body)
	case errors.Is(err, app.ErrUnknownModem):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "modem")
	case errors.Is(err, app.ErrNoMMSModem), errors.Is(err, app.ErrMMSNotConfigured):
		app.APIError(c, http.StatusConflict, "mms_unavailable", err.Error(), "modem")
	case errors.Is(err, app.ErrMMSRejected):
		app.APIError(c, http.StatusBadGateway, "mms_rejected", err.Error(), "")
	default:
		app.APIError(c, http.StatusBadGateway, "mms_failed", err.Error(), "")
	}
}

// APIMMSFit serves POST /api/v1/mms/fit: multipart "file" and "modem" (or
// "limit_kb"); answers what fitting did, sending nothing.
func (s *API) APIMMSFit(c *gin.Context) {
	if !s.mmsAvailable(c) {
		return
	}
	name, data, ok := mmsFile(c)
	if !ok {
		return
	}
	limit := 0
	if v := strings.TrimSpace(c.PostForm("limit_kb")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 30 || n > 5120 {
			app.APIError(c, http.StatusBadRequest, "invalid", "limit_kb must be 30..5120", "limit_kb")
			return
		}
		limit = n
	}
	fit, err := s.D.MMS.FitMMS(c.Request.Context(), strings.TrimSpace(c.PostForm("modem")), limit, name, data)
	if err != nil {
		mmsError(c, err)
		return
	}
	c.JSON(http.StatusOK, fit)
}

// APIMMSSend serves POST /api/v1/mms/messages: multipart "to", "file",
// optional "text", "subject", "modem".
func (s *API) APIMMSSend(c *gin.Context) {
	if !s.mmsAvailable(c) {
		return
	}
	name, data, ok := mmsFile(c)
	if !ok {
		return
	}
	to := strings.TrimSpace(c.PostForm("to"))
	if !validMSISDN(to) {
		app.APIError(c, http.StatusBadRequest, "invalid", "to must be a phone number in international format, e.g. +491701234567", "to")
		return
	}
	text, subject := c.PostForm("text"), strings.TrimSpace(c.PostForm("subject"))
	if len(text) > 5000 || len(subject) > 80 {
		app.APIError(c, http.StatusBadRequest, "invalid", "text is limited to 5000 and subject to 80 characters", "text")
		return
	}
	out, err := s.D.MMS.SendMMS(c.Request.Context(), app.MMSRequest{Modem: strings.TrimSpace(c.PostForm("modem")), To: to,
		Subject: subject, Text: text, FileName: name, Data: data})
	if err != nil {
		mmsError(c, err)
		return
	}
	s.Audit(c, "mms.send", fmt.Sprintf("%s via %s (%s, %d bytes)", to, out.Modem, out.Fit.Name, out.Fit.Size))
	c.JSON(http.StatusCreated, out)
}

// validMSISDN: "+" and 7 to 15 digits (E.164).
func validMSISDN(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
