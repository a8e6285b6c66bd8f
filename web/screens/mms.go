package screens

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// The MMS page (/mms): each modem's MMS capability and settings, the
// carrier presets, and a form to send one MMS with a picture or file,
// which is fitted to the SIM's carrier limit first (docs/mms.md).

type mmsPage struct {
	Modems  []app.MMSModem
	Capable []app.MMSModem
	Presets []app.MMSPreset
	Sent    *app.MMSOutcome
}

func (s *Screens) mmsData(c *gin.Context) *mmsPage {
	d := &mmsPage{Modems: s.D.MMS.MMSModems(c.Request.Context()), Presets: s.D.MMS.MMSPresets()}
	for _, m := range d.Modems {
		if m.Send && m.Configured {
			d.Capable = append(d.Capable, m)
		}
	}
	return d
}

// MMSPage shows the MMS page.
func (s *Screens) MMSPage(c *gin.Context) {
	if s.D.MMS == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	s.Render(c, http.StatusOK, "mms_send", s.NewView(c, "modems", "mms.title", s.mmsData(c)))
}

// MMSSend sends one MMS from the form.
func (s *Screens) MMSSend(c *gin.Context) {
	if s.D.MMS == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	d := s.mmsData(c)
	v := s.NewView(c, "modems", "mms.title", d)
	req := app.MMSRequest{Modem: strings.TrimSpace(c.PostForm("modem")), To: strings.TrimSpace(c.PostForm("to")),
		Subject: strings.TrimSpace(c.PostForm("subject")), Text: c.PostForm("text")}
	v.Form["modem"], v.Form["to"], v.Form["subject"], v.Form["text"] = req.Modem, req.To, req.Subject, req.Text
	fail := func(code int, field, msg string) {
		v.Errors[field] = msg
		s.Render(c, code, "mms_send", v)
	}
	if !validNumber(req.To) {
		fail(http.StatusUnprocessableEntity, "to", v.T("mms.err.to"))
		return
	}
	if len(req.Subject) > 80 || len(req.Text) > 5000 {
		fail(http.StatusUnprocessableEntity, "text", v.T("mms.err.length"))
		return
	}
	fh, err := c.FormFile("file")
	if err != nil {
		fail(http.StatusUnprocessableEntity, "file", v.T("mms.err.file"))
		return
	}
	if fh.Size > app.MaxMMSUpload {
		fail(http.StatusRequestEntityTooLarge, "file", v.T("mms.err.upload_size", app.MaxMMSUpload>>20))
		return
	}
	f, err := fh.Open()
	if err == nil {
		req.Data, err = io.ReadAll(io.LimitReader(f, app.MaxMMSUpload+1))
		f.Close()
	}
	if err != nil {
		fail(http.StatusUnprocessableEntity, "file", v.T("mms.err.file"))
		return
	}
	req.FileName = fh.Filename
	out, err := s.D.MMS.SendMMS(c.Request.Context(), req)
	var fe *app.MMSFitError
	switch {
	case errors.As(err, &fe):
		fail(http.StatusUnprocessableEntity, "file", v.T("mms.fit."+fe.Code, fe.ContentType, fe.SizeKB, fe.LimitKB))
		return
	case errors.Is(err, app.ErrUnknownModem), errors.Is(err, app.ErrNoMMSModem):
		fail(http.StatusUnprocessableEntity, "modem", v.T("mms.err.no_modem"))
		return
	case errors.Is(err, app.ErrMMSNotConfigured):
		fail(http.StatusConflict, "modem", v.T("mms.err.not_configured", req.Modem))
		return
	case err != nil:
		s.Log.Warn("MMS send", "modem", req.Modem, "err", err)
		fail(http.StatusBadGateway, "form", v.T("mms.err.failed", err.Error()))
		return
	}
	s.Audit(c, "mms.send", fmt.Sprintf("%s via %s (%s, %d bytes)", req.To, out.Modem, out.Fit.Name, out.Fit.Size))
	d.Sent = &out
	v.Form["text"], v.Form["subject"] = "", ""
	s.Render(c, http.StatusOK, "mms_send", v)
}

func validNumber(s string) bool {
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
