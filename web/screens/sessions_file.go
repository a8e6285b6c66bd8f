package screens

import (
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/web/app"

	chat "github.com/pbxgate/pbxgate/gateway/session"
)

// The session reply's file (docs/mms.md): on an SMS session whose channel
// has an MMS-capable SIM the reply form offers "attach file" (a multipart
// form; it works without JavaScript). The file is fitted to the limit of
// the SIM the reply leaves through and sent as MMS; the chat log shows the
// file and what fitting did. A file that cannot be fitted is refused at
// the field with the reason, and nothing is sent.

// fileOffer fills d's file fields for an open SMS session.
func (s *Screens) fileOffer(c *gin.Context, v *app.View, d *sessionDetailData) {
	if d.fileErr != nil {
		d.FileErr = v.Reason(message.ReasonOf(d.fileErr), d.fileErr.Error())
		v.Errors["file"] = d.FileErr
	}
	mr, ok := s.D.Sessions.(app.MediaReplier)
	if !ok || d.S.Kind != message.SMS || d.S.State != chat.Open {
		return
	}
	offer, err := mr.MediaOffer(c.Request.Context(), d.S.ID)
	if err != nil {
		if !errors.Is(err, chat.ErrNotFound) {
			d.FileWhy = v.Reason(message.ReasonOf(err), err.Error())
		}
		return
	}
	d.File, d.FileLimitKB, d.FileSIM = true, offer.Limit/1024, offer.SIM
}

// replyWithFile sends the reply form's text with its file, if one was
// chosen; false: no file (the caller sends the text alone).
func (s *Screens) replyWithFile(c *gin.Context, id, by, text string) bool {
	fh, err := c.FormFile("file")
	if err != nil || fh.Size == 0 {
		return false
	}
	again := func(code int, flash string, ferr error) {
		s.sessionDetail(c, code, sessionDetailData{Draft: text, Posted: true, fileErr: ferr}, flash)
	}
	mr, ok := s.D.Sessions.(app.MediaReplier)
	if !ok {
		again(http.StatusUnprocessableEntity, "", errors.New(s.Cat.T(s.Lang(c), "mmsreply.err.unavailable")))
		return true
	}
	if len([]rune(text)) > app.MaxReplyLen {
		again(http.StatusUnprocessableEntity, "sessions.err.reply_length", nil)
		return true
	}
	f, err := fh.Open()
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(f, app.MaxReplyFile+1))
		f.Close()
	}
	switch {
	case app.BodyTooLarge(c, err):
		return true
	case err != nil:
		again(http.StatusUnprocessableEntity, "", errors.New(s.Cat.T(s.Lang(c), "mmsreply.err.read")))
		return true
	case len(data) > app.MaxReplyFile:
		again(http.StatusUnprocessableEntity, "", errors.New(s.Cat.T(s.Lang(c), "mmsreply.err.upload_size", app.MaxReplyFile>>20)))
		return true
	}
	att, err := mr.ReplyWithFile(c.Request.Context(), id, by, text, fh.Filename, data)
	switch {
	case errors.Is(err, chat.ErrMediaRefused):
		// Nothing was stored or sent: the text stays in the box, the
		// reason at the file field.
		again(http.StatusUnprocessableEntity, "", err)
		return true
	case errors.Is(err, chat.ErrNotFound):
		s.Flash(c, "sessions.err.closed")
	case err != nil:
		// Stored, but the channel refused it: the chat log shows the
		// entry as failed with the channel's reason.
		s.Log.Warn("portal reply with file not sent", "id", id, "err", err)
		s.Flash(c, "sessions.err.reply_failed")
	default:
		s.Log.Info("session reply with file", "id", id, "user", by, "type", att.ContentType, "bytes", att.Size,
			"scaled", att.Scaled, "sim", att.SIM)
		s.Flash(c, "mmsreply.sent")
	}
	c.Redirect(http.StatusSeeOther, "/sessions/"+url.PathEscape(id)+"#chat-log")
	return true
}
